"""New positions through a decoder stack as one TorchScript call: the same kernels, without Python between them.

A frame runs ~100 layer steps of one position each (the talker once, the code predictor 15
times) and each step is ~40 small ops, so on a CPU the Python and dispatcher time between the
kernels is a third of an int8 frame. TorchScript runs `stack_step` below in C++: every op is
the same aten call with the same arguments, in the same order, as the eager layers
(layers.py) make, so the result is the same bit for bit (tests/unit/test_scripted.py), while a
step costs 25-35% less with int8 linears and a few percent less in float32 (docs/benchmark.md).

Not `torch.compile`: its fused kernels round differently, and it compiles for tens of seconds
(docs/benchmark.md, "Tried and not shipped"). The functions here are scripted once per process
(0.02 s); the weights are passed in as lists, so stacks of any depth and every linear kind
share them.

Used only where the eager graph is this one: the CPU; float32 or bfloat16 activations (with
float, int8 or int8-weight linears); new positions for rows that share their cache positions
(a prompt's prefill, a frame's step), or one per row, each at its own, over a masked window
(the batched engine's talker step); the loader's fused q/k/v and gate/up; q/k RMSNorm;
bias-free linears of one kind. Anything else, or a torch whose TorchScript cannot script this,
keeps the eager layers. generate/fused_predictor.py calls `stack_step` and `run_linear` from a
scripted frame of the code predictor.
"""

from __future__ import annotations

import copy
import functools
import warnings
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qwentts_cli.model.layers import GROUPED_MIN_ROWS_X_POSITIONS, grouped_matmul
from qwentts_cli.model.packed import PackedLinear, packed_linear
from qwentts_cli.model.packed import float32_available as packed_float32_available
from qwentts_cli.model.quantize import DynamicInt8Linear, WeightOnlyInt8Linear

# The linear kinds of a stack (all its linears are of one kind).
FLOAT, DYNAMIC_INT8, WEIGHT_INT8, PACKED = 0, 1, 2, 3
KINDS = {nn.Linear: FLOAT, DynamicInt8Linear: DYNAMIC_INT8, WeightOnlyInt8Linear: WEIGHT_INT8, PackedLinear: PACKED}


def run_linear(x: Tensor, j: int, kind: int, packed: List[torch.classes.quantized.LinearPackedParamsBase],
               weights: List[Tensor], scales: List[Tensor], bias: Optional[Tensor] = None) -> Tensor:
    """Linear j of the list: the forward of nn.Linear, DynamicInt8Linear (its bias is packed with
    it), WeightOnlyInt8Linear or PackedLinear. (`kind` is compared with literals: DYNAMIC_INT8 is
    1, WEIGHT_INT8 2, PACKED 3.)"""
    if kind == 3:
        return packed_linear(x, weights[j], bias)
    if kind == 1:
        return torch.ops.quantized.linear_dynamic(x.float(), packed[j], False).to(x.dtype)
    if kind == 2:
        flat = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
        y = torch._weight_int8pack_mm(flat, weights[j], scales[j]).to(x.dtype)
        if bias is not None:
            y = y + bias.to(x.dtype)
        return y.view(list(x.shape[:-1]) + [-1])
    return F.linear(x, weights[j], bias)


def _rms_norm(x: Tensor, weight: Optional[Tensor], eps: float) -> Tensor:
    """RMSNorm.forward (weight given) or rms_normalize (None): the fused call in float32, else the
    official expression (normalize in float32, scale in the input's dtype)."""
    if x.dtype == torch.float32:
        return F.rms_norm(x, [x.shape[-1]], weight, eps)
    dtype = x.dtype
    y = x.float()
    y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + eps)
    if weight is None:
        return y.to(dtype)
    return weight * y.to(dtype)


def stack_step(x: Tensor, start: int, positions: Optional[Tensor], hidden: Optional[Tensor], cos: Tensor,
               sin_signed: Tensor, k_caches: List[Tensor], v_caches: List[Tensor], kind: int,
               packed: List[torch.classes.quantized.LinearPackedParamsBase], weights: List[Tensor],
               scales: List[Tensor], norms: List[Tensor], final_norm: Tensor, n_heads: int, n_kv_heads: int,
               head_dim: int, eps: float, masked: float, grouped_from: int) -> Tensor:
    """New positions for rows [0, B): DecoderStack.forward of x (B, T, C) at cache positions
    [start, start + T) (positions None), or DecoderStack.decode_at (T = 1), row b at positions[b]
    over the first `start` cache positions with `hidden` (B, 1, 1, start) masking each row's later
    ones. Masked scores are set to `masked`, torch.finfo(dtype).min, which TorchScript cannot ask
    for; `grouped_from` is layers.GROUPED_MIN_ROWS_X_POSITIONS (a global TorchScript cannot read).
    Linears 4i..4i+3 are layer i's q/k/v, o, gate/up and down; norms 4i..4i+3 its input,
    post-attention, q and k norm weights."""
    B, T = x.shape[0], x.shape[1]
    nh, nkv, hd = n_heads, n_kv_heads, head_dim
    end = start + T if positions is None else start
    if positions is None and T > 1:
        # Attention.forward's mask: causal within the new block, every cached position before it visible.
        hidden = ~torch.ones(T, end, dtype=torch.bool, device=x.device).tril(diagonal=end - T)
    for i in range(len(k_caches)):
        # Attention.heads: fused projection, q/k RMSNorm in one call and their scales, RoPE.
        h = _rms_norm(x, norms[4 * i], eps)
        qk, v = run_linear(h, 4 * i, kind, packed, weights, scales).split([nh * hd + nkv * hd, nkv * hd], dim=-1)
        qk = _rms_norm(qk.reshape(B, T, nh + nkv, hd), None, eps)
        qk[:, :, :nh].mul_(norms[4 * i + 2])
        qk[:, :, nh:].mul_(norms[4 * i + 3])
        qk = qk.transpose(1, 2)
        qk = qk * cos + qk.roll(hd // 2, dims=-1) * sin_signed
        q, k = qk.split([nh, nkv], dim=1)
        v = v.reshape(B, T, nkv, hd).transpose(1, 2)
        # KVCache.update for rows [0, B) (or KVCache.write_at), then Attention.attend (grouped where it is).
        if positions is None:
            k_caches[i][0:B, :, start:end] = k
            v_caches[i][0:B, :, start:end] = v
        else:
            index = positions.view(B, 1, 1, 1).expand(B, nkv, 1, hd)
            k_caches[i][:B].scatter_(2, index, k)
            v_caches[i][:B].scatter_(2, index, v)
        k = k_caches[i][0:B, :, :end]
        v = v_caches[i][0:B, :, :end]
        groups = nh // nkv
        grouped = groups > 1 and B * end >= grouped_from
        if grouped:
            scores = grouped_matmul(q, k.transpose(2, 3), groups) * hd**-0.5
        else:
            if groups > 1:
                k = k[:, :, None].expand(B, nkv, groups, end, hd).reshape(B, nh, end, hd)
                v = v[:, :, None].expand(B, nkv, groups, end, hd).reshape(B, nh, end, hd)
            scores = torch.matmul(q, k.transpose(2, 3)) * hd**-0.5
        if hidden is not None:
            scores = scores.masked_fill(hidden, masked)
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        values = grouped_matmul(probs, v, groups) if grouped else torch.matmul(probs, v)
        out = values.transpose(1, 2).reshape(B, T, -1)
        x = x + run_linear(out, 4 * i + 1, kind, packed, weights, scales)
        # MLP.forward on the post-attention norm.
        h = _rms_norm(x, norms[4 * i + 1], eps)
        gate, up = run_linear(h, 4 * i + 2, kind, packed, weights, scales).chunk(2, dim=-1)
        x = x + run_linear(F.silu(gate) * up, 4 * i + 3, kind, packed, weights, scales)
    return _rms_norm(x, final_norm, eps)


def script(function):
    """`function` as a TorchScript function, or None where this torch cannot script it (then its
    callers run eagerly, which is exact too)."""
    try:
        with warnings.catch_warnings():
            # torch 2.13 marks torch.jit.script deprecated in favour of torch.compile, which
            # changes rounding (see above).
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(function)
    except Exception:
        return None


def as_written():
    """Where a scripted function here runs: its graph as written, without TorchScript's profiling
    executor. That executor runs a function's first calls instrumented and then re-optimizes it,
    which made the first two frames of the 0.6B code predictor 0.2-0.45 s slower each, for
    nothing: on a CPU it has nothing to fuse in these graphs, and the steady state was the same
    (docs/benchmark.md). Also the surest way to run exactly the ops written. (A thread-local flag,
    set for the call only: other TorchScript in the process is left as it is.)"""
    return torch.jit.optimized_execution(False)


@functools.cache
def _script() -> torch.jit.ScriptFunction | None:
    """`stack_step` scripted, once per process."""
    return script(stack_step)


def linear_lists(linears: list[nn.Module], kind: int) -> tuple[list, list[Tensor], list[Tensor]]:
    """The (packed, weights, scales) lists `run_linear` reads for `linears`, all of `kind`."""
    if kind == DYNAMIC_INT8:
        return [m.packed for m in linears], [], []
    if kind == WEIGHT_INT8:
        return [], [m.weight_int8 for m in linears], [m.scale for m in linears]
    return [], [m.weight.detach() for m in linears], []  # FLOAT, PACKED


class ScriptedStep:
    """A stack's scripted step: its weights gathered once, its caches read per call
    (setup_caches may replace them). Holds no copies: every tensor is the stack's own."""

    def __init__(self, stack: nn.Module, function: torch.jit.ScriptFunction, kind: int):
        self.function, self.kind = function, kind
        linears = [m for layer in stack.layers for m in (layer.self_attn.qkv_proj, layer.self_attn.o_proj,
                                                         layer.mlp.gate_up_proj, layer.mlp.down_proj)]
        self.packed, self.weights, self.scales = linear_lists(linears, kind)
        self.norms = [w.detach() for layer in stack.layers
                      for w in (layer.input_layernorm.weight, layer.post_attention_layernorm.weight,
                                layer.self_attn.q_norm.weight, layer.self_attn.k_norm.weight)]
        self.final_norm = stack.norm.weight.detach()
        attn = stack.layers[0].self_attn
        self.shape = (attn.n_heads, attn.n_kv_heads, attn.head_dim)
        self.eps = float(stack.cfg.rms_norm_eps)
        self.layers = stack.layers

    def packable(self) -> bool:
        """Whether `packed_for` applies: plain float32 linears on the CPU, and a torch whose oneDNN runs float32."""
        return (self.kind == FLOAT and bool(self.weights) and packed_float32_available()
                and all(w.dtype == torch.float32 and w.device.type == "cpu" for w in self.weights))

    def packed_for(self, rows: int) -> "ScriptedStep":
        """This float32 step with its linears' weights reordered once for oneDNN's matmul at `rows`
        rows (model/packed.py), for the batched engine's steps over several rows: there MKL's
        float32 GEMM streams the weights at less than half its one-row rate, oneDNN's packed one at
        about its one-row rate (docs/benchmark.md, "An AMX Xeon"). A second copy of the weights: the
        plain ones stay for single rows and prefills, which must be the official products bit for
        bit. Several rows' products round differently from one row's with either kernel."""
        if not self.packable():
            raise ValueError("packed_for packs a float32 step of plain linears on a CPU with oneDNN")
        step = copy.copy(self)
        step.kind = PACKED
        step.weights = [torch.ops.mkldnn._reorder_linear_weight(w, rows) for w in self.weights]
        return step

    def __call__(self, x: Tensor, start: int, cos: Tensor, sin_signed: Tensor, positions: Tensor | None = None,
                 hidden: Tensor | None = None) -> Tensor:
        """DecoderStack.forward's new positions from `start`; with `positions` and `hidden`,
        DecoderStack.decode_at's step over a window of `start` cache positions."""
        caches = [layer.self_attn.cache for layer in self.layers]
        with as_written():
            return self.function(x, start, positions, hidden, cos, sin_signed, [c.k for c in caches],
                                 [c.v for c in caches], self.kind, self.packed, self.weights, self.scales, self.norms,
                                 self.final_norm, *self.shape, self.eps, torch.finfo(x.dtype).min,
                                 GROUPED_MIN_ROWS_X_POSITIONS)


def linear_kind(stack: nn.Module) -> int | None:
    """The one kind of every linear `stack_step` reads, or None where the stack is not the graph scripted:
    unfused, without q/k norms, with biases or norms of their own eps, mixed kinds, off the CPU."""
    kinds = set()
    eps = stack.cfg.rms_norm_eps
    for layer in stack.layers:
        attn = layer.self_attn
        if attn.qkv_proj is None or layer.mlp.gate_up_proj is None or attn.q_norm is None:
            return None
        if any(norm.eps != eps for norm in (layer.input_layernorm, layer.post_attention_layernorm, attn.q_norm,
                                            attn.k_norm)):
            return None
        for m in (attn.qkv_proj, attn.o_proj, layer.mlp.gate_up_proj, layer.mlp.down_proj):
            if type(m) not in KINDS or (not isinstance(m, DynamicInt8Linear) and m.bias is not None):
                return None
            kinds.add(KINDS[type(m)])
    if len(kinds) != 1 or stack.norm.eps != eps or stack.norm.weight.device.type != "cpu":
        return None
    return kinds.pop()


def scripted_step(stack: nn.Module) -> ScriptedStep | None:
    """The scripted step of `stack`, or None where it does not apply or cannot be scripted."""
    kind = linear_kind(stack)
    if kind is None:
        return None
    function = _script()
    return None if function is None else ScriptedStep(stack, function, kind)
