"""Turning logits into tokens as transformers' `generate` does for the official settings.

Greedy, or temperature / top-k / top-p and a multinomial draw; or, where the host must not wait
(CUDA graphs), the same draw made as argmax(p / E) with exponential noise E drawn beforehand.
"""

from __future__ import annotations

import torch

from qwentts_cli.config import SamplingConfig

# The official generate asks for at least two new tokens before EOS may end the talker.
MIN_NEW_TOKENS = 2
# The top 1024 ids of the talker's vocabulary are control tokens; all but EOS are never sampled.
CONTROL_TOKENS = 1024


class TokenPicker:
    """Turns logits into a token the way transformers' generate does for these settings.

    Order of processors, as in `GenerationMixin._get_logits_processor`: repetition penalty,
    min-new-tokens (EOS masked), suppressed tokens, then temperature, top-k, top-p, and a
    multinomial draw; greedy takes the argmax of the processed scores.
    """

    def __init__(
        self,
        vocab_size: int,
        do_sample: bool,
        temperature: float,
        top_k: int,
        top_p: float,
        repetition_penalty: float = 1.0,
        suppress: torch.Tensor | None = None,
        eos_id: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        batch: int = 1,
    ):
        self.do_sample = do_sample
        self.temperature = temperature
        self.top_k = min(top_k, vocab_size) if top_k else 0
        self.top_p = top_p
        self.penalty = repetition_penalty
        self.suppress = suppress
        self.eos_id = eos_id
        self.generator = generator
        # Tokens drawn so far per row, for the repetition penalty (only kept when there is one).
        self.seen = torch.zeros(batch, vocab_size, dtype=torch.bool, device=device) if repetition_penalty != 1.0 else None
        self.count = 0

    def __call__(self, logits: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """logits (B, V) -> tokens (B, 1).

        `noise` (B, V), i.i.d. Exp(1), makes a sampled draw argmax(p / noise) instead of
        torch.multinomial: a draw from the same distribution that needs no generator call and
        no host sync (the CUDA-graph path draws the noise before each replay).
        """
        scores = logits.float()
        if self.penalty != 1.0 and self.count:
            scores = repetition_penalized(scores, self.seen, self.penalty)
        if self.eos_id is not None and self.count < MIN_NEW_TOKENS:
            scores[:, self.eos_id].fill_(float("-inf"))
        if self.suppress is not None:
            scores = scores.masked_fill(self.suppress, float("-inf"))
        if not self.do_sample:
            token = scores.argmax(dim=-1, keepdim=True)
        else:
            token = self._sample(scores, noise)
        if self.seen is not None:
            self.seen.scatter_(1, token, True)
        self.count += 1
        return token

    def _sample(self, scores: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        probs = sample_probabilities(scores, self.temperature, self.top_k, self.top_p)
        if noise is not None:
            # The exponential race: argmax_i p_i / E_i is distributed as p (what multinomial draws).
            # (A CPU exponential_ can return 0; 0/0 would be NaN, which argmax would pick.)
            return (probs / noise.clamp_min(torch.finfo(noise.dtype).tiny)).argmax(dim=-1, keepdim=True)
        return torch.multinomial(probs, num_samples=1, generator=self.generator)


def repetition_penalized(scores: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """transformers' repetition penalty: seen tokens' scores divided by `penalty` (multiplied when
    negative). Elementwise with a Python scalar, so rows of one penalty may share a call (rows.py)."""
    return torch.where(seen, torch.where(scores < 0, scores * penalty, scores / penalty), scores)


def sample_probabilities(scores: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """Temperature, top-k (0: off; at most the vocabulary), top-p, softmax: the distribution a
    sampled token is drawn from. Row-wise, so a group of rows with the same settings gets each
    row's values alone (generate/rows.py)."""
    if temperature != 1.0:
        scores = scores / temperature
    if top_k:
        kth = torch.topk(scores, top_k)[0][..., -1, None]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p < 1.0:
        sorted_scores, order = torch.sort(scores, descending=False)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative <= (1 - top_p)
        remove[..., -1:].fill_(False)  # fill_, not `= False`: no host-made tensor (CUDA graphs)
        scores = scores.masked_fill(remove.scatter(1, order, remove), float("-inf"))
    return scores.softmax(dim=-1)


def first_codebook_picker(vocab_size: int, eos_id: int, sampling: SamplingConfig, ignore_eos: bool,
                          generator: torch.Generator | None, device: torch.device) -> TokenPicker:
    """The talker's picker: control ids never sampled, except EOS (also masked with `ignore_eos`,
    so that a benchmark runs exactly the frames it asks for)."""
    suppress = torch.zeros(1, vocab_size, dtype=torch.bool, device=device)
    suppress[:, vocab_size - CONTROL_TOKENS :] = True
    if not ignore_eos:
        suppress[:, eos_id] = False
    return TokenPicker(vocab_size, sampling.do_sample, sampling.temperature, sampling.top_k, sampling.top_p,
                       sampling.repetition_penalty, suppress=suppress, eos_id=eos_id, generator=generator,
                       device=device)


def predictor_picker(vocab_size: int, sampling: SamplingConfig, generator: torch.Generator | None,
                     device: torch.device) -> TokenPicker:
    """The code predictor's picker (codebooks 1..15): the subtalker settings, no penalty, no EOS."""
    return TokenPicker(vocab_size, sampling.subtalker_do_sample, sampling.subtalker_temperature,
                       sampling.subtalker_top_k, sampling.subtalker_top_p, generator=generator, device=device)
