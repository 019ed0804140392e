"""The codec decoder's streaming state: what each stateful layer carries from one frame to the next.

Every tensor is allocated once per stream and updated in place (moshi's habit), so decoding
in pieces gives the one-shot result. `CodecDecoder.new_state` builds one; `reset` starts a new
utterance on the same buffers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

# A slot position no query can see (queries are at positions >= 0).
EMPTY_SLOT = torch.iinfo(torch.int64).min


@dataclass
class ConvTail:
    """A causal convolution's last `(kernel - 1) * dilation` inputs: its left padding for the next call."""

    buf: Tensor  # (B, C_in, pad); zeros at the start, as the official left zero-padding

    def reset(self) -> None:
        self.buf.zero_()


@dataclass
class Overlap:
    """The tail of a transposed convolution's last output frame that overlaps the next one (bias excluded)."""

    buf: Tensor  # (B, C_out, stride): kernel = 2 * stride, so each input frame spills one stride forward

    def reset(self) -> None:
        self.buf.zero_()


@dataclass
class KVWindow:
    """The transformer's rotated keys and values for the last `window - 1` positions, in a ring of slots."""

    keys: Tensor  # (L, B, H_kv, S, hd) with S = window - 1 + max frames per step
    values: Tensor  # (L, B, H_kv, S, hd)
    slot_pos: Tensor  # (S,) int64: the position held by each slot; EMPTY_SLOT when none
    next_pos: int = 0  # position of the next frame (restarts at 0 with every segment, as in the official code)

    def reset(self) -> None:
        # Keys and values stay as they are: empty slots are masked out. (They start as zeros, not
        # torch.empty, because a masked slot's value is still multiplied by its zero weight.)
        self.slot_pos.fill_(EMPTY_SLOT)
        self.next_pos = 0


@dataclass
class BlockState:
    """A DecoderBlock: its upsampling transposed conv and its three residual units' dilated convs."""

    upsample: Overlap
    units: list[ConvTail]

    def reset(self) -> None:
        self.upsample.reset()
        for unit in self.units:
            unit.reset()


@dataclass
class DecoderState:
    """Everything one causal pass carries from one frame to the next."""

    pre_conv: ConvTail
    kv: KVWindow
    upsample: list[ConvTail]  # ConvNeXt depthwise convs; the kernel == stride transposed convs carry nothing
    first_conv: ConvTail
    blocks: list[BlockState]
    last_conv: ConvTail

    def reset(self) -> None:
        for part in (self.pre_conv, self.kv, *self.upsample, self.first_conv, *self.blocks, self.last_conv):
            part.reset()
