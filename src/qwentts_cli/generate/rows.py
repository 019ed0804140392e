"""Token picks for B rows at once, each row with its own settings, state and seeded generator.

What a `TokenPicker` (sampling.py) per row would pick, row for row: the batched engine
(batch.py) must give an utterance the codes it gets alone. Every processor is elementwise or
row-wise (penalty, EOS mask, suppressed ids, temperature, top-k, top-p, softmax), so running
it over many rows gives each row the values it gets alone, as long as the scalars are the
same Python floats: rows are grouped by their settings and each group is processed as one
tensor with that group's scalars. Greedy rows share one argmax. A sampled row draws from its
own generator with `torch.multinomial`, as alone: a generator is a sequence of draws, and a
row's sequence must not depend on its neighbours, so sampled rows draw one by one (one
small call per sampled row per pick; greedy rows need none).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from qwentts_cli.config import SamplingConfig
from qwentts_cli.generate.sampling import CONTROL_TOKENS, MIN_NEW_TOKENS, repetition_penalized, sample_probabilities


@dataclass(frozen=True)
class PickSettings:
    """One row's picking settings (a TokenPicker's scalars)."""

    do_sample: bool
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0

    @classmethod
    def first_codebook(cls, s: SamplingConfig) -> "PickSettings":
        return cls(s.do_sample, s.temperature, s.top_k, s.top_p, s.repetition_penalty)

    @classmethod
    def predictor(cls, s: SamplingConfig) -> "PickSettings":
        """The code predictor's: the subtalker settings, no penalty."""
        return cls(s.subtalker_do_sample, s.subtalker_temperature, s.subtalker_top_k, s.subtalker_top_p)


class RowPicker:
    """Picks for up to `slots` rows; row r's state is reset when a new utterance takes slot r.

    `eos_id` given: the talker's first codebook (EOS masked for the first MIN_NEW_TOKENS picks,
    control ids suppressed except EOS, unless the row ignores EOS); None: the code predictor
    (no state at all).
    """

    def __init__(self, vocab_size: int, slots: int, device: torch.device, eos_id: int | None = None):
        self.vocab_size, self.eos_id = vocab_size, eos_id
        self.settings: list[PickSettings | None] = [None] * slots
        self.generators: list[torch.Generator | None] = [None] * slots
        self.count = [0] * slots
        self.seen = torch.zeros(slots, vocab_size, dtype=torch.bool, device=device)
        self.suppress = None
        if eos_id is not None:
            self.suppress = torch.zeros(slots, vocab_size, dtype=torch.bool, device=device)

    def reset(self, slot: int, settings: PickSettings, generator: torch.Generator | None,
              ignore_eos: bool = False) -> None:
        self.settings[slot], self.generators[slot], self.count[slot] = settings, generator, 0
        self.seen[slot] = False
        if self.suppress is not None:
            self.suppress[slot] = False
            self.suppress[slot, self.vocab_size - CONTROL_TOKENS :] = True
            if not ignore_eos:
                self.suppress[slot, self.eos_id] = False

    def __call__(self, logits: torch.Tensor, rows: list[int] | None = None) -> torch.Tensor:
        """logits (n, V) of slots [0, n) -> tokens (n, 1) for the slots in `rows` (default: all n).
        The other slots get an argmax that nobody reads; their state and generators are untouched
        (a row that joined and waits for its prefill must not lose a draw)."""
        n = logits.shape[0]
        rows = range(n) if rows is None else rows
        settings = {r: self.settings[r] or PickSettings(False) for r in rows}
        scores = logits.float()
        by_penalty: dict[float, list[int]] = {}
        for r in rows:
            if settings[r].repetition_penalty != 1.0 and self.count[r]:
                by_penalty.setdefault(settings[r].repetition_penalty, []).append(r)
        for penalty, idx in by_penalty.items():
            index = torch.tensor(idx, device=scores.device)
            penalized = repetition_penalized(scores.index_select(0, index), self.seen.index_select(0, index), penalty)
            scores.index_copy_(0, index, penalized)
        if self.eos_id is not None:
            early = [r for r in rows if self.count[r] < MIN_NEW_TOKENS]
            if early:
                scores[torch.tensor(early, device=scores.device), self.eos_id] = float("-inf")
            scores = scores.masked_fill(self.suppress[:n], float("-inf"))
        token = scores.argmax(dim=-1, keepdim=True)
        for (temperature, top_k, top_p), idx in self.sampling_groups(rows).items():
            index = torch.tensor(idx, device=scores.device)
            probs = sample_probabilities(scores.index_select(0, index), temperature, top_k, top_p)
            for j, r in enumerate(idx):
                token[r] = torch.multinomial(probs[j : j + 1], num_samples=1, generator=self.generators[r])[0]
        penalized_rows = [r for r in rows if settings[r].repetition_penalty != 1.0]
        if penalized_rows:
            index = torch.tensor(penalized_rows, device=token.device)
            self.seen.index_put_((index, token[index, 0]), torch.tensor(True, device=token.device))
        self.counted(rows, 1)
        return token

    def sampling_groups(self, rows) -> dict[tuple[float, int, float], list[int]]:
        """The sampled rows among `rows`, grouped by their (temperature, top-k capped at the
        vocabulary, top-p): each group is processed as one tensor with those scalars."""
        groups: dict[tuple[float, int, float], list[int]] = {}
        for r in rows:
            s = self.settings[r]
            if s is not None and s.do_sample:
                top_k = min(s.top_k, self.vocab_size) if s.top_k else 0
                groups.setdefault((s.temperature, top_k, s.top_p), []).append(r)
        return groups

    def plain(self, rows) -> bool:
        """Whether a pick for `rows` needs nothing but the logits, their settings and generators:
        no EOS rule and no repetition penalty (the code predictor's picker)."""
        return self.eos_id is None and all(self.settings[r] is None or self.settings[r].repetition_penalty == 1.0
                                           for r in rows)

    def counted(self, rows, picks: int) -> None:
        """Record `picks` picks for `rows` (made here, or by a fused frame for a plain picker)."""
        for r in rows:
            self.count[r] += picks


