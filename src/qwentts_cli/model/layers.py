"""Transformer pieces shared by the talker, the code predictor and the codec decoder's transformer.

RMSNorm, rotary embeddings, grouped-query attention (with the talker's q/k RMSNorm, over a
preallocated KV cache), the SwiGLU MLP, and the talker's stack of layers. Attribute names follow the checkpoint's
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


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
    """The official rotation `x * cos + rotate_half(x) * sin` in 4 ops instead of 6, bit for bit:
    rotate_half(x) * sin is roll(x) * sin with the first half's sign moved onto sin
    ((-a) * b == a * (-b) exactly; tests/unit/test_layers.py)."""
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin_signed


def is_on(tensor: torch.Tensor, device: torch.device | str) -> bool:
    """Whether `tensor` lives on `device` ("cuda" without an index: any GPU)."""
    device = torch.device(device)
    return tensor.device.type == device.type and device.index in (None, tensor.device.index)


class KVCache(nn.Module):
    """Keys and values for one attention layer and B rows, allocated once and written by position."""

    def __init__(self, batch: int, kv_heads: int, max_len: int, head_dim: int, dtype: torch.dtype,
                 device: torch.device):
        super().__init__()
        shape = (batch, kv_heads, max_len, head_dim)  # (B, nkv, S, hd)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    @property
    def batch(self) -> int:
        return self.k.shape[0]

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    def rows(self, count: int, row: int | None = None) -> slice:
        """The cache rows a call over `count` rows works on: rows [0, count), or the one row `row`
        (a batched engine's prefill of a row that joins, generate/batch.py)."""
        return slice(0, count) if row is None else slice(row, row + 1)

    def update(self, start: int, k: torch.Tensor, v: torch.Tensor, row: int | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, nkv, T, hd) at positions [start, start + T) of rows [0, B) (or of row
        `row`); -> those rows' k, v so far."""
        end = start + k.shape[2]
        rows = self.rows(k.shape[0], row)
        self.k[rows, :, start:end] = k
        self.v[rows, :, start:end] = v
        return self.k[rows, :, :end], self.v[rows, :, :end]

    def write_at(self, positions: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store one position per row: k, v (B, nkv, 1, hd) at `positions` (B,) long, on the cache's
        device, into rows [0, B). The indices are read on the device, so the host never waits (CUDA graphs)."""
        B, nkv, _, hd = k.shape
        index = positions.view(B, 1, 1, 1).expand(B, nkv, 1, hd)
        self.k[:B].scatter_(2, index, k)
        self.v[:B].scatter_(2, index, v)

    def resized(self, batch: int, max_len: int) -> "KVCache":
        """A cache of at least this size holding this one's contents (a joining row may need more
        positions than the rows already running, which keep theirs)."""
        bigger = KVCache(max(batch, self.batch), self.k.shape[1], max(max_len, self.max_len), self.k.shape[3],
                         self.k.dtype, self.k.device)
        bigger.k[: self.batch, :, : self.max_len] = self.k
        bigger.v[: self.batch, :, : self.max_len] = self.v
        return bigger


# From B * S = 128 (rows x cache positions) on a CPU, grouped-query attention multiplies each
# group of query heads by its shared kv head (grouped_matmul) instead of copying every kv head
# for its query heads first: that copy moves B * nh * S * hd values per layer and step, more than
# the products read (a batched talker step at B = 8 over 100 positions: 0.76 -> 0.31 ms per layer
# in float32). 512 at first; on the AMX Xeon of docs/benchmark.md the whole 0.6B int8 talker step
# took 54-57 -> 49-51 ms at B = 8 over 52 positions and 29 -> 27 ms at B = 1 over 181, and the same
# at B = 1 over 46 (where the copy, 0.4 MB a layer, stays in cache). Below it, one matmul on the
# copy costs no more than a matmul per group.
GROUPED_MIN_ROWS_X_POSITIONS = 128


def grouped_matmul(a: torch.Tensor, b: torch.Tensor, groups: int) -> torch.Tensor:
    """a (B, nkv * groups, T, X) @ b (B, nkv, X, Y) with query head h on kv head h // groups -> (B, nh, T, Y).

    The values of `a @ b` after b's heads are repeated `groups` times: each product is the same
    matrix product, with the same shapes and layout (only the batch strides differ), so the
    result is the same bit for bit (checked in float32, tests/unit/test_layers.py; bfloat16 goes
    through oneDNN, whose blocking could follow the batch count on another CPU)."""
    B, nh, T, _ = a.shape
    nkv, Y = b.shape[1], b.shape[3]
    a = a.view(B, nkv, groups, T, a.shape[3])
    out = torch.empty(B, nkv, groups, T, Y, dtype=a.dtype, device=a.device)
    for g in range(groups):
        out[:, :, g] = torch.matmul(a[:, :, g], b)
    return out.view(B, nh, T, Y)


class Attention(nn.Module):
    """Grouped-query attention with rotary positions; q/k RMSNorm when `norm_eps` is given (the talker's).

    `heads` and `attend` are the pieces the talker's cache-backed steps (`forward`, `decode_at`)
    and the codec's sliding window (model/codec/layers.py) are built from.
    """

    # The loader (load/fusion.py) replaces these projections with one: one weight stream, one
    # kernel call per step. The checkpoint stores them apart.
    FUSED_PARTS = {"qkv_proj": ("q_proj", "k_proj", "v_proj")}

    def __init__(self, hidden: int, n_heads: int, n_kv_heads: int, head_dim: int, norm_eps: float | None,
                 bias: bool = False):
        super().__init__()
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.head_dim = head_dim
        self.q_proj = nn.Linear(hidden, n_heads * head_dim, bias=bias)
        self.k_proj = nn.Linear(hidden, n_kv_heads * head_dim, bias=bias)
        self.v_proj = nn.Linear(hidden, n_kv_heads * head_dim, bias=bias)
        self.o_proj = nn.Linear(n_heads * head_dim, hidden, bias=bias)
        self.q_norm = RMSNorm(head_dim, norm_eps) if norm_eps is not None else None
        self.k_norm = RMSNorm(head_dim, norm_eps) if norm_eps is not None else None
        self.qkv_proj: nn.Linear | None = None  # set by the loader's fusion
        self.cache: KVCache | None = None  # set by DecoderStack.setup_caches (talker and code predictor)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, C) -> q and k side by side (B, T, (nh+nkv)*hd), v (B, T, nkv*hd)."""
        if self.qkv_proj is None:
            return torch.cat((self.q_proj(x), self.k_proj(x)), dim=-1), self.v_proj(x)
        kv = self.n_kv_heads * self.head_dim
        return self.qkv_proj(x).split([self.n_heads * self.head_dim + kv, kv], dim=-1)

    def heads(self, x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, C) -> q (B, nh, T, hd), k and v (B, nkv, T, hd), normed (if normed at all) and rotated.

        q's and k's heads are normalized in one call and rotated in one call: both are per-row
        or per-element, so the values are those of q_norm/k_norm and RoPE applied to each
        apart, with half the small ops (the frame loop runs this ~100 times per frame).
        """
        B, T, _ = x.shape
        nh, hd = self.n_heads, self.head_dim
        qk, v = self.project(x)
        qk = qk.reshape(B, T, nh + self.n_kv_heads, hd)
        if self.q_norm is not None:
            qk = rms_normalize(qk, self.q_norm.eps)
            qk[:, :, :nh].mul_(self.q_norm.weight)  # RMSNorm's scale, per part
            qk[:, :, nh:].mul_(self.k_norm.weight)
        q, k = apply_rope(qk.transpose(1, 2), cos, sin_signed).split([nh, self.n_kv_heads], dim=1)
        return q, k, v.reshape(B, T, self.n_kv_heads, hd).transpose(1, 2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, hidden: torch.Tensor | None) -> torch.Tensor:
        """q (B, nh, T, hd) over k, v (B, nkv, S, hd) -> (B, T, C), as the official eager attention
        (matmul, float32 softmax); `hidden` (T, S) or (B, 1, T, S), bool, masks positions out."""
        B, _, T, _ = q.shape
        groups = self.n_heads // self.n_kv_heads
        S, hd = k.shape[2], k.shape[3]
        grouped = groups > 1 and q.device.type == "cpu" and B * S >= GROUPED_MIN_ROWS_X_POSITIONS
        if grouped:
            scores = grouped_matmul(q, k.transpose(2, 3), groups) * self.head_dim**-0.5
        else:
            if groups > 1:
                # Each kv head copied for its query heads: repeat_interleave's values, written as
                # expand + reshape because some versions of repeat_interleave read sizes on the host.
                k = k[:, :, None].expand(B, self.n_kv_heads, groups, S, hd).reshape(B, self.n_heads, S, hd)
                v = v[:, :, None].expand(B, self.n_kv_heads, groups, S, hd).reshape(B, self.n_heads, S, hd)
            scores = torch.matmul(q, k.transpose(2, 3)) * self.head_dim**-0.5  # (B, nh, T, S)
        if hidden is not None:
            scores = scores.masked_fill(hidden, torch.finfo(scores.dtype).min)
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        values = grouped_matmul(probs, v, groups) if grouped else torch.matmul(probs, v)
        out = values.transpose(1, 2).reshape(B, T, -1)  # (B, T, nh*hd)
        return self.o_proj(out)

    def forward(self, x: torch.Tensor, start: int, cos: torch.Tensor, sin_signed: torch.Tensor,
                row: int | None = None) -> torch.Tensor:
        """x (B, T, C) at positions [start, start + T) of cache rows [0, B) (or of the one row `row`),
        over the rows' cached past."""
        T = x.shape[1]
        q, k, v = self.heads(x, cos, sin_signed)
        assert self.cache is not None, "setup_caches() must run before the first forward"
        k, v = self.cache.update(start, k, v, row)  # (B, nkv, start+T, hd)
        hidden = None
        if T > 1:
            # Causal within the new block; every cached position before `start` is visible.
            S = k.shape[2]
            hidden = ~torch.ones(T, S, dtype=torch.bool, device=x.device).tril(diagonal=S - T)
        return self.attend(q, k, v, hidden)

    def decode_at(self, x: torch.Tensor, positions: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor,
                  hidden: torch.Tensor) -> torch.Tensor:
        """One new position per row (x: (B, 1, C)) whose index is a device tensor (B,), attending
        over a fixed window of the cache: the same shapes at every position (CUDA graphs).
        `hidden` (B, 1, 1, W) masks each row's window positions after its own."""
        q, k, v = self.heads(x, cos, sin_signed)
        assert self.cache is not None, "setup_caches() must run before the first forward"
        self.cache.write_at(positions, k, v)
        B, window = x.shape[0], hidden.shape[-1]
        return self.attend(q, self.cache.k[:B, :, :window], self.cache.v[:B, :, :window], hidden)


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    FUSED_PARTS = {"gate_up_proj": ("gate_proj", "up_proj")}

    def __init__(self, hidden: int, intermediate: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)
        self.gate_up_proj: nn.Linear | None = None  # set by the loader's fusion

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
        self.self_attn = Attention(cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim,
                                   norm_eps=cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: torch.Tensor, start: int, cos: torch.Tensor, sin_signed: torch.Tensor,
                row: int | None = None) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), start, cos, sin_signed, row)
        return x + self.mlp(self.post_attention_layernorm(x))

    def decode_at(self, x: torch.Tensor, positions: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor,
                  hidden: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn.decode_at(self.input_layernorm(x), positions, cos, sin_signed, hidden)
        return x + self.mlp(self.post_attention_layernorm(x))


# Activations the scripted step mirrors the eager norms for (model/scripted.py).
_SCRIPTED_DTYPES = (torch.float32, torch.bfloat16)


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
        # New positions on the CPU run as one TorchScript call (model/scripted.py: the same ops,
        # bit for bit, with less overhead), set up at the first setup_caches. False: eager only.
        self.scripted = True
        self._scripted_step: list = []  # [the step or None] once made (a list: not an nn.Module attribute)
        self._many_rows_steps: dict = {}  # rows -> the packed float32 step (many_rows_step), once made

    def setup_caches(self, max_len: int, dtype: torch.dtype, device: torch.device, batch: int = 1,
                     keep: bool = False) -> None:
        """Allocate every layer's KV cache (at least `batch` rows) and the RoPE table for `max_len`
        positions (kept when the ones there are large enough: a call over B rows uses rows [0, B)).
        `keep`: a cache that must grow keeps its contents (rows still generating)."""
        cfg = self.cfg
        self._scripted_for(device, dtype)  # made here, before any step, so that every step runs the same ops
        if self.rope is None or self.rope.cos.shape[0] < max_len or not is_on(self.rope.cos, device):
            self.rope = RotaryTable(cfg.head_dim, cfg.rope_theta, max_len).to(device)
            self.cache_generation += 1
        for layer in self.layers:
            attn = layer.self_attn
            cache = attn.cache
            if (cache is None or cache.k.dtype != dtype or not is_on(cache.k, device)):
                attn.cache = KVCache(batch, cfg.num_key_value_heads, max_len, cfg.head_dim, dtype, device)
                self.cache_generation += 1
            elif cache.max_len < max_len or cache.batch < batch:
                attn.cache = (cache.resized(batch, max_len) if keep else
                              KVCache(max(batch, cache.batch), cfg.num_key_value_heads, max(max_len, cache.max_len),
                                      cfg.head_dim, dtype, device))
                self.cache_generation += 1

    def forward(self, x: torch.Tensor, start: int, row: int | None = None) -> torch.Tensor:
        """x: (B, T, C) embeddings at positions [start, start+T) of cache rows [0, B), or of the one
        row `row` -> normed hidden states (B, T, C)."""
        assert self.rope is not None
        cos, sin_signed = self.rope(start, x.shape[1], x.dtype)
        step = self._scripted_for(x.device, x.dtype) if row is None else None
        if step is not None:
            return step(x, start, cos, sin_signed)
        for layer in self.layers:
            x = layer(x, start, cos, sin_signed, row)
        return self.norm(x)

    def _scripted_for(self, device: torch.device | str, dtype: torch.dtype):
        """The scripted step where it may run (on, on the CPU, float32 or bfloat16), else None."""
        if self.scripted and torch.device(device).type == "cpu" and dtype in _SCRIPTED_DTYPES:
            return self.scripted_step()
        return None

    def scripted_step(self):
        """The scripted step (model/scripted.py; None where it does not apply), made once. The
        loader has swapped in its fused and quantized linears by the time a stack steps."""
        if not self._scripted_step:
            from qwentts_cli.model.scripted import scripted_step

            self._scripted_step.append(scripted_step(self))
        return self._scripted_step[0]

    def many_rows_step(self, rows: int):
        """The scripted step for calls over several rows (up to `rows`) where packing pays: float32 on
        a CPU whose torch runs it through oneDNN (ScriptedStep.packed_for), made once per size;
        else None (callers use the stack's own step)."""
        step = self._scripted_for("cpu", torch.float32)
        if step is None or not step.packable():
            return None
        if rows not in self._many_rows_steps:
            self._many_rows_steps[rows] = step.packed_for(rows)
        return self._many_rows_steps[rows]

    def decode_at(self, x: torch.Tensor, positions: torch.Tensor, window: int, step=None) -> torch.Tensor:
        """x: (B, 1, C), row b at position positions[b] ((B,) long, on x's device) -> normed hidden state (B, 1, C).

        Attends over the first `window` cache positions (> every position) with each row's later
        ones masked, so every op has the same shape at every position up to the window and the
        host never reads a position: the form a CUDA graph can capture once and replay per
        frame, and the form in which rows at different positions share one step.
        """
        assert self.rope is not None
        B = x.shape[0]
        cos = self.rope.cos.index_select(0, positions).to(x.dtype).view(B, 1, 1, -1)  # (B, 1, 1, hd)
        sin_signed = self.rope.sin_signed.index_select(0, positions).to(x.dtype).view(B, 1, 1, -1)
        hidden = (torch.arange(window, device=x.device)[None, :] > positions[:, None]).view(B, 1, 1, window)
        step = step or self._scripted_for(x.device, x.dtype)  # `step`: the batched engine's many_rows_step
        if step is not None:
            return step(x, window, cos, sin_signed, positions, hidden)
        for layer in self.layers:
            x = layer.decode_at(x, positions, cos, sin_signed, hidden)
        return self.norm(x)
