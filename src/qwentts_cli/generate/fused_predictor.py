"""The code predictor's 15 steps of a frame as one TorchScript call.

Per frame the code predictor runs 15 one-position steps (plus the first, two-position one),
each followed by its codebook's head, a pick and an embedding lookup. With every step already
scripted (model/scripted.py), what is left between the steps is Python: building the step's
arguments, the head, the picker's few small ops, the lookup; about a tenth of an int8 frame on
a 2-core CPU. `_predict_codebooks` below runs the whole loop in TorchScript instead: the same
aten ops with the same arguments in the same order as `steps.predict_codebooks` with a plain
picker, so the codes and the summed embedding are the same bit for bit, and a seeded draw takes
the same numbers from the same generator (tests/unit/test_fused_predictor.py).

Used on the CPU, where the code predictor has a scripted step and its heads (and, for the 1.7B,
its input projection) are linears of a kind `run_linear` runs, by one utterance's eager steps
(steps.EagerSteps, a TokenPicker) and by the batched engine (batch.py, a RowPicker: each row its
own settings and generator); and only where the picker needs nothing but the logits, which the
code predictor's always does (no repetition penalty, suppressed token or EOS). The CUDA-graph
steps draw their noise beforehand and keep the Python loop.
"""

from __future__ import annotations

import copy
import functools
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qwentts_cli.generate.rows import RowPicker
from qwentts_cli.generate.sampling import TokenPicker, sample_probabilities
from qwentts_cli.model.layers import GROUPED_MIN_ROWS_X_POSITIONS
from qwentts_cli.model.scripted import (DYNAMIC_INT8, KINDS, ScriptedStep, as_written, linear_lists, run_linear,
                                        script, stack_step)

NO_PROJECTION = -1  # the 0.6B: the talker and its code predictor have one hidden size


def _predictor_step(x: Tensor, start: int, head: int, cos_table: Tensor, sin_table: Tensor, k_caches: List[Tensor],
                    v_caches: List[Tensor], kind: int, packed: List[torch.classes.quantized.LinearPackedParamsBase],
                    weights: List[Tensor], scales: List[Tensor], norms: List[Tensor], final_norm: Tensor,
                    n_heads: int, n_kv_heads: int, head_dim: int, eps: float, masked: float, grouped_from: int,
                    proj_kind: int, proj_packed: List[torch.classes.quantized.LinearPackedParamsBase],
                    proj_weights: List[Tensor], proj_scales: List[Tensor], proj_bias: Optional[Tensor],
                    head_kind: int, head_packed: List[torch.classes.quantized.LinearPackedParamsBase],
                    head_weights: List[Tensor], head_scales: List[Tensor]) -> Tensor:
    """CodePredictor.step: the projection, DecoderStack.forward at [start, start + T), then head
    `head`'s logits of the last position."""
    if proj_kind != -1:
        x = run_linear(x, 0, proj_kind, proj_packed, proj_weights, proj_scales, proj_bias)
    T = x.shape[1]
    cos = cos_table[start : start + T].to(x.dtype)  # RotaryTable.forward
    sin_signed = sin_table[start : start + T].to(x.dtype)
    hidden = stack_step(x, start, None, None, cos, sin_signed, k_caches, v_caches, kind, packed, weights, scales,
                        norms, final_norm, n_heads, n_kv_heads, head_dim, eps, masked, grouped_from)
    return run_linear(hidden, head, head_kind, head_packed, head_weights, head_scales)[:, -1]


def _pick(logits: Tensor, groups: List[Tuple[float, int, float]], group_rows: List[List[int]],
          generators: List[Optional[torch.Generator]]) -> Tensor:
    """rows.RowPicker.__call__ for a plain picker (no penalty, no EOS rule): one argmax for every
    row, then each sampling group (temperature, top_k, top_p) processed as one tensor and each of
    its rows drawn from its own generator. A lone sampled row is TokenPicker's draw, in fewer ops
    and with the same values (the grouped form copies the row, then does the same to it)."""
    scores = logits.float()
    if len(groups) == 1 and scores.shape[0] == 1 and len(group_rows[0]) == 1 and group_rows[0][0] == 0:
        temperature, top_k, top_p = groups[0]
        return torch.multinomial(sample_probabilities(scores, temperature, top_k, top_p), num_samples=1,
                                 generator=generators[0])
    token = scores.argmax(dim=-1, keepdim=True)
    for i in range(len(groups)):
        temperature, top_k, top_p = groups[i]
        rows = group_rows[i]
        probs = sample_probabilities(scores.index_select(0, torch.tensor(rows, device=scores.device)), temperature,
                                     top_k, top_p)
        for j in range(len(rows)):
            token[rows[j]] = torch.multinomial(probs[j : j + 1], num_samples=1, generator=generators[rows[j]])[0]
    return token


def _predict_codebooks(hidden: Tensor, first_embed: Tensor, token: Tensor, tables: List[Tensor], cos_table: Tensor,
                       sin_table: Tensor, k_caches: List[Tensor], v_caches: List[Tensor], kind: int,
                       packed: List[torch.classes.quantized.LinearPackedParamsBase], weights: List[Tensor],
                       scales: List[Tensor], norms: List[Tensor], final_norm: Tensor, n_heads: int, n_kv_heads: int,
                       head_dim: int, eps: float, masked: float, grouped_from: int, proj_kind: int,
                       proj_packed: List[torch.classes.quantized.LinearPackedParamsBase], proj_weights: List[Tensor],
                       proj_scales: List[Tensor], proj_bias: Optional[Tensor], head_kind: int,
                       head_packed: List[torch.classes.quantized.LinearPackedParamsBase], head_weights: List[Tensor],
                       head_scales: List[Tensor], groups: List[Tuple[float, int, float]], group_rows: List[List[int]],
                       generators: List[Optional[torch.Generator]]) -> Tuple[Tensor, Tensor]:
    """steps.predict_codebooks with a plain picker (see `_pick`)."""
    embeds = [first_embed]
    codes = [token]
    n_groups = len(tables) + 1
    logits = _predictor_step(torch.cat((hidden, first_embed), dim=1), 0, 0, cos_table, sin_table, k_caches, v_caches,
                             kind, packed, weights, scales, norms, final_norm, n_heads, n_kv_heads, head_dim, eps,
                             masked, grouped_from, proj_kind, proj_packed, proj_weights, proj_scales, proj_bias,
                             head_kind, head_packed, head_weights, head_scales)
    for g in range(1, n_groups):
        code = _pick(logits, groups, group_rows, generators)
        codes.append(code)
        embeds.append(F.embedding(code, tables[g - 1]))
        if g < n_groups - 1:
            logits = _predictor_step(embeds[-1], g + 1, g, cos_table, sin_table, k_caches, v_caches, kind, packed,
                                     weights, scales, norms, final_norm, n_heads, n_kv_heads, head_dim, eps, masked,
                                     grouped_from, proj_kind, proj_packed, proj_weights, proj_scales, proj_bias,
                                     head_kind, head_packed, head_weights, head_scales)
    return torch.cat(codes, dim=1), torch.cat(embeds, dim=1).sum(1, keepdim=True)


@functools.cache
def _script() -> torch.jit.ScriptFunction | None:
    """`_predict_codebooks` scripted, once per process."""
    return script(_predict_codebooks)


def _linear_args(modules: list[nn.Module]) -> tuple | None:
    """(kind, packed, weights, scales) of linears that `run_linear` runs, all of one kind; None otherwise."""
    kinds = {KINDS.get(type(m)) for m in modules}
    if len(kinds) != 1 or None in kinds:
        return None
    kind = kinds.pop()
    return (kind, *linear_lists(modules, kind))


class FusedPredictor:
    """A code predictor's whole frame as one call: its weights gathered once, its caches and
    RoPE table read per call (setup_caches may replace them)."""

    def __init__(self, talker: nn.Module, stack_step: ScriptedStep, function: torch.jit.ScriptFunction,
                 heads: tuple, projection: tuple | None, projection_bias: Tensor | None):
        self.talker, self.step, self.function = talker, stack_step, function
        self.heads = heads
        self.projection = projection or (NO_PROJECTION, [], [], [])
        self.projection_bias = projection_bias
        self.tables = [table.weight.detach() for table in talker.code_predictor.model.codec_embedding]

    def __call__(self, hidden: Tensor, token: Tensor, groups: list[tuple[float, int, float]],
                 group_rows: list[list[int]], generators: list[torch.Generator | None]) -> tuple[Tensor, Tensor]:
        """predict_codebooks(talker, hidden, token, pick) for rows [0, B) picked as `_pick` says."""
        stack = self.talker.code_predictor.model
        step = self.step
        caches = [layer.self_attn.cache for layer in step.layers]
        with as_written():
            return self.function(hidden, self.talker.embed_codec(token), token, self.tables, stack.rope.cos,
                                 stack.rope.sin_signed, [c.k for c in caches], [c.v for c in caches], step.kind,
                                 step.packed, step.weights, step.scales, step.norms, step.final_norm, *step.shape,
                                 step.eps, torch.finfo(hidden.dtype).min, GROUPED_MIN_ROWS_X_POSITIONS,
                                 *self.projection, self.projection_bias, *self.heads, groups, group_rows, generators)

    def with_step(self, stack_step: ScriptedStep) -> "FusedPredictor":
        """This frame with another step of the same stack (DecoderStack.many_rows_step)."""
        fused = copy.copy(self)
        fused.step = stack_step
        return fused

    def one_row(self, hidden: Tensor, token: Tensor, pick: TokenPicker) -> tuple[Tensor, Tensor]:
        """One utterance's frame (steps.EagerSteps), its codebooks picked by a plain TokenPicker."""
        sampled = [(float(pick.temperature), int(pick.top_k), float(pick.top_p))] if pick.do_sample else []
        out = self(hidden, token, sampled, [[0]] if sampled else [], [pick.generator])
        pick.count += len(self.tables)  # as 15 calls of the picker would leave it
        return out

    def rows(self, hidden: Tensor, token: Tensor, pick: RowPicker, rows: list[int]) -> tuple[Tensor, Tensor]:
        """The batched engine's frame over slots [0, B), `rows` of them in use, picked by a plain RowPicker."""
        groups = pick.sampling_groups(rows)
        out = self(hidden, token, [(float(t), int(k), float(p)) for t, k, p in groups], list(groups.values()),
                   pick.generators[: hidden.shape[0]])
        pick.counted(rows, len(self.tables))
        return out


def plain_picker(pick: object) -> bool:
    """Whether `pick` is a TokenPicker that needs nothing but the logits: no penalty, EOS or suppressed tokens."""
    return type(pick) is TokenPicker and pick.penalty == 1.0 and pick.eos_id is None and pick.suppress is None


def fused_predictor(talker: nn.Module, device: torch.device, dtype: torch.dtype) -> FusedPredictor | None:
    """The fused frame of `talker`'s code predictor, or None where it does not apply (see the module
    docstring): where its stack steps eagerly (off the CPU, or `scripted` off), the heads have
    biases, or a linear is of a kind `run_linear` does not run."""
    predictor = talker.code_predictor
    step = predictor.model._scripted_for(device, dtype)
    if step is None:
        return None
    heads = _linear_args(list(predictor.lm_head))
    # (A DynamicInt8Linear has no `bias`: fbgemm packed it with the weight.)
    if heads is None or any(getattr(m, "bias", None) is not None for m in predictor.lm_head):
        return None
    projection, bias = None, None
    proj = predictor.small_to_mtp_projection
    if not isinstance(proj, nn.Identity):
        projection = _linear_args([proj])
        if projection is None:
            return None
        bias = None if projection[0] == DYNAMIC_INT8 or proj.bias is None else proj.bias.detach()
    function = _script()
    return None if function is None else FusedPredictor(talker, step, function, heads, projection, bias)
