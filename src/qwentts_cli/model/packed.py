"""bfloat16 linears with their weights reordered once into oneDNN's blocked layout (CPU).

`F.linear` on bfloat16 CPU tensors runs oneDNN's matmul, which reorders the plain (N, K)
weight into its blocked layout on every call. A frame of the 0.6B model makes ~430 linear
calls, and at one or a few rows the reorder costs about as much as the product: a
3072 x 1024 linear takes 290 us plain and 175-195 us prepacked at M = 1 to 8 (docs/benchmark.md).
`PackedLinear` reorders the weight at load, as the inductor's CPU backend does
(`mkldnn::_reorder_linear_weight`), and calls the same matmul on it (`mkldnn::_linear_pointwise`).

The products are the same kernels' at a few rows, but oneDNN may block the reduction
differently from the plain path at other sizes (a 50-row prefill rounds differently here), so
this is a bfloat16-only speed path and never used for float32, whose results are the exact ones.
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


class PackedLinear(nn.Module):
    """y = x W^T (+ b) in bfloat16, W held in oneDNN's blocked layout (an opaque mkldnn tensor)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach()
        if weight.dtype != torch.bfloat16 or weight.device.type != "cpu":
            raise ValueError("PackedLinear is for bfloat16 weights on the CPU")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        # batch_size 1: the layout for the frame loop's one-row steps; other sizes run on it too.
        self.register_buffer("weight", torch.ops.mkldnn._reorder_linear_weight(weight, 1), persistent=False)
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.bfloat16), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return packed_linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
