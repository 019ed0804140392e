"""Weights reordered once into oneDNN's blocked layout (CPU): bfloat16 talker linears, float32 codec layers.

`F.linear` on bfloat16 CPU tensors runs oneDNN's matmul, which reorders the plain (N, K)
weight into its blocked layout on every call. A frame of the 0.6B model makes ~430 linear
calls, and at one or a few rows the reorder costs about as much as the product: a
3072 x 1024 linear takes 290 us plain and 175-195 us prepacked at M = 1 to 8 (docs/benchmark.md).
`PackedLinear` reorders the weight at load, as the inductor's CPU backend does
(`mkldnn::_reorder_linear_weight`), and calls the same matmul on it (`mkldnn::_linear_pointwise`).

The products are the same kernels' at a few rows, but oneDNN may block the reduction
differently from the plain path at other sizes (a 50-row prefill rounds differently here), so
for the talker this is a bfloat16-only speed path and never used for float32, whose codes must
be the official ones bit for bit.

The codec (model/codec) uses the same packing in float32 (load/pack.py, `pack_codec`). Its float32
`F.linear` and `matmul` are MKL's, which on the AMD EPYC (Zen 4) of docs/benchmark.md stream
weights at ~10 GB/s at one row and 2-6 GB/s at a few rows, where oneDNN's packed matmul reaches
21-28 GB/s; its large convolution (1024 -> 1536 channels, k = 7) reorders 44 MB of weight at every
call, which at a streamed chunk's few frames costs more than the convolution. The codec's reference
is a tolerance (the official waveform within 1e-4), not bits, and packed results are within float32
rounding of the plain ones (tests/unit/test_packed.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# The op's `scalars` argument is a `Scalar?[]`, a type a TorchScript annotation in Python cannot
# spell (`number`); a function compiled from source can, and scripted code calls it like any other
# (model/scripted.py).
_SOURCE = """
def packed_linear(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    scalars = torch.jit.annotate(List[Optional[number]], [])
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", scalars, "")
"""
packed_linear = torch.jit.CompilationUnit(_SOURCE).packed_linear


def available() -> bool:
    """Whether this torch and CPU can run bfloat16 through oneDNN (AVX-512 BF16 or AMX; else the plain path)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def float32_available() -> bool:
    """Whether this torch can run float32 through oneDNN's packed kernels (any x86-64 or Arm CPU build with oneDNN)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise"))
    except (AttributeError, RuntimeError):
        return False


class PackedLinear(nn.Module):
    """y = x W^T (+ b) in bfloat16 or float32, W held in oneDNN's blocked layout (an opaque mkldnn tensor)."""

    def __init__(self, linear: nn.Linear, rows: int = 1):
        """`rows`: the rows per call the layout is chosen for (1: the frame loop's one-row steps);
        other sizes run on it too."""
        super().__init__()
        weight = linear.weight.detach()
        if weight.dtype not in (torch.bfloat16, torch.float32) or weight.device.type != "cpu":
            raise ValueError("PackedLinear is for bfloat16 or float32 weights on the CPU")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight", torch.ops.mkldnn._reorder_linear_weight(weight, rows), persistent=False)
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().to(weight.dtype), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return packed_linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class PackedMatrix(nn.Module):
    """y = x @ M for a plain (K, N) matrix M, held transposed in oneDNN's layout: a bias-free packed linear.

    The codec's transposed convolutions are such a product (model/codec/layers.py), with M the
    (C_in, C_out * kernel) view of their weight. Keeps `out_channels` and `bias` of the
    convolution it replaces; the layer adds the bias itself, after its overlap-add.
    """

    def __init__(self, conv: nn.ConvTranspose1d, rows: int):
        super().__init__()
        c_in = conv.in_channels
        matrix = conv.weight.detach().reshape(c_in, -1)  # (C_in, C_out * kernel)
        self.in_channels, self.out_channels = c_in, conv.out_channels
        # (The reorder reads the transposed view as it is: no plain copy of the matrix is made.)
        self.register_buffer("weight", torch.ops.mkldnn._reorder_linear_weight(matrix.t(), rows), persistent=False)
        self.register_buffer("bias", conv.bias.detach(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return packed_linear(x.contiguous(), self.weight, None)


class PackedConv1d(nn.Module):
    """nn.Conv1d (stride 1, no padding, one group) with its weight in oneDNN's layout, run as a 1 x k 2-D convolution.

    `length`: the input length the layout is chosen for; other lengths run on it too.
    """

    def __init__(self, conv: nn.Conv1d, length: int):
        super().__init__()
        if conv.groups != 1 or conv.stride != (1,) or conv.padding != (0,) or conv.weight.dtype != torch.float32:
            raise ValueError("PackedConv1d packs float32 convolutions of one group, stride 1 and no padding")
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.dilation = [1, conv.dilation[0]]
        weight = conv.weight.detach().unsqueeze(2).to_mkldnn()  # (C_out, C_in, 1, k)
        self.register_buffer("weight", torch._C._nn.mkldnn_reorder_conv2d_weight(
            weight, [0, 0], [1, 1], self.dilation, 1, [1, conv.in_channels, 1, length]), persistent=False)
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        # x (B, C_in, T) -> (B, C_out, T - (k - 1) * dilation)
        y = torch.ops.mkldnn._convolution_pointwise(x.unsqueeze(2), self.weight, self.bias, [0, 0], [1, 1],
                                                    self.dilation, 1, "none", [], "")
        return y.squeeze(2)
