"""The int8 policy: which talker linears become int8, quantizing them, or building them from cached rows.

The kernels themselves are modules (model/quantize.py); this module decides where they go
and where their rows come from (a fresh quantization, written to the row cache as it goes,
or the rows a previous load left there).
"""

from __future__ import annotations

import ctypes
import warnings
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor, nn

from qwentts_cli.load.quant_cache import RowsWriter
from qwentts_cli.model.quantize import DynamicInt8Linear, WeightOnlyInt8Linear, kernel_for, quantize_rows
from qwentts_cli.native import int8_pack


def quantized_linears(talker: nn.Module, mode: str) -> list[str]:
    """Qualified names of the linears `quantize_talker(talker, mode)` replaces.

    Every linear the per-frame loop reads that the kernel supports; the text projection runs
    once per sentence over the prompt and stays as it is.
    """
    kernel = kernel_for(mode)
    return [
        name for name, sub in talker.named_modules()
        if type(sub) is nn.Linear and not name.startswith("text_projection") and kernel.supports(sub)
    ]


def quantize_talker(talker: nn.Module, mode: str, cache: str | None = None) -> None:
    """Replace the talker's and code predictor's linears with int8 ones, quantizing their weights.

    `cache`: a file (quant_cache.py) to write the int8 rows to, for the next load.
    """
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
    scalar loop (~2.7 s for the 0.6B talker on the Xeon of docs/benchmark.md with torch's packer,
    ~1 s with ours: native/int8_pack.py), and with rows from the cache there are no float
    matrices to keep alive meanwhile.
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


def _kernel(mode: str) -> type[nn.Module]:
    """The int8 linear of `mode`; for fbgemm's, the faster packer made available first (built the
    first time: native/int8_pack.py), so that every linear built next packs with it."""
    kernel = kernel_for(mode)
    if kernel is DynamicInt8Linear:
        int8_pack.load()
    return kernel


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
