"""The 12Hz speech-tokenizer decoder ("codec"): 16 codebooks at 12.5 Hz -> 24 kHz audio, one-shot or streamed.

The network is the official `Qwen3TTSTokenizerV2Decoder` (qwen-tts,
core/tokenizer_12hz/modeling_qwen3_tts_tokenizer_v2.py), rewritten as streaming layers:

    codes (B, 16, T)
    -> split RVQ lookup: codebook 0 and the sum of codebooks 1..15, each projected -> (B, T, codebook_dim)
    -> causal conv k=3 -> (B, latent, T)
    -> transformer, sliding-window causal attention (window 72) -> (B, T, latent)
    -> 2 x [transposed conv x2, ConvNeXt block] (12.5 Hz -> 50 Hz)
    -> causal conv k=7 -> 4 x [SnakeBeta, transposed conv x8/x5/x4/x3, 3 dilated residual units]
    -> SnakeBeta, causal conv k=7 -> clamp(-1, 1) -> (B, T * 1920) samples at 24 kHz

Every layer is causal and none looks ahead, so frame t's 1920 samples are final as soon as
frame t's codes arrive. Each stateful layer carries what it needs from the past in a small
dataclass (a convolution keeps its last `(kernel - 1) * dilation` inputs, a transposed
convolution the part of its last output that overlaps the next frame, the transformer its keys
and values within the sliding window), so decoding in pieces gives the one-shot result.

The official `decode()` does not run the network over the whole code sequence: it calls
`chunked_decode(chunk_size=300, left_context_size=25)`, which decodes 300-frame segments,
each from a fresh network that first sees the previous 25 frames as context (whose audio is
dropped). From frame 300 on its waveform therefore differs from one causal pass, and that is
the output we match: `decode` and the streaming decoder both reproduce the segmentation
(`Segmentation`, `OFFICIAL_SEGMENTATION`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from qwentts_cli.config import CodecDecoderConfig
from qwentts_cli.model.codec.layers import (
    CausalConv1d,
    CausalConvTranspose1d,
    ConvNeXtBlock,
    DecoderBlock,
    Quantizer,
    SnakeBeta,
    Transformer,
)
from qwentts_cli.model.codec.state import DecoderState


@dataclass(frozen=True)
class Segmentation:
    """How a long code sequence is decoded: `frames` per segment, each by a fresh network that
    first sees the `context` frames before it (and drops their audio)."""

    frames: int
    context: int

    def __post_init__(self) -> None:
        assert self.frames > 0 and 0 <= self.context < self.frames

    @property
    def max_positions(self) -> int:
        """The most transformer positions one segment reaches."""
        return self.frames + self.context


# The official `chunked_decode` defaults, which its `decode()` always uses.
OFFICIAL_SEGMENTATION = Segmentation(frames=300, context=25)
# Frames of primed codes that go through the whole network (CodecStream.prime); 1.6 times the
# upsampling half's memory, measured (tests/unit/test_codec.py).
PRIME_TAIL_FRAMES = 16
# Rows x frames per pass of the upsampling half on the CPU. Its activations are 0.7 MB per row-frame
# in the last block (96 channels x 1920 samples, float32), so 16 row-frames keep a layer's input
# and output within a 32 MB L3; a one-shot pass over a 300-frame segment (220 MB per activation)
# streams every layer through DRAM instead. Measured on the AMD EPYC (Zen 5) of docs/benchmark.md:
# 51.6 -> 22.9 ms per frame for 300 frames, 52.2 -> 24.7 ms per row-frame for 8 rows x 25 frames,
# and no change at 16 row-frames or fewer. On a GPU the whole pass is one launch, as before.
WAVEFORM_ROW_FRAMES = 16


class CodecDecoder(nn.Module):
    """Codes (B, 16, T) at 12.5 Hz -> waveform (B, T * 1920) at 24 kHz, as the official 12Hz decoder."""

    def __init__(self, config: CodecDecoderConfig, segmentation: Segmentation = OFFICIAL_SEGMENTATION):
        super().__init__()
        c = self.config = config
        self.segmentation = segmentation
        self.quantizer = Quantizer(c)
        self.pre_conv = CausalConv1d(c.codebook_dim, c.latent_dim, 3)
        self.pre_transformer = Transformer(c, segmentation.max_positions)
        # upsample.i.0 is the transposed conv, upsample.i.1 the ConvNeXt block (checkpoint layout).
        self.upsample = nn.ModuleList(
            nn.ModuleList([CausalConvTranspose1d(c.latent_dim, c.latent_dim, r, r), ConvNeXtBlock(c.latent_dim)])
            for r in c.upsampling_ratios
        )
        dims = [c.decoder_dim // 2**i for i in range(len(c.upsample_rates) + 1)]
        # decoder.0 conv in, decoder.1-4 blocks, then SnakeBeta and conv out (checkpoint layout).
        self.decoder = nn.ModuleList(
            [CausalConv1d(c.latent_dim, c.decoder_dim, 7)]
            + [DecoderBlock(dims[i], dims[i + 1], r) for i, r in enumerate(c.upsample_rates)]
            + [SnakeBeta(dims[-1]), CausalConv1d(dims[-1], 1, 7)]
        )

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_samples(self) -> int:
        return self.config.frame_samples

    def new_state(self, batch: int = 1) -> DecoderState:
        """A fresh state: as if the stream began here, with zeros in every convolution's past."""
        return DecoderState(
            pre_conv=self.pre_conv.new_state(batch),
            kv=self.pre_transformer.new_state(batch),
            upsample=[convnext.dwconv.new_state(batch) for _, convnext in self.upsample],
            first_conv=self.decoder[0].new_state(batch),
            blocks=[block.new_state(batch) for block in self.decoder[1:-2]],
            last_conv=self.decoder[-1].new_state(batch),
        )

    def forward(self, codes: Tensor, state: DecoderState) -> Tensor:
        """One causal pass over `codes` (B, Q, T), continuing from `state` (updated): -> (B, T * 1920).

        On the CPU the upsampling half runs over at most WAVEFORM_ROW_FRAMES rows x frames at a
        time, carrying its state from piece to piece as streaming does (so the result is the
        one-pass result within float32 rounding, as for any chunking: tests/unit/test_codec.py).
        """
        h = self.to_latent(codes, state)
        B, T = h.shape[0], h.shape[-1]
        step = max(1, WAVEFORM_ROW_FRAMES // B)
        if T <= step or h.device.type != "cpu":
            return self.to_waveform(h, state)
        return torch.cat([self.to_waveform(h[..., i : i + step], state) for i in range(0, T, step)], dim=-1)

    def to_latent(self, codes: Tensor, state: DecoderState) -> Tensor:
        """The frame-rate half: codes (B, Q, T) -> the transformer's output (B, latent, T), updating
        its part of `state`. Cheap: a few ms per frame at the real size."""
        h = self.quantizer(codes).transpose(1, 2)  # (B, codebook_dim, T)
        h = self.pre_conv(h, state.pre_conv).transpose(1, 2)  # (B, T, latent)
        return self.pre_transformer(h, state.kv).transpose(1, 2)  # (B, latent, T)

    def to_waveform(self, h: Tensor, state: DecoderState) -> Tensor:
        """The upsampling half: latent (B, latent, T) -> waveform (B, T * 1920), updating its part of
        `state`. This is where the time goes (about 30 ms per frame at the real size, float32)."""
        for (upsample, convnext), tail in zip(self.upsample, state.upsample):
            h = convnext(upsample(h, None), tail)  # (B, latent, T * 2, then * 4)
        h = self.decoder[0](h, state.first_conv)  # (B, decoder_dim, 4T)
        for block, block_state in zip(self.decoder[1:-2], state.blocks):
            h = block(h, block_state)  # channels halve, length x rate
        wav = self.decoder[-1](self.decoder[-2](h), state.last_conv)  # (B, 1, T * 1920)
        return wav.squeeze(1).clamp(-1.0, 1.0)

    @torch.inference_mode()
    def decode(self, codes: Tensor) -> Tensor:
        """Codes (T, 16) -> waveform (T * 1920,), or (B, 16, T) -> (B, T * 1920); float32, as the official decode().

        Like the official `chunked_decode`, segments of `segmentation.frames` frames are decoded by a
        fresh network that first sees `segmentation.context` earlier frames, whose audio is dropped.
        Codes from outside (this is the public entry) are range-checked here, once.
        """
        codes, single = self._as_batch(codes)
        check_code_range(codes, self.config.codebook_size)
        B, _, T = codes.shape
        out = torch.empty(B, T * self.config.frame_samples, dtype=torch.float32, device=codes.device)
        position = 0
        for wav in self._segments(codes):
            out[:, position : position + wav.shape[-1]] = wav
            position += wav.shape[-1]
        return out[0] if single else out

    @torch.inference_mode()
    def segments(self, codes: Tensor) -> Iterator[Tensor]:
        """`decode`'s waveform of codes (T, 16), one segment (`segmentation.frames` frames) at a time:
        the same computations, so the pieces, concatenated, are `decode(codes)` bit for bit, while
        only one segment's audio exists at once (a book read into a file)."""
        Q = self.config.num_quantizers
        if codes.dim() != 2 or codes.shape[1] != Q or codes.dtype not in (torch.int16, torch.int32, torch.int64):
            raise ValueError(f"codes must be integers (frames, {Q}), got {codes.dtype} {tuple(codes.shape)}")
        check_code_range(codes, self.config.codebook_size)
        for wav in self._segments(codes.t()[None]):  # int16 codes (a book's) are widened a segment at a time
            yield wav[0]

    def _segments(self, codes: Tensor) -> Iterator[Tensor]:
        hop, seg = self.config.frame_samples, self.segmentation
        B, _, T = codes.shape
        for start in range(0, T, seg.frames):
            end = min(start + seg.frames, T)
            context = min(seg.context, start)
            wav = self(codes[:, :, start - context : end].long(), self.new_state(B))  # (B, (context + n) * 1920)
            yield wav[:, context * hop :]

    @torch.inference_mode()
    def stream(self, batch_size: int = 1) -> CodecStream:
        """A streaming decoder: push codes as they come, get their audio at once."""
        return CodecStream(self, batch_size)

    def _as_batch(self, codes: Tensor) -> tuple[Tensor, bool]:
        """(T, Q) -> (1, Q, T) or (B, Q, T) as is; checks the shape and dtype (never the values:
        that would read the device, see check_code_range)."""
        Q = self.config.num_quantizers
        if codes.dim() == 2 and codes.shape[1] == Q:
            codes, single = codes.t()[None], True
        elif codes.dim() == 3 and codes.shape[1] == Q:
            single = False
        else:
            raise ValueError(f"codes must be (frames, {Q}) or (batch, {Q}, frames), got {tuple(codes.shape)}")
        if codes.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"codes must be integers, got {codes.dtype}")
        return codes.long(), single


class CodecStream:
    """Decodes codes as they arrive: `push` returns each frame's 1920 samples as soon as its codes come.

    The output, concatenated, equals `CodecDecoder.decode` of all the codes at once, whatever
    the chunk sizes. To reproduce the official segmentation without a pause at segment
    boundaries, a second state (`warmup`) starts `segmentation.context` frames before each boundary
    and is fed the same codes; at the boundary it takes over as `state`, exactly as the official
    code's fresh network that first decodes those context frames. That costs
    `context / frames` (25 / 300) extra work, spread over the 25 frames.
    """

    def __init__(self, decoder: CodecDecoder, batch_size: int = 1):
        self.decoder = decoder
        self.batch_size = batch_size
        self.state = decoder.new_state(batch_size)
        self.warmup = decoder.new_state(batch_size)
        self.frames = 0  # frames pushed since the start

    @torch.inference_mode()
    def push(self, codes: Tensor) -> Tensor:
        """Codes (n, 16) -> samples (n * 1920,), or (B, 16, n) -> (B, n * 1920): the audio of these frames.

        The codes' values are not checked: reading them would sync the host with the device on
        every chunk, and the frame loop's codes are in range by construction (control tokens are
        never sampled). Codes from elsewhere go through `check_code_range` first.
        """
        codes, single = self.decoder._as_batch(codes)
        assert codes.shape[0] == self.batch_size, f"this stream decodes batches of {self.batch_size}"
        seg = self.decoder.segmentation
        pieces = []
        i, n = 0, codes.shape[-1]
        while i < n:
            boundary = (self.frames // seg.frames + 1) * seg.frames
            warm_from = boundary - seg.context
            stop = boundary if self.frames >= warm_from else warm_from
            part = codes[:, :, i : i + min(n - i, stop - self.frames)]
            pieces.append(self.decoder(part, self.state))
            if self.frames >= warm_from:
                self.decoder(part, self.warmup)  # its audio is the official code's dropped context audio
            self.frames += part.shape[-1]
            i += part.shape[-1]
            if self.frames == boundary:
                self.state, self.warmup = self.warmup, self.state
                self.warmup.reset()
        if not pieces:
            wav = torch.zeros(codes.shape[0], 0, device=codes.device)
        else:
            wav = (pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)).float()
        return wav[0] if single else wav

    @torch.inference_mode()
    def prime(self, codes: Tensor) -> None:
        """Feed codes whose audio is not wanted (a cloned voice's reference), so that what follows
        decodes as it does after them.

        Only the frame-rate half (the transformer, whose window reaches back over all of them)
        sees every frame; the upsampling half sees the last PRIME_TAIL_FRAMES. Its convolutions
        remember less than that (about 10 frames at the 12Hz shapes: measured, the continuation
        then differs from a full decode by float rounding only, ~3e-5), and it is where a
        decode costs its time: priming 62 frames of a 5 s reference this way costs about a
        quarter of decoding them.
        """
        codes, _ = self.decoder._as_batch(codes)
        seg, n = self.decoder.segmentation, codes.shape[-1] - PRIME_TAIL_FRAMES
        # Within the first segment and before its warm-up starts, so no second state is involved.
        if self.frames == 0 and n > 0 and codes.shape[-1] <= seg.frames - seg.context:
            self.decoder.to_latent(codes[:, :, :n], self.state)
            self.frames = n
            codes = codes[:, :, n:]
        self.push(codes)

    @torch.inference_mode()
    def flush(self) -> Tensor:
        """End of the codes: the audio still held back (none: the decoder has no lookahead); resets the stream."""
        self.reset()
        shape = (0,) if self.batch_size == 1 else (self.batch_size, 0)
        return torch.zeros(shape, device=self.state.kv.keys.device)

    @torch.inference_mode()
    def reset(self) -> None:
        """Start a new utterance on the same buffers."""
        self.state.reset()
        self.warmup.reset()
        self.frames = 0


def check_code_range(codes: Tensor, codebook_size: int) -> None:
    """Raise ValueError unless every code is in [0, codebook_size) (one read of the device)."""
    if codes.numel():
        low, high = int(codes.min()), int(codes.max())
        if low < 0 or high >= codebook_size:
            raise ValueError(f"codes must be in [0, {codebook_size}), got [{low}, {high}]")
