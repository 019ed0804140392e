"""The codec decoder's layers: causal (transposed) convolutions, SnakeBeta, ConvNeXt and residual
blocks, the sliding-window transformer and the split RVQ lookup.

Parameter names mirror the checkpoint's (after the "decoder." prefix), so loading is a strict
name-for-name, shape-checked assignment. Each stateful layer takes its state (state.py) as an
argument and updates it in place. The transformer is built from the layers the talker uses
too (model/layers.py: RMSNorm, RoPE, attention heads, SwiGLU MLP).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qwentts_cli.config import CodecDecoderConfig
from qwentts_cli.model.codec.state import BlockState, ConvTail, KVWindow, Overlap, EMPTY_SLOT
from qwentts_cli.model.layers import MLP, Attention, RMSNorm, RotaryTable
from qwentts_cli.model.packed import PackedMatrix


def building_on_meta(device: torch.device | str | None) -> bool:
    """True while modules are built under `torch.device("meta")` (and no other device is given).

    Buffers computed from the config are then only placeholders: computing them on meta runs
    torch's Python reference ops, whose first use imports sympy (~1 s of every load).
    """
    return torch.empty(0, device=device).is_meta



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
        if isinstance(self.conv, PackedMatrix):  # the same product, its matrix packed at load (load/pack.py)
            cols = self.conv(x.transpose(1, 2))
        else:
            w = self.conv.weight.view(C_in, C_out * self.taps * S)  # (C_in, C_out, K) is contiguous
            cols = torch.matmul(x.transpose(1, 2), w)
        cols = cols.view(B, T, C_out, self.taps, S)
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


class SlidingWindowAttention(Attention):
    """Causal self-attention over the last `sliding_window` positions (the current one included),
    its keys and values in a ring of slots carried by the stream (state.KVWindow)."""

    def __init__(self, config: CodecDecoderConfig):
        c = config
        super().__init__(c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim, norm_eps=None,
                         bias=c.attention_bias)

    def forward(self, x: Tensor, cos: Tensor, sin_signed: Tensor, keys: Tensor, values: Tensor, slots: Tensor,
                mask: Tensor) -> Tensor:
        # x (B, T, hidden); cos, sin_signed (T, hd); keys, values (B, H_kv, S, hd) written at `slots` (T,);
        # mask (T, S): which slots each query may see
        B, T, _ = x.shape
        q, k, v = self.heads(x, cos, sin_signed)  # (B, H, T, hd), (B, H_kv, T, hd) x 2
        keys.index_copy_(2, slots, k)
        values.index_copy_(2, slots, v)
        # SDPA, as the official decoder runs it (attn_implementation="sdpa").
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask,
                                           enable_gqa=self.n_heads != self.n_kv_heads)  # (B, H, T, hd)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim))


class TransformerLayer(nn.Module):
    def __init__(self, config: CodecDecoderConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = SlidingWindowAttention(config)
        self.self_attn_layer_scale = LayerScale(config.hidden_size)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MLP(config.hidden_size, config.intermediate_size)
        self.mlp_layer_scale = LayerScale(config.hidden_size)

    def forward(self, x: Tensor, cos: Tensor, sin_signed: Tensor, keys: Tensor, values: Tensor, slots: Tensor,
                mask: Tensor) -> Tensor:
        attn = self.self_attn(self.input_layernorm(x), cos, sin_signed, keys, values, slots, mask)
        x = x + self.self_attn_layer_scale(attn)
        return x + self.mlp_layer_scale(self.mlp(self.post_attention_layernorm(x)))


class Transformer(nn.Module):
    """latent -> hidden, sliding-window transformer layers, RMSNorm, hidden -> latent.

    `max_positions`: the most positions one pass reaches (the decoder restarts positions at
    every segment, see decoder.py).
    """

    def __init__(self, config: CodecDecoderConfig, max_positions: int):
        super().__init__()
        self.config = config
        self.max_positions = max_positions
        self.input_proj = nn.Linear(config.latent_dim, config.hidden_size)
        self.layers = nn.ModuleList([TransformerLayer(config) for _ in range(config.num_hidden_layers)])
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.output_proj = nn.Linear(config.hidden_size, config.latent_dim)
        # Frames per pass through the layers: a longer input is split into steps of at most this
        # many, so the KV ring needs only window - 1 + step slots.
        self.step = config.sliding_window
        self.rope: RotaryTable | None = None
        self.init_rope()

    def init_rope(self, device: torch.device | str | None = None) -> None:
        """cos/sin tables for every position a segment reaches (not in the checkpoint; built after loading)."""
        if building_on_meta(device):  # the loader calls this again on the real device
            return
        c = self.config
        # The talker's table (model/layers.py): the same float32 ops as transformers' default RoPE.
        self.rope = RotaryTable(c.head_dim, c.rope_theta, self.max_positions).to(device)

    def new_state(self, batch: int) -> KVWindow:
        c = self.config
        w = self.input_proj.weight
        shape = (c.num_hidden_layers, batch, c.num_key_value_heads, c.sliding_window - 1 + self.step, c.head_dim)
        return KVWindow(
            keys=torch.zeros(shape, dtype=w.dtype, device=w.device),
            values=torch.zeros(shape, dtype=w.dtype, device=w.device),
            slot_pos=torch.full((shape[3],), EMPTY_SLOT, dtype=torch.int64, device=w.device),
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
        assert start + T <= self.max_positions, "a segment ran past its length"
        pos = torch.arange(start, start + T, device=h.device)  # (T,)
        slots = pos % kv.slot_pos.shape[0]  # the ring overwrites only slots older than the window
        kv.slot_pos.index_copy_(0, slots, pos)
        # Query p sees positions p - window < q <= p (transformers' sliding_window_overlay).
        seen = kv.slot_pos[None, :]  # (1, S)
        mask = (seen <= pos[:, None]) & (seen > pos[:, None] - self.config.sliding_window)  # (T, S)
        cos, sin_signed = self.rope(start, T, h.dtype)
        for layer, keys, values in zip(self.layers, kv.keys, kv.values):
            h = layer(h, cos, sin_signed, keys, values, slots, mask)
        kv.next_pos = start + T
        return h


class Quantizer(nn.Module):
    """Split residual VQ lookup: codebook 0 and the sum of the other codebooks, each projected to codebook_dim.

    `codebooks` holds the code vectors already divided by their cluster usage (the official
    code does that division on every call; we do it once at load time, see load/codec.py).
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
        if building_on_meta(device):  # placeholder; the loader calls this again on the real device
            self.register_buffer("offsets", torch.empty(Q, dtype=torch.int64, device=device), persistent=False)
            return
        self.register_buffer("offsets", torch.arange(Q, device=device) * V, persistent=False)

    def forward(self, codes: Tensor) -> Tensor:
        # codes (B, Q, T) -> (B, T, codebook_dim)
        Q, V, D = self.codebooks.shape
        vectors = F.embedding(codes + self.offsets[:, None], self.codebooks.view(Q * V, D))  # (B, Q, T, D)
        return self.first_proj(vectors[:, 0]) + self.rest_proj(vectors[:, 1:].sum(dim=1))
