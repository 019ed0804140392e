"""Int8 linears for the talker and code predictor (opt-in quantization), and the row quantizer.

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
default and the exact path. Which linears are replaced, and the int8 rows kept on disk after
a checkpoint's first quantized load, are the loader's business (load/quantize.py,
load/quant_cache.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from qwentts_cli.native import int8_pack

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

    def __init__(self, q: Tensor, scale: Tensor, bias: Tensor | None = None):
        super().__init__()
        bias = None if bias is None else bias.detach().float()
        # The same packed weight either way; the native packer is faster where the loader made it
        # available (native/int8_pack.py).
        pack = int8_pack.loaded() or int8_pack.torch_pack
        self.packed = pack(q, scale.float(), bias)

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

    def __init__(self, q: Tensor, scale: Tensor, bias: Tensor | None = None):
        super().__init__()
        # Buffers, not checkpoint tensors: made from the checkpoint's weight (or the row cache).
        self.register_buffer("weight_int8", q, persistent=False)
        self.register_buffer("scale", scale.to(torch.bfloat16), persistent=False)
        self.register_buffer("bias", None if bias is None else bias.detach().float(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        flat = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)  # the kernel wants bf16 activations
        y = torch._weight_int8pack_mm(flat, self.weight_int8, self.scale).to(dtype)
        if self.bias is not None:
            y = y + self.bias.to(dtype)
        return y.view(list(x.shape[:-1]) + [-1])  # (a list: TorchScript scripts this too, model/scripted.py)


def kernel_for(mode: str) -> type[DynamicInt8Linear] | type[WeightOnlyInt8Linear]:
    if mode not in MODES:
        raise ValueError(f"unknown quantization {mode!r}; use one of: {', '.join(MODES)}")
    return DynamicInt8Linear if mode == "int8" else WeightOnlyInt8Linear
