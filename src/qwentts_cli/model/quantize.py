"""Int8 weights for the talker and code-predictor linears (opt-in: `--quantize int8`).

Per frame the talker reads its 0.43 G parameters once and the code predictor its 0.08 G
parameters 15 times: generation is a stream of weights through the CPU, so one byte per
weight instead of four is the speed-up. The codec, embeddings and norms stay as they are.

Weights are quantized symmetrically per output row (scale = max |w| / 127). Two kernels:

- `int8` (default): fbgemm's dynamic-quantized linear (`quantized::linear_dynamic`), which
  also quantizes each activation row to 8 bits on the fly and multiplies in int8 with VNNI.
  Measured on the 2-core Xeon of docs/benchmark.md: 21-26 GB/s of weights, about the DRAM bandwidth.
- `int8-weight`: weight-only (`aten::_weight_int8pack_mm`), activations stay in bfloat16;
  less drift, but the kernel is compute-bound here (~13 GB/s).

Both change the numbers (see docs/benchmark.md for the measured drift); float32 stays the
default and the exact path.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

MODES = ("int8", "int8-weight")


def quantize_rows(weight: Tensor) -> tuple[Tensor, Tensor]:
    """(N, K) float -> int8 (N, K) and float32 scales (N,), symmetric per row."""
    w = weight.float()
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    q = torch.round(w / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return q, scale


class DynamicInt8Linear(nn.Module):
    """y = x W^T (+ b) with W int8 per row and x quantized per call (fbgemm, VNNI)."""

    @classmethod
    def supports(cls, linear: nn.Linear) -> bool:
        return True

    def __init__(self, linear: nn.Linear):
        super().__init__()
        q, scale = quantize_rows(linear.weight.detach())
        zero = torch.zeros(q.shape[0], dtype=torch.int64)
        qweight = torch._make_per_channel_quantized_tensor(q, scale.double(), zero, 0)
        bias = None if linear.bias is None else linear.bias.detach().float()
        self.packed = torch.ops.quantized.linear_prepack(qweight, bias)
        self.out_features = q.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        # reduce_range=False: with VNNI the int8 x int8 products accumulate in int32, no saturation.
        return torch.ops.quantized.linear_dynamic(x.float(), self.packed, False).to(dtype)


class WeightOnlyInt8Linear(nn.Module):
    """y = x W^T (+ b) with W int8 per row, x in bfloat16 (aten::_weight_int8pack_mm)."""

    # The CPU kernel reads past the end of rows whose length is not a multiple of 16 (seen as
    # segfaults at K = 24 and 40, the fixture's code predictor); such linears stay float.
    K_MULTIPLE = 16

    @classmethod
    def supports(cls, linear: nn.Linear) -> bool:
        return linear.in_features % cls.K_MULTIPLE == 0

    def __init__(self, linear: nn.Linear):
        super().__init__()
        q, scale = quantize_rows(linear.weight.detach())
        self.register_buffer("weight_int8", q)
        self.register_buffer("scale", scale.to(torch.bfloat16))
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().float(), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        flat = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)  # the kernel wants bf16 activations
        y = torch._weight_int8pack_mm(flat, self.weight_int8, self.scale).to(dtype)
        if self.bias is not None:
            y = y + self.bias.to(dtype)
        return y.view(*x.shape[:-1], -1)


def _kernel(mode: str) -> type[DynamicInt8Linear] | type[WeightOnlyInt8Linear]:
    if mode not in MODES:
        raise ValueError(f"unknown quantization {mode!r}; use one of: {', '.join(MODES)}")
    return DynamicInt8Linear if mode == "int8" else WeightOnlyInt8Linear


def quantized_linears(talker: nn.Module, mode: str) -> list[str]:
    """Qualified names of the linears `quantize_talker(talker, mode)` replaces.

    Every linear the per-frame loop reads that the kernel supports; the text projection runs
    once per sentence over the prompt and stays as it is.
    """
    kernel = _kernel(mode)
    return [
        name for name, sub in talker.named_modules()
        if type(sub) is nn.Linear and not name.startswith("text_projection") and kernel.supports(sub)
    ]


def quantize_talker(talker: nn.Module, mode: str) -> None:
    """Replace the talker's and code predictor's linears with int8 ones, in place."""
    kernel = _kernel(mode)
    # One linear at a time, so that each float matrix is freed as soon as its int8 form replaces
    # it. (Packing in two threads was 1.5x faster but kept every float matrix alive until the
    # end and left the thread's malloc arena holding ~0.5 GB: peak RSS 2.3 -> 2.9 GB.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notices; the ops themselves stay
        for name in quantized_linears(talker, mode):
            parent_name, _, attr = name.rpartition(".")
            parent = talker.get_submodule(parent_name) if parent_name else talker
            setattr(parent, attr, kernel(getattr(parent, attr)))
