"""One new position through a decoder stack as a TorchScript module: the same kernels, without Python between them.

A frame runs ~100 layer steps of one position each (the talker once, the code predictor 15
times) and each step is ~40 small ops, so on a CPU the Python and dispatcher time between the
kernels is a third of an int8 frame. TorchScript runs the graph below in C++: every op is
the same aten call with the same arguments, in the same order, as the eager layers
(layers.py) make, so the result is the same bit for bit (tests/unit/test_scripted.py), while a
step costs 25-35% less with int8 linears and 6-8% less in float32 (docs/benchmark.md).

Not `torch.compile`: its fused kernels round differently, and it compiles for tens of seconds
(docs/benchmark.md, "Tried and not shipped"). Scripting a stack takes 0.05-0.25 s, once per
process, at its first one-position step.

Used only where the eager graph is this one: the CPU, float32 activations (float32, int8,
int8-weight), one position for every row at the same cache position, the loader's fused q/k/v
and gate/up, q/k RMSNorm. Anything else, or a torch whose TorchScript cannot script it, keeps
the eager layers.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn


class _OnePositionLayer(nn.Module):
    """DecoderLayer.forward for T = 1, with every tensor shared with the eager layer (no copies)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        attn, mlp = layer.self_attn, layer.mlp
        self.qkv = attn.qkv_proj
        self.o = attn.o_proj
        self.gate_up = mlp.gate_up_proj
        self.down = mlp.down_proj
        self.input_norm = layer.input_layernorm.weight.detach()
        self.post_norm = layer.post_attention_layernorm.weight.detach()
        self.q_norm = attn.q_norm.weight.detach()
        self.k_norm = attn.k_norm.weight.detach()
        self.input_eps = float(layer.input_layernorm.eps)
        self.post_eps = float(layer.post_attention_layernorm.eps)
        self.qk_eps = float(attn.q_norm.eps)
        self.n_heads, self.n_kv_heads, self.head_dim = attn.n_heads, attn.n_kv_heads, attn.head_dim
        self.hidden = int(self.input_norm.shape[0])
        self.scale = attn.head_dim**-0.5

    def forward(self, x: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, start: int,
                cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        nh, nkv, hd = self.n_heads, self.n_kv_heads, self.head_dim
        # Attention.heads: fused projection, q/k RMSNorm in one call and their scales, RoPE.
        h = F.rms_norm(x, [self.hidden], self.input_norm, self.input_eps)
        qk, v = self.qkv(h).split([nh * hd + nkv * hd, nkv * hd], dim=-1)
        qk = F.rms_norm(qk.reshape(B, 1, nh + nkv, hd), [hd], None, self.qk_eps)
        qk[:, :, :nh].mul_(self.q_norm)
        qk[:, :, nh:].mul_(self.k_norm)
        qk = qk.transpose(1, 2)
        qk = qk * cos + qk.roll(hd // 2, dims=-1) * sin_signed
        q, k = qk.split([nh, nkv], dim=1)
        v = v.reshape(B, 1, nkv, hd).transpose(1, 2)
        # KVCache.update for rows [0, B), then Attention.attend with no mask.
        end = start + 1
        k_cache[0:B, :, start:end] = k
        v_cache[0:B, :, start:end] = v
        k = k_cache[0:B, :, :end]
        v = v_cache[0:B, :, :end]
        groups = nh // nkv
        if groups > 1:
            k = k[:, :, None].expand(B, nkv, groups, end, hd).reshape(B, nh, end, hd)
            v = v[:, :, None].expand(B, nkv, groups, end, hd).reshape(B, nh, end, hd)
        scores = torch.matmul(q, k.transpose(2, 3)) * self.scale
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(B, 1, -1)
        x = x + self.o(out)
        # MLP.forward on the post-attention norm.
        gate, up = self.gate_up(F.rms_norm(x, [self.hidden], self.post_norm, self.post_eps)).chunk(2, dim=-1)
        return x + self.down(F.silu(gate) * up)


class _OnePositionStack(nn.Module):
    """DecoderStack.forward for T = 1 (no row): every layer, then the final norm."""

    def __init__(self, stack: nn.Module):
        super().__init__()
        self.layers = nn.ModuleList(_OnePositionLayer(layer) for layer in stack.layers)
        self.norm = stack.norm.weight.detach()
        self.eps = float(stack.norm.eps)
        self.hidden = int(self.norm.shape[0])

    def forward(self, x: torch.Tensor, k_caches: list[torch.Tensor], v_caches: list[torch.Tensor], start: int,
                cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
        i = 0
        for layer in self.layers:
            x = layer(x, k_caches[i], v_caches[i], start, cos, sin_signed)
            i += 1
        return F.rms_norm(x, [self.hidden], self.norm, self.eps)


def scriptable(stack: nn.Module) -> bool:
    """Whether `stack`'s layers have the parts the scripted graph assumes (fused, q/k-normed, on the CPU)."""
    for layer in stack.layers:
        attn = layer.self_attn
        if attn.qkv_proj is None or layer.mlp.gate_up_proj is None or attn.q_norm is None:
            return False
    return stack.norm.weight.device.type == "cpu"


def script_one_position(stack: nn.Module) -> torch.jit.ScriptModule | None:
    """The scripted one-position step of `stack`, or None where it does not apply or cannot be scripted."""
    if not scriptable(stack):
        return None
    try:
        with warnings.catch_warnings():
            # torch 2.13 marks torch.jit.script deprecated in favour of torch.compile, which
            # changes rounding (see above); a torch without it falls back to eager below.
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(_OnePositionStack(stack))
    except Exception:  # an unscriptable linear, a torch without TorchScript: the eager layers are exact too
        return None
