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
    return _swap(talker, [(name, packed.PackedLinear) for name in names], copied)


def _swap(root: nn.Module, swaps: list[tuple[str, Callable[[nn.Module], nn.Module]]],
          copied: Callable[[Tensor], None] | None) -> int:
    """Replace each submodule `name` of `root` with `make(it)`, one at a time, telling `copied` of
    each plain weight replaced; returns how many."""
    for name, make in swaps:
        parent_name, _, attr = name.rpartition(".")
        parent = root.get_submodule(parent_name) if parent_name else root
        plain = getattr(parent, attr)
        setattr(parent, attr, make(plain))
        if copied is not None:
            copied(plain.weight)
    return len(swaps)


# Codec convolutions packed from this many weight bytes: measured on the AMD EPYC of
# docs/benchmark.md, the 1024 -> 1536 channel convolution (44 MB) runs 2-4x faster packed and the
# 768-channel ones (16.5 MB) up to 1.7x at a streamed chunk's length, while packing the smaller
# ones (384 channels and down, long inputs) made them slower.
CODEC_CONV_MIN_BYTES = 8 << 20
# The rows per call (frames x upsampling) and input length the packed layouts are chosen for:
# a streamed chunk's, where the plain kernels lose the most.
CODEC_ROWS, CODEC_LENGTH = 16, 64


def packs_codec(device: torch.device | str, pack: bool | None = None) -> bool:
    """Whether a float32 codec loaded on `device` gets packed layers: `pack` where a caller says
    (the codec loaders' `pack`), else on a CPU whose torch runs float32 through oneDNN."""
    if pack is not None:
        return pack
    return torch.device(device).type == "cpu" and packed.float32_available()


def pack_codec(codec: nn.Module, conv_min_bytes: int = CODEC_CONV_MIN_BYTES,
               copied: Callable[[Tensor], None] | None = None) -> int:
    """Replace the float32 codec's linears, transposed convolutions (their one matmul) and large
    convolutions with packed ones (model/packed.py); returns how many. `conv_min_bytes=0` packs
    every convolution of one group (tests). `copied(weight)` is told of each plain weight packed,
    as in pack_talker: a loader releases its pages then, so that the plain and packed forms of
    the whole codec (0.46 GB each at the real size) are never resident together."""
    from qwentts_cli.model.codec.layers import CausalConv1d, CausalConvTranspose1d

    swaps = []
    for name, sub in codec.named_modules():
        if type(sub) is nn.Linear and sub.weight.dtype is torch.float32:
            swaps.append((name, lambda m: packed.PackedLinear(m, CODEC_ROWS)))
        elif isinstance(sub, CausalConvTranspose1d) and isinstance(sub.conv, nn.ConvTranspose1d):
            swaps.append((name + ".conv", lambda m: packed.PackedMatrix(m, CODEC_ROWS)))
        elif (isinstance(sub, CausalConv1d) and type(sub.conv) is nn.Conv1d and sub.conv.groups == 1
              and sub.conv.weight.numel() * sub.conv.weight.element_size() >= conv_min_bytes):
            swaps.append((name + ".conv", lambda m: packed.PackedConv1d(m, CODEC_LENGTH)))
    return _swap(codec, swaps, copied)
