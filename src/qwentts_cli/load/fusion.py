"""Fused projections: q/k/v and gate/up each as one matrix, built while loading.

The modules declare which of their linears fuse (`FUSED_PARTS`); the checkpoint stores them
apart. The loader fuses on the meta device before any weight is read, and writes each part's
rows straight into its fused tensor (tensors.fuse_rows): one pass over fresh memory.
"""

from __future__ import annotations

import torch
from torch import nn


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


def fuse_projections(module: nn.Module) -> None:
    """Fuse every group of `FUSED_PARTS` below `module` (on meta before loading, or on loaded weights)."""
    for sub in [sub for sub in module.modules() if getattr(sub, "FUSED_PARTS", None)]:
        fuse_parts(sub)
