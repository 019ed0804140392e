"""Qwen3-style decoder pieces shared by the talker and the code predictor.

RMSNorm, rotary embeddings, grouped-query attention with q/k RMSNorm over a preallocated
KV cache, the SwiGLU MLP, and a stack of layers. Attribute names follow the checkpoint's
tensor names so weights load by name with no renaming table.

The arithmetic mirrors the official implementation operation for operation (float32
RMSNorm, RoPE tables computed in float32, attention as matmul + float32 softmax), because
greedy decoding must reproduce its codes exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qwentts_cli.config import DecoderStackConfig


class Embedding(nn.Embedding):
    """nn.Embedding without the random init: every table is assigned from a checkpoint.

    (On the meta device, nn.Embedding's normal_ init runs through Python reference
    decompositions and took 1.3 s of the 0.6B model's load time.)
    """

    def reset_parameters(self) -> None:
        pass


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            # One call instead of six (the frame loop runs ~430 norms per frame); bit-identical
            # to `reference` in float32 (tests/test_fast_paths.py).
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        return self.reference(x)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The official expression: normalize in float32, scale in the input's dtype."""
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rms_normalize(x: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm without its weight: normalized in float32, returned in x's dtype. Multiplying
    the result by the weight gives RMSNorm's value bit for bit (tests/test_fast_paths.py)."""
    if x.dtype == torch.float32:
        return F.rms_norm(x, (x.shape[-1],), None, eps)
    dtype = x.dtype
    x = x.float()
    return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)).to(dtype)


def rope_inverse_frequencies(head_dim: int, theta: float) -> torch.Tensor:
    # Same expression as transformers' default RoPE init, so the float32 table is bit-identical.
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))


def rope_angles(head_dim: int, theta: float, max_positions: int) -> torch.Tensor:
    """(P, hd) float32 rotation angles, each frequency twice, as the official tables are built
    (their cos and sin are the official RoPE tables)."""
    inv_freq = rope_inverse_frequencies(head_dim, theta)
    positions = torch.arange(max_positions, dtype=torch.float32)
    freqs = positions[:, None] * inv_freq[None, :]  # (P, hd/2)
    return torch.cat((freqs, freqs), dim=-1)


class RotaryTable(nn.Module):
    """cos/sin for positions [0, max_positions), computed once in float32.

    Qwen3-TTS's talker declares interleaved multimodal RoPE, but for speech all three
    position streams carry the same index, so every frequency sees the same position and
    the rotation is exactly plain 1-D RoPE.
    """

    def __init__(self, head_dim: int, theta: float, max_positions: int):
        super().__init__()
        angles = rope_angles(head_dim, theta, max_positions)
        half = head_dim // 2
        self.register_buffer("cos", angles.cos(), persistent=False)
        # The official sin table with its first half negated (see apply_rope).
        sin = angles.sin()
        self.register_buffer("sin_signed", torch.cat((-sin[:, :half], sin[:, half:]), dim=-1), persistent=False)

    def forward(self, start: int, length: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin_signed (see apply_rope) for positions [start, start + length)."""
        return self.cos[start : start + length].to(dtype), self.sin_signed[start : start + length].to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope_reference(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """The official rotation: x * cos + rotate_half(x) * sin."""
    return x * cos + rotate_half(x) * sin


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
    """apply_rope_reference in 4 ops instead of 6, bit for bit: rotate_half(x) * sin is
    roll(x) * sin with the first half's sign moved onto sin ((-a) * b == a * (-b) exactly)."""
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin_signed


def fuse_linears(linears: list[nn.Linear]) -> nn.Linear:
    """A bias-free Linear whose output is the given linears' outputs side by side."""
    weights = [lin.weight.detach() for lin in linears]
    N, K = sum(w.shape[0] for w in weights), weights[0].shape[1]
    fused = nn.Linear(K, N, bias=False, device="meta", dtype=weights[0].dtype)
    if not weights[0].is_meta:  # on meta (before loading) only the shape matters; cat there costs ~1 s of lazy imports
        fused.weight = nn.Parameter(torch.cat(weights), requires_grad=False)  # (sum N, K)
    return fused


def fuse_parts(module: nn.Module) -> None:
    """Merge each group of `module.FUSED_PARTS` into its one fused linear, in place."""
    for fused, parts in module.FUSED_PARTS.items():
        setattr(module, fused, fuse_linears([getattr(module, p) for p in parts]))
        for p in parts:
            delattr(module, p)


def fusion_plan(module: nn.Module) -> list[tuple[str, list[str], list[tuple[int, ...]]]]:
    """(fused weight, its part weights, their shapes) for every projection `fuse_parts` would merge,
    by qualified name under `module`; call it before fusing. The loader uses it to write the
    checkpoint's separate tensors straight into one fused tensor."""
    plan = []
    for name, sub in module.named_modules():
        prefix = f"{name}." if name else ""
        for fused, parts in getattr(sub, "FUSED_PARTS", {}).items():
            plan.append((f"{prefix}{fused}.weight", [f"{prefix}{p}.weight" for p in parts],
                         [tuple(getattr(sub, p).weight.shape) for p in parts]))
    return plan


def is_on(tensor: torch.Tensor, device: torch.device | str) -> bool:
    """Whether `tensor` lives on `device` ("cuda" without an index: any GPU)."""
    device = torch.device(device)
    return tensor.device.type == device.type and device.index in (None, tensor.device.index)


class KVCache(nn.Module):
    """Keys and values for one attention layer, allocated once and written by position."""

    def __init__(self, kv_heads: int, max_len: int, head_dim: int, dtype: torch.dtype, device: torch.device):
        super().__init__()
        shape = (1, kv_heads, max_len, head_dim)  # (B, nkv, S, hd)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    def update(self, start: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = start + k.shape[2]
        self.k[:, :, start:end] = k
        self.v[:, :, start:end] = v
        return self.k[:, :, :end], self.v[:, :, :end]

    def write_at(self, position: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store one position's k, v (B, nkv, 1, hd) at `position`, a (1,) long tensor on the
        cache's device: the index is read on the device, so the host never waits (CUDA graphs)."""
        self.k.index_copy_(2, position, k)
        self.v.index_copy_(2, position, v)


class Attention(nn.Module):
    # fuse_parts() replaces these projections with one (one weight stream, one kernel call per
    # step); the checkpoint stores them apart.
    FUSED_PARTS = {"qkv_proj": ("q_proj", "k_proj", "v_proj")}

    def __init__(self, cfg: DecoderStackConfig):
        super().__init__()
        self.n_heads = cfg.num_attention_heads
        self.n_kv_heads = cfg.num_key_value_heads
        self.head_dim = cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, self.n_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, self.n_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, cfg.hidden_size, bias=False)
        self.q_norm = RMSNorm(self.head_dim, cfg.rms_norm_eps)
        self.k_norm = RMSNorm(self.head_dim, cfg.rms_norm_eps)
        self.qkv_proj: nn.Linear | None = None  # set by fuse_parts()
        self.cache: KVCache | None = None

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, C) -> q and k side by side (B, T, (nh+nkv)*hd), v (B, T, nkv*hd)."""
        if self.qkv_proj is None:
            return torch.cat((self.q_proj(x), self.k_proj(x)), dim=-1), self.v_proj(x)
        kv = self.n_kv_heads * self.head_dim
        return self.qkv_proj(x).split([self.n_heads * self.head_dim + kv, kv], dim=-1)

    def heads(self, x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, C) -> q (B, nh, T, hd), k and v (B, nkv, T, hd), normed and rotated.

        q's and k's heads are normalized in one call and rotated in one call: both are per-row
        or per-element, so the values are those of q_norm/k_norm and RoPE applied to each
        apart, with half the small ops (the frame loop runs this ~100 times per frame).
        """
        B, T, _ = x.shape
        nh, hd = self.n_heads, self.head_dim
        qk, v = self.project(x)
        qk = rms_normalize(qk.reshape(B, T, nh + self.n_kv_heads, hd), self.q_norm.eps)
        qk[:, :, :nh].mul_(self.q_norm.weight)  # RMSNorm's scale, per part
        qk[:, :, nh:].mul_(self.k_norm.weight)
        q, k = apply_rope(qk.transpose(1, 2), cos, sin_signed).split([nh, self.n_kv_heads], dim=1)
        return q, k, v.reshape(B, T, self.n_kv_heads, hd).transpose(1, 2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, hidden: torch.Tensor | None) -> torch.Tensor:
        """q (B, nh, T, hd) over cached k, v (B, nkv, S, hd); `hidden` (T, S) bool masks positions out."""
        B, _, T, _ = q.shape
        groups = self.n_heads // self.n_kv_heads
        if groups > 1:
            # Each kv head copied for its query heads: repeat_interleave's values, written as
            # expand + reshape because some versions of repeat_interleave read sizes on the host.
            S, hd = k.shape[2], k.shape[3]
            k = k[:, :, None].expand(B, self.n_kv_heads, groups, S, hd).reshape(B, self.n_heads, S, hd)
            v = v[:, :, None].expand(B, self.n_kv_heads, groups, S, hd).reshape(B, self.n_heads, S, hd)
        scores = torch.matmul(q, k.transpose(2, 3)) * self.head_dim**-0.5  # (B, nh, T, S)
        if hidden is not None:
            scores = scores.masked_fill(hidden, torch.finfo(scores.dtype).min)
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(B, T, -1)  # (B, T, nh*hd)
        return self.o_proj(out)

    def forward(self, x: torch.Tensor, start: int, cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        q, k, v = self.heads(x, cos, sin_signed)
        assert self.cache is not None, "setup_caches() must run before the first forward"
        k, v = self.cache.update(start, k, v)  # (B, nkv, start+T, hd)
        hidden = None
        if T > 1:
            # Causal within the new block; every cached position before `start` is visible.
            S = k.shape[2]
            hidden = ~torch.ones(T, S, dtype=torch.bool, device=x.device).tril(diagonal=S - T)
        return self.attend(q, k, v, hidden)

    def decode_at(self, x: torch.Tensor, position: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor,
                  hidden: torch.Tensor) -> torch.Tensor:
        """One new position (x: (B, 1, C)) whose index is a device tensor, attending over a fixed
        window of the cache: the same shapes at every position (CUDA graphs). `hidden` (1, W)
        masks the window's positions after `position`."""
        q, k, v = self.heads(x, cos, sin_signed)
        assert self.cache is not None, "setup_caches() must run before the first forward"
        self.cache.write_at(position, k, v)
        window = hidden.shape[-1]
        return self.attend(q, self.cache.k[:, :, :window], self.cache.v[:, :, :window], hidden)


class MLP(nn.Module):
    FUSED_PARTS = {"gate_up_proj": ("gate_proj", "up_proj")}

    def __init__(self, cfg: DecoderStackConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)
        self.gate_up_proj: nn.Linear | None = None  # set by fuse_parts()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate_up_proj is None:
            gate, up = self.gate_proj(x), self.up_proj(x)
        else:
            gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: DecoderStackConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, start: int, cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), start, cos, sin_signed)
        return x + self.mlp(self.post_attention_layernorm(x))

    def decode_at(self, x: torch.Tensor, position: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor,
                  hidden: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn.decode_at(self.input_layernorm(x), position, cos, sin_signed, hidden)
        return x + self.mlp(self.post_attention_layernorm(x))


class DecoderStack(nn.Module):
    """Layers + final norm over input embeddings; positions are cache positions."""

    def __init__(self, cfg: DecoderStackConfig):
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.rope: RotaryTable | None = None
        # Bumped whenever setup_caches allocates: captured CUDA graphs hold the old buffers.
        self.cache_generation = 0

    def setup_caches(self, max_len: int, dtype: torch.dtype, device: torch.device) -> None:
        """Allocate every layer's KV cache and the RoPE table for `max_len` positions
        (kept when the ones there are large enough)."""
        cfg = self.cfg
        if self.rope is None or self.rope.cos.shape[0] < max_len or not is_on(self.rope.cos, device):
            self.rope = RotaryTable(cfg.head_dim, cfg.rope_theta, max_len).to(device)
            self.cache_generation += 1
        for layer in self.layers:
            attn = layer.self_attn
            if (attn.cache is None or attn.cache.max_len < max_len or attn.cache.k.dtype != dtype
                    or not is_on(attn.cache.k, device)):
                attn.cache = KVCache(cfg.num_key_value_heads, max_len, cfg.head_dim, dtype, device)
                self.cache_generation += 1

    def fuse_projections(self) -> None:
        """Fuse q/k/v and gate/up in every layer: on meta before loading (see fusion_plan), or
        on loaded weights."""
        for layer in self.layers:
            fuse_parts(layer.self_attn)
            fuse_parts(layer.mlp)

    def forward(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """x: (B, T, C) embeddings at positions [start, start+T) -> normed hidden states (B, T, C)."""
        assert self.rope is not None
        cos, sin_signed = self.rope(start, x.shape[1], x.dtype)
        for layer in self.layers:
            x = layer(x, start, cos, sin_signed)
        return self.norm(x)

    def decode_at(self, x: torch.Tensor, position: torch.Tensor, window: int) -> torch.Tensor:
        """x: (B, 1, C) at `position` ((1,) long, on x's device) -> normed hidden state (B, 1, C).

        Attends over the first `window` cache positions (> position) with the later ones
        masked, so every op has the same shape at every position up to the window and the host
        never reads the position: the form a CUDA graph can capture once and replay per frame.
        """
        assert self.rope is not None
        cos = self.rope.cos.index_select(0, position).to(x.dtype)  # (1, hd)
        sin_signed = self.rope.sin_signed.index_select(0, position).to(x.dtype)
        hidden = (torch.arange(window, device=x.device) > position).view(1, window)
        for layer in self.layers:
            x = layer.decode_at(x, position, cos, sin_signed, hidden)
        return self.norm(x)
