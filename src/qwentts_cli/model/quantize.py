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
default and the exact path. A checkpoint's int8 rows are kept on disk after its first
quantized load (model/quant_cache.py); later loads build the int8 linears from them.
"""

from __future__ import annotations

import ctypes
import warnings
from concurrent.futures import ThreadPoolExecutor

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

    def __init__(self, q: Tensor, scale: Tensor, bias: Tensor | None = None):
        super().__init__()
        zero = torch.zeros(q.shape[0], dtype=torch.int64)
        qweight = torch._make_per_channel_quantized_tensor(q, scale.double(), zero, 0)
        self.packed = torch.ops.quantized.linear_prepack(qweight, None if bias is None else bias.detach().float())
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


def quantize_talker(talker: nn.Module, mode: str, cache: str | None = None) -> None:
    """Replace the talker's and code predictor's linears with int8 ones, quantizing their weights.

    `cache`: a file (model/quant_cache.py) to write the int8 rows to, for the next load.
    """
    from qwentts_cli.model.quant_cache import RowsWriter

    kernel = _kernel(mode)
    names = quantized_linears(talker, mode)
    writer = RowsWriter(cache, {name: tuple(talker.get_submodule(name).weight.shape) for name in names}) if cache else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's deprecation notices; the ops themselves stay
            # One linear at a time, so that each float matrix is freed as soon as its int8 form
            # replaces it. (Packing in two threads was 1.5x faster but kept every float matrix alive
            # until the end and left the thread's malloc arena holding ~0.5 GB: peak RSS 2.3 -> 2.9 GB.)
            for name in names:
                linear = talker.get_submodule(name)
                q, scale = quantize_rows(linear.weight.detach())
                if writer:
                    writer.add(name, q, scale)
                _replace(talker, name, kernel(q, scale, linear.bias))
        if writer:
            writer.finish()
    finally:
        if writer:
            writer.abandon()  # no-op once finished


def swap_in_cached(talker: nn.Module, mode: str, names: list[str], cached, biases: dict[str, Tensor | None]) -> None:
    """Replace the linears `names` with int8 ones built from cached rows (quant_cache.read_rows).

    The linears may still be on the meta device: their float weights are never read. Packing
    runs on as many threads as torch computes with: fbgemm's prepack is a single-threaded
    scalar loop (~2.7 s for the 0.6B talker here), and with rows from the cache there are no
    float matrices to keep alive meanwhile.
    """
    kernel = _kernel(mode)

    def build(name: str) -> nn.Module:
        q, scale = cached[f"{name}.q"], cached[f"{name}.scale"]
        if kernel is WeightOnlyInt8Linear:
            q = q.clone()  # its own aligned copy: the int8pack kernel segfaulted on a view of the map
        module = kernel(q, scale, biases.get(name))
        cached.release(f"{name}.q")  # copied (packed or cloned): drop the file's pages now, not at the end
        return module

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ThreadPoolExecutor(max_workers=max(1, torch.get_num_threads())) as pool:
            for name, module in zip(names, pool.map(build, names)):
                _replace(talker, name, module)
    cached.release_unused(talker)  # the scales: no page of the file is needed any more
    _return_freed_memory()


def _return_freed_memory() -> None:
    """Hand the worker threads' freed scratch memory back to the system: glibc keeps it in
    per-thread arenas, where the rest of loading cannot reuse it (0.13 GB of the 0.6B's peak RSS)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to do


def _replace(talker: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    setattr(talker.get_submodule(parent_name) if parent_name else talker, attr, module)
