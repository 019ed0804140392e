"""The bfloat16 packing policy: which talker linears get their weights in oneDNN's layout, and when.

The kernel is model/packed.py. Packing applies to a bfloat16 talker on the CPU where oneDNN
runs bfloat16 (AVX-512 BF16 or AMX), without quantization (the int8 linears are fbgemm's).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from qwentts_cli.model import packed


def packs(dtype: torch.dtype, device: torch.device | str, quantize: str | None) -> bool:
    """Whether a talker loaded this way gets packed linears (`pack=None` in the loaders)."""
    return dtype is torch.bfloat16 and torch.device(device).type == "cpu" and not quantize and packed.available()


def pack_talker(talker: nn.Module, copied: Callable[[Tensor], None] | None = None) -> int:
    """Replace the talker's and code predictor's bfloat16 linears with PackedLinear; returns how many.

    The linears of the frame loop: the text projection runs once per sentence over the whole
    prompt, where packing gains nothing, and stays as it is. One linear at a time, so that a
    fused matrix is freed as soon as its packed form replaces it; `copied(weight)` is told of
    each plain weight packed, so that a loader can release its pages of the file then, not at the end.
    """
    names = [name for name, sub in talker.named_modules()
             if type(sub) is nn.Linear and not name.startswith("text_projection")
             and sub.weight.dtype is torch.bfloat16 and sub.weight.device.type == "cpu"]
    for name in names:
        parent_name, _, attr = name.rpartition(".")
        parent = talker.get_submodule(parent_name) if parent_name else talker
        linear = getattr(parent, attr)
        setattr(parent, attr, packed.PackedLinear(linear))
        if copied is not None:
            copied(linear.weight)
    return len(names)
