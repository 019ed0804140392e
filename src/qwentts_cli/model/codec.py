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
(`CodecDecoderConfig.segment_frames`, `segment_context`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qwentts_cli.errors import CheckpointError, UnsupportedConfigError
from qwentts_cli.model.layers import RMSNorm
from qwentts_cli.weights import assign_weights, read_tensors, safetensors_files

# The official `chunked_decode` defaults, which its `decode()` always uses.
OFFICIAL_SEGMENT_FRAMES = 300
OFFICIAL_SEGMENT_CONTEXT = 25

# EuclideanCodebook's floor on cluster usage when turning its EMA sums into code vectors.
_CODEBOOK_EPS = 1e-5
# A slot position no query can see (queries are at positions >= 0).
_EMPTY_SLOT = torch.iinfo(torch.int64).min


@dataclass
class CodecDecoderConfig:
    """The decoder part of speech_tokenizer/config.json; defaults are the official config class's."""

    codebook_dim: int
    codebook_size: int = 2048
    num_quantizers: int = 16
    latent_dim: int = 1024
    hidden_size: int = 1024
    intermediate_size: int = 3072
    num_hidden_layers: int = 8
    num_attention_heads: int = 16
    num_key_value_heads: int = 16
    head_dim: int | None = None
    sliding_window: int = 72
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    attention_bias: bool = False
    upsampling_ratios: tuple[int, ...] = (2, 2)
    upsample_rates: tuple[int, ...] = (8, 5, 4, 3)
    decoder_dim: int = 1536
    sample_rate: int = 24000
    # How the official decode() segments long inputs (see the module docstring). Not in
    # config.json; tests shrink them to exercise segment boundaries on short inputs.
    segment_frames: int = OFFICIAL_SEGMENT_FRAMES
    segment_context: int = OFFICIAL_SEGMENT_CONTEXT

    frame_samples: int = field(init=False)  # waveform samples per code frame (1920)
    max_positions: int = field(init=False)  # transformer positions one segment can reach

    def __post_init__(self) -> None:
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        self.upsampling_ratios = tuple(self.upsampling_ratios)
        self.upsample_rates = tuple(self.upsample_rates)
        self.frame_samples = math.prod(self.upsampling_ratios) * math.prod(self.upsample_rates)
        self.max_positions = self.segment_frames + self.segment_context
        assert self.segment_frames > 0 and 0 <= self.segment_context < self.segment_frames

    @classmethod
    def from_tokenizer_config(cls, tokenizer_config: dict, source: str = "config.json") -> CodecDecoderConfig:
        """Parse the speech tokenizer's config.json; raise UnsupportedConfigError for what we cannot run."""

        def unsupported(what: str) -> UnsupportedConfigError:
            return UnsupportedConfigError(f"{source}: {what}; only the Qwen3-TTS 12Hz speech tokenizer is supported")

        model_type = tokenizer_config.get("model_type")
        if model_type != "qwen3_tts_tokenizer_12hz":
            raise unsupported(f"model_type is {model_type!r}, not 'qwen3_tts_tokenizer_12hz'")
        dec = tokenizer_config.get("decoder_config")
        if not isinstance(dec, dict):
            raise unsupported("there is no decoder_config")
        if "codebook_dim" not in dec:
            raise unsupported("decoder_config has no codebook_dim")
        if dec.get("hidden_act", "silu") != "silu":
            raise unsupported(f"decoder hidden_act {dec['hidden_act']!r} (only 'silu')")
        rope_scaling = dec.get("rope_scaling")
        if rope_scaling and rope_scaling.get("rope_type", rope_scaling.get("type")) != "default":
            raise unsupported(f"decoder rope_scaling {rope_scaling}")
        if dec.get("partial_rotary_factor", 1.0) != 1.0:
            raise unsupported("decoder partial_rotary_factor != 1")
        if not dec.get("sliding_window"):
            raise unsupported("decoder without a sliding_window")
        names = {f.name for f in fields(cls) if f.init} - {"sample_rate", "segment_frames", "segment_context"}
        config = cls(
            **{k: v for k, v in dec.items() if k in names},
            sample_rate=int(tokenizer_config.get("output_sample_rate", 24000)),
        )
        if config.num_quantizers < 2:
            raise unsupported("fewer than 2 quantizers (the decoder splits codebook 0 from the rest)")
        if config.codebook_dim % 2:
            raise unsupported(f"odd codebook_dim {config.codebook_dim}")
        if config.num_attention_heads % config.num_key_value_heads:
            raise unsupported("num_attention_heads is not a multiple of num_key_value_heads")
        if config.decoder_dim % 2 ** len(config.upsample_rates):
            raise unsupported(f"decoder_dim {config.decoder_dim} does not halve {len(config.upsample_rates)} times")
        hop = tokenizer_config.get("decode_upsample_rate", config.frame_samples)
        if hop != config.frame_samples:
            raise unsupported(f"decode_upsample_rate {hop} != the product of the upsampling factors "
                              f"({config.frame_samples})")
        return config

    @classmethod
    def from_json(cls, path: str) -> CodecDecoderConfig:
        try:
            with open(path, encoding="utf-8") as f:
                tokenizer_config = json.load(f)
        except FileNotFoundError as e:
            raise CheckpointError(f"{path} is missing; the speech_tokenizer folder is incomplete, re-download the model") from e
        except (OSError, ValueError) as e:
            raise CheckpointError(f"cannot read {path} ({e}); re-download the model") from e
        return cls.from_tokenizer_config(tokenizer_config, source=path)


# ---------------------------------------------------------------------------------------------
# Streaming state. Every tensor is allocated once per stream and updated in place.


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
    slot_pos: Tensor  # (S,) int64: the position held by each slot; _EMPTY_SLOT when none
    next_pos: int = 0  # position of the next frame (restarts at 0 with every segment, as in the official code)

    def reset(self) -> None:
        # Keys and values stay as they are: empty slots are masked out. (They start as zeros, not
        # torch.empty, because a masked slot's value is still multiplied by its zero weight.)
        self.slot_pos.fill_(_EMPTY_SLOT)
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


def _building_on_meta(device: torch.device | str | None) -> bool:
    """True while modules are built under `torch.device("meta")` (and no other device is given).

    Buffers computed from the config are then only placeholders: computing them on meta runs
    torch's Python reference ops, whose first use imports sympy (~1 s of every load).
    """
    return torch.empty(0, device=device).is_meta


# ---------------------------------------------------------------------------------------------
# Layers. Parameter names mirror the checkpoint's (after the "decoder." prefix), so loading is
# a strict name-for-name, shape-checked assignment.


class CausalConv1d(nn.Module):
    """Conv1d (stride 1) left-padded by `(kernel - 1) * dilation`: output t sees inputs up to t."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int = 1, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, dilation=dilation, groups=groups)
        self.pad = (kernel - 1) * dilation

    def new_state(self, batch: int) -> ConvTail:
        w = self.conv.weight
        return ConvTail(torch.zeros(batch, self.conv.in_channels, self.pad, dtype=w.dtype, device=w.device))

    def forward(self, x: Tensor, tail: ConvTail | None) -> Tensor:
        # x (B, C_in, T) -> (B, C_out, T)
        if self.pad == 0:
            return self.conv(x)
        x = torch.cat([tail.buf, x], dim=-1)  # (B, C_in, pad + T): a bounded tail, not growing state
        tail.buf.copy_(x[..., -self.pad :])
        return self.conv(x)


class CausalConvTranspose1d(nn.Module):
    """ConvTranspose1d with kernel = stride or 2 * stride whose right overhang is cut: T frames -> T * stride.

    Computed as one matmul, (B, T, C_in) @ (C_in, C_out * kernel), then an overlap-add of the
    second half of each frame's kernel onto the next frame: about twice as fast on CPU as
    F.conv_transpose1d at these shapes, and the carried overlap makes it streamable. The
    official layer cuts `kernel - stride` samples off the end of the whole output, so the
    overhang of the last frame is never emitted (nothing to flush).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__()
        assert kernel in (stride, 2 * stride), "the 12Hz decoder only uses kernel = stride or 2 * stride"
        self.conv = nn.ConvTranspose1d(c_in, c_out, kernel, stride=stride)
        self.stride = stride
        self.taps = kernel // stride  # input frames each output sample depends on

    def new_state(self, batch: int) -> Overlap | None:
        if self.taps == 1:
            return None
        w = self.conv.weight
        return Overlap(torch.zeros(batch, self.conv.out_channels, self.stride, dtype=w.dtype, device=w.device))

    def forward(self, x: Tensor, overlap: Overlap | None) -> Tensor:
        B, C_in, T = x.shape
        C_out, S = self.conv.out_channels, self.stride
        w = self.conv.weight.view(C_in, C_out * self.taps * S)  # (C_in, C_out, K) is contiguous
        cols = torch.matmul(x.transpose(1, 2), w).view(B, T, C_out, self.taps, S)
        y = cols[:, :, :, 0] + self.conv.bias.view(1, 1, C_out, 1)  # (B, T, C_out, S)
        if self.taps == 2:
            spill = cols[:, :, :, 1]  # (B, T, C_out, S): lands on the next frame's samples
            y[:, 1:] += spill[:, :-1]
            y[:, 0] += overlap.buf
            overlap.buf.copy_(spill[:, -1])
        return y.permute(0, 2, 1, 3).reshape(B, C_out, T * S)  # (B, C_out, T * S)


class SnakeBeta(nn.Module):
    """x + sin^2(x * e^alpha) / e^beta, per channel (BigVGAN's Snake with separate frequency and magnitude)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))  # log frequency
        self.beta = nn.Parameter(torch.zeros(channels))  # log magnitude

    def forward(self, x: Tensor) -> Tensor:
        # x (B, C, T); the same float ops as the official layer, so results match bit for bit
        alpha = torch.exp(self.alpha)[:, None]
        inv_beta = 1.0 / (torch.exp(self.beta)[:, None] + 1e-9)
        # In place on one temporary: at 24 kHz x 96 channels these passes are memory-bound, and
        # each saved allocation is a saved pass. s * s is what pow(s, 2) computes; + and * commute.
        s = torch.mul(x, alpha).sin_()
        return s.mul_(s).mul_(inv_beta).add_(x)


class ConvNeXtBlock(nn.Module):
    """Causal depthwise conv k=7, LayerNorm, 4x GELU MLP, per-channel gamma, residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = CausalConv1d(dim, dim, 7, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: Tensor, tail: ConvTail) -> Tensor:
        # x (B, C, T)
        h = self.dwconv(x, tail).transpose(1, 2)  # (B, T, C)
        h = self.pwconv2(F.gelu(self.pwconv1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)  # (B, C, T)


class ResidualUnit(nn.Module):
    """SnakeBeta, dilated causal conv k=7, SnakeBeta, conv k=1, residual."""

    def __init__(self, dim: int, dilation: int):
        super().__init__()
        self.act1 = SnakeBeta(dim)
        self.conv1 = CausalConv1d(dim, dim, 7, dilation=dilation)
        self.act2 = SnakeBeta(dim)
        self.conv2 = CausalConv1d(dim, dim, 1)

    def forward(self, x: Tensor, tail: ConvTail) -> Tensor:
        h = self.conv1(self.act1(x), tail)
        return self.conv2(self.act2(h), None).add_(x)  # in place on the fresh conv output


class DecoderBlock(nn.Module):
    """SnakeBeta, transposed conv (x rate, channels halved), residual units with dilation 1, 3, 9."""

    def __init__(self, c_in: int, c_out: int, rate: int):
        super().__init__()
        # One ModuleList, as in the checkpoint: block.0 SnakeBeta, block.1 upsample, block.2-4 units.
        self.block = nn.ModuleList(
            [SnakeBeta(c_in), CausalConvTranspose1d(c_in, c_out, 2 * rate, rate)]
            + [ResidualUnit(c_out, d) for d in (1, 3, 9)]
        )

    def new_state(self, batch: int) -> BlockState:
        return BlockState(self.block[1].new_state(batch), [u.conv1.new_state(batch) for u in self.block[2:]])

    def forward(self, x: Tensor, state: BlockState) -> Tensor:
        x = self.block[1](self.block[0](x), state.upsample)
        for unit, tail in zip(self.block[2:], state.units):
            x = unit(x, tail)
        return x


class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.scale = nn.Parameter(torch.full((dim,), 0.01))

    def forward(self, x: Tensor) -> Tensor:
        return self.scale * x


def _rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class Attention(nn.Module):
    """Causal self-attention over the last `sliding_window` positions (the current one included), RoPE."""

    def __init__(self, config: CodecDecoderConfig):
        super().__init__()
        c = config
        self.n_head, self.n_kv_head, self.head_dim = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.q_proj = nn.Linear(c.hidden_size, c.num_attention_heads * c.head_dim, bias=c.attention_bias)
        self.k_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * c.head_dim, bias=c.attention_bias)
        self.v_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * c.head_dim, bias=c.attention_bias)
        self.o_proj = nn.Linear(c.num_attention_heads * c.head_dim, c.hidden_size, bias=c.attention_bias)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, keys: Tensor, values: Tensor, slots: Tensor,
                mask: Tensor) -> Tensor:
        # x (B, T, hidden); cos, sin (T, hd); keys, values (B, H_kv, S, hd) written at `slots` (T,);
        # mask (T, S): which slots each query may see
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, H_kv, T, hd)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, H_kv, T, hd)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        keys.index_copy_(2, slots, k)
        values.index_copy_(2, slots, v)
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask,
                                           enable_gqa=self.n_head != self.n_kv_head)  # (B, H, T, hd)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim))


class MLP(nn.Module):
    def __init__(self, config: CodecDecoderConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class TransformerLayer(nn.Module):
    def __init__(self, config: CodecDecoderConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config)
        self.self_attn_layer_scale = LayerScale(config.hidden_size)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MLP(config)
        self.mlp_layer_scale = LayerScale(config.hidden_size)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, keys: Tensor, values: Tensor, slots: Tensor,
                mask: Tensor) -> Tensor:
        x = x + self.self_attn_layer_scale(self.self_attn(self.input_layernorm(x), cos, sin, keys, values, slots, mask))
        return x + self.mlp_layer_scale(self.mlp(self.post_attention_layernorm(x)))


class Transformer(nn.Module):
    """latent -> hidden, sliding-window transformer layers, RMSNorm, hidden -> latent."""

    def __init__(self, config: CodecDecoderConfig):
        super().__init__()
        self.config = config
        self.input_proj = nn.Linear(config.latent_dim, config.hidden_size)
        self.layers = nn.ModuleList([TransformerLayer(config) for _ in range(config.num_hidden_layers)])
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.output_proj = nn.Linear(config.hidden_size, config.latent_dim)
        # Frames per pass through the layers: a longer input is split into steps of at most this
        # many, so the KV ring needs only window - 1 + step slots.
        self.step = config.sliding_window
        self.init_rope()

    def init_rope(self, device: torch.device | str | None = None) -> None:
        """cos/sin tables for every position a segment reaches (not in the checkpoint; built after loading)."""
        c = self.config
        if _building_on_meta(device):  # placeholders; load_codec_decoder calls this again on the real device
            for name in ("rope_cos", "rope_sin"):
                self.register_buffer(name, torch.empty(c.max_positions, c.head_dim, device=device), persistent=False)
            return
        # Same float32 ops as transformers' default RoPE, so the tables match it exactly.
        inv_freq = 1.0 / (c.rope_theta ** (torch.arange(0, c.head_dim, 2, dtype=torch.int64, device=device).float()
                                           / c.head_dim))
        freqs = torch.outer(torch.arange(c.max_positions, device=device).float(), inv_freq)  # (P, hd / 2)
        emb = torch.cat([freqs, freqs], dim=-1)  # (P, hd)
        self.register_buffer("rope_cos", emb.cos(), persistent=False)
        self.register_buffer("rope_sin", emb.sin(), persistent=False)

    def new_state(self, batch: int) -> KVWindow:
        c = self.config
        w = self.input_proj.weight
        shape = (c.num_hidden_layers, batch, c.num_key_value_heads, c.sliding_window - 1 + self.step, c.head_dim)
        return KVWindow(
            keys=torch.zeros(shape, dtype=w.dtype, device=w.device),
            values=torch.zeros(shape, dtype=w.dtype, device=w.device),
            slot_pos=torch.full((shape[3],), _EMPTY_SLOT, dtype=torch.int64, device=w.device),
        )

    def forward(self, x: Tensor, kv: KVWindow) -> Tensor:
        # x (B, T, latent) -> (B, T, latent)
        h = self.input_proj(x)
        steps = [self._step(h[:, i : i + self.step], kv) for i in range(0, h.shape[1], self.step)]
        h = steps[0] if len(steps) == 1 else torch.cat(steps, dim=1)
        return self.output_proj(self.norm(h))

    def _step(self, h: Tensor, kv: KVWindow) -> Tensor:
        # h (B, T, hidden), T <= self.step
        T = h.shape[1]
        start = kv.next_pos
        assert start + T <= self.config.max_positions, "a segment ran past its length"
        pos = torch.arange(start, start + T, device=h.device)  # (T,)
        slots = pos % kv.slot_pos.shape[0]  # the ring overwrites only slots older than the window
        kv.slot_pos.index_copy_(0, slots, pos)
        # Query p sees positions p - window < q <= p (transformers' sliding_window_overlay).
        seen = kv.slot_pos[None, :]  # (1, S)
        mask = (seen <= pos[:, None]) & (seen > pos[:, None] - self.config.sliding_window)  # (T, S)
        cos, sin = self.rope_cos[start : start + T].to(h.dtype), self.rope_sin[start : start + T].to(h.dtype)
        for layer, keys, values in zip(self.layers, kv.keys, kv.values):
            h = layer(h, cos, sin, keys, values, slots, mask)
        kv.next_pos = start + T
        return h


class Quantizer(nn.Module):
    """Split residual VQ lookup: codebook 0 and the sum of the other codebooks, each projected to codebook_dim.

    `codebooks` holds the code vectors already divided by their cluster usage (the official
    code does that division on every call; we do it once at load time, see `_fold_quantizer`).
    """

    def __init__(self, config: CodecDecoderConfig):
        super().__init__()
        dim = config.codebook_dim // 2
        self.codebook_size = config.codebook_size
        self.codebooks = nn.Parameter(torch.empty(config.num_quantizers, config.codebook_size, dim))  # assigned at load
        self.first_proj = nn.Linear(dim, config.codebook_dim, bias=False)
        self.rest_proj = nn.Linear(dim, config.codebook_dim, bias=False)
        self.init_offsets()

    def init_offsets(self, device: torch.device | str | None = None) -> None:
        """Where each codebook starts in the stacked table (not in the checkpoint; built after loading)."""
        Q, V, _ = self.codebooks.shape
        if _building_on_meta(device):  # placeholder; load_codec_decoder calls this again on the real device
            self.register_buffer("offsets", torch.empty(Q, dtype=torch.int64, device=device), persistent=False)
            return
        self.register_buffer("offsets", torch.arange(Q, device=device) * V, persistent=False)

    def forward(self, codes: Tensor) -> Tensor:
        # codes (B, Q, T) -> (B, T, codebook_dim)
        Q, V, D = self.codebooks.shape
        vectors = F.embedding(codes + self.offsets[:, None], self.codebooks.view(Q * V, D))  # (B, Q, T, D)
        return self.first_proj(vectors[:, 0]) + self.rest_proj(vectors[:, 1:].sum(dim=1))


# ---------------------------------------------------------------------------------------------


class CodecDecoder(nn.Module):
    """Codes (B, 16, T) at 12.5 Hz -> waveform (B, T * 1920) at 24 kHz, as the official 12Hz decoder."""

    def __init__(self, config: CodecDecoderConfig):
        super().__init__()
        c = self.config = config
        self.quantizer = Quantizer(c)
        self.pre_conv = CausalConv1d(c.codebook_dim, c.latent_dim, 3)
        self.pre_transformer = Transformer(c)
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
        """One causal pass over `codes` (B, Q, T), continuing from `state` (updated): -> (B, T * 1920)."""
        h = self.quantizer(codes).transpose(1, 2)  # (B, codebook_dim, T)
        h = self.pre_conv(h, state.pre_conv).transpose(1, 2)  # (B, T, latent)
        h = self.pre_transformer(h, state.kv).transpose(1, 2)  # (B, latent, T)
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

        Like the official `chunked_decode`, segments of `segment_frames` frames are decoded by a
        fresh network that first sees `segment_context` earlier frames, whose audio is dropped.
        """
        codes, single = self._as_batch(codes)
        c = self.config
        B, _, T = codes.shape
        out = torch.empty(B, T * c.frame_samples, dtype=torch.float32, device=codes.device)
        for start in range(0, T, c.segment_frames):
            end = min(start + c.segment_frames, T)
            context = min(c.segment_context, start)
            wav = self(codes[:, :, start - context : end], self.new_state(B))  # (B, (context + n) * 1920)
            out[:, start * c.frame_samples : end * c.frame_samples] = wav[:, context * c.frame_samples :]
        return out[0] if single else out

    @torch.inference_mode()
    def stream(self, batch_size: int = 1) -> CodecStream:
        """A streaming decoder: push codes as they come, get their audio at once."""
        return CodecStream(self, batch_size)

    def _as_batch(self, codes: Tensor) -> tuple[Tensor, bool]:
        """(T, Q) -> (1, Q, T) or (B, Q, T) as is; checks the codebook count and code range."""
        Q, V = self.config.num_quantizers, self.config.codebook_size
        if codes.dim() == 2 and codes.shape[1] == Q:
            codes, single = codes.t()[None], True
        elif codes.dim() == 3 and codes.shape[1] == Q:
            single = False
        else:
            raise ValueError(f"codes must be (frames, {Q}) or (batch, {Q}, frames), got {tuple(codes.shape)}")
        if codes.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"codes must be integers, got {codes.dtype}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= V):
            raise ValueError(f"codes must be in [0, {V}), got [{int(codes.min())}, {int(codes.max())}]")
        return codes.long(), single


class CodecStream:
    """Decodes codes as they arrive: `push` returns each frame's 1920 samples as soon as its codes come.

    The output, concatenated, equals `CodecDecoder.decode` of all the codes at once, whatever
    the chunk sizes. To reproduce the official segmentation without a pause at segment
    boundaries, a second state (`warmup`) starts `segment_context` frames before each boundary
    and is fed the same codes; at the boundary it takes over as `state`, exactly as the official
    code's fresh network that first decodes those context frames. That costs
    `segment_context / segment_frames` (25 / 300) extra work, spread over the 25 frames.
    """

    def __init__(self, decoder: CodecDecoder, batch_size: int = 1):
        self.decoder = decoder
        self.batch_size = batch_size
        self.state = decoder.new_state(batch_size)
        self.warmup = decoder.new_state(batch_size)
        self.frames = 0  # frames pushed since the start

    @torch.inference_mode()
    def push(self, codes: Tensor) -> Tensor:
        """Codes (n, 16) -> samples (n * 1920,), or (B, 16, n) -> (B, n * 1920): the audio of these frames."""
        codes, single = self.decoder._as_batch(codes)
        assert codes.shape[0] == self.batch_size, f"this stream decodes batches of {self.batch_size}"
        c = self.decoder.config
        pieces = []
        i, n = 0, codes.shape[-1]
        while i < n:
            boundary = (self.frames // c.segment_frames + 1) * c.segment_frames
            warm_from = boundary - c.segment_context
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


# ---------------------------------------------------------------------------------------------
# Loading.


def load_codec_decoder(speech_tokenizer_dir: str, dtype: torch.dtype = torch.float32,
                       device: torch.device | str = "cpu") -> CodecDecoder:
    """The decoder of a checkpoint's speech_tokenizer folder (config.json + model.safetensors), ready to run.

    Only the `decoder.*` tensors are read; the encoder's (used to encode reference audio for
    voice cloning) are left in the file. The checkpoint holds plain weights (no weight_norm
    parametrizations: the official decoder is built from plain Conv1d/Linear layers); the one
    thing folded at load time is the codebooks, see `_fold_quantizer`.
    """
    config = CodecDecoderConfig.from_json(os.path.join(speech_tokenizer_dir, "config.json"))
    files = safetensors_files(speech_tokenizer_dir)
    prefix = "decoder."
    tensors = read_tensors(files, keep=lambda n: n.startswith(prefix)).strip_prefix(prefix)
    source = os.path.join(speech_tokenizer_dir, os.path.basename(files[0]) if len(files) == 1 else "")
    _fold_quantizer(tensors, config, source, dtype)
    with torch.device("meta"):
        decoder = CodecDecoder(config)
    assign_weights(decoder, tensors, source, dtype=dtype, device=device)
    tensors.release_unused(decoder)  # the folded codebook statistics
    # Buffers derived from the config, not stored in the file (left on the meta device so far).
    decoder.pre_transformer.init_rope(device)
    decoder.quantizer.init_offsets(device)
    return decoder.eval()


def _fold_quantizer(tensors: dict[str, Tensor], config: CodecDecoderConfig, source: str, dtype: torch.dtype) -> None:
    """Checkpoint quantizer tensors -> our `quantizer.*` (in place).

    Each official codebook stores training statistics, `embedding_sum` (V, D) and
    `cluster_usage` (V,), and divides them on every decode (16 x 2048 x 256 divisions per call
    at the real size); we divide once here and stack the 16 tables.
    The `input_proj` weights are the encoder side's and are not needed to decode.
    """

    def take(name: str) -> Tensor:
        if name not in tensors:
            raise CheckpointError(f"{source} is missing tensor 'decoder.{name}'; "
                                  "the checkpoint is incomplete or not a Qwen3-TTS 12Hz model")
        return tensors.pop(name)

    V, D = config.codebook_size, config.codebook_dim // 2
    tables = []
    for q in range(config.num_quantizers):
        group, i = ("rvq_first", 0) if q == 0 else ("rvq_rest", q - 1)
        stem = f"quantizer.{group}.vq.layers.{i}._codebook."
        usage, total = take(stem + "cluster_usage"), take(stem + "embedding_sum")
        if tuple(usage.shape) != (V,) or tuple(total.shape) != (V, D):
            raise CheckpointError(
                f"{source}: codebook 'decoder.{stem}*' has shapes {tuple(total.shape)} and {tuple(usage.shape)}, "
                f"expected {(V, D)} and {(V,)} from config.json; the weights and config do not belong together")
        # In the model's dtype, as the official code divides: the same table, bit for bit.
        tables.append(total.to(dtype) / usage.to(dtype).clamp(min=_CODEBOOK_EPS)[:, None])
    tensors["quantizer.codebooks"] = torch.stack(tables)  # (Q, V, D)
    for group, ours in (("rvq_first", "first_proj"), ("rvq_rest", "rest_proj")):
        tensors.pop(f"quantizer.{group}.input_proj.weight", None)
        w = take(f"quantizer.{group}.output_proj.weight")  # Conv1d k=1: (codebook_dim, D, 1)
        tensors[f"quantizer.{ours}.weight"] = w.flatten(1) if w.dim() == 3 and w.shape[-1] == 1 else w


def random_codec_decoder(config: CodecDecoderConfig, seed: int = 0, dtype: torch.dtype = torch.float32,
                         device: torch.device | str = "cpu") -> CodecDecoder:
    """A decoder with random weights at working scales, for tests and timings without a checkpoint.

    Matrices get a 1/sqrt(fan_in) spread, norms and scales 1 +- 0.1 (the trained layer scales
    are tiny, which would hide whole blocks under a test's tolerance), and the output conv is
    scaled so the waveform has a 0.1 spread instead of clipping at +-1 (where every error hides).
    """
    g = torch.Generator().manual_seed(seed)
    decoder = CodecDecoder(config)
    with torch.no_grad():
        for name, p in decoder.named_parameters():
            kind = name.rpartition(".")[2]
            if kind in ("alpha", "beta"):  # SnakeBeta's log frequency and log magnitude
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif kind == "bias":
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:  # norm weights, layer scales, ConvNeXt gamma
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name == "quantizer.codebooks":
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                # A transposed conv maps C_in -> C_out * kernel: its fan-in is C_in, dim 0.
                transposed = isinstance(decoder.get_submodule(name.rpartition(".")[0]), nn.ConvTranspose1d)
                fan_in = p.shape[0] if transposed else p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)
        codes = torch.randint(0, config.codebook_size, (1, config.num_quantizers, 4), generator=g)
        last = decoder.decoder[-1].conv
        captured = {}
        hook = last.register_forward_hook(lambda m, i, o: captured.setdefault("y", o))
        decoder(codes, decoder.new_state(1))
        hook.remove()
        scale = 0.1 / captured["y"].std()
        last.weight.mul_(scale)
        last.bias.mul_(scale)
    return decoder.to(device=device, dtype=dtype).eval()

