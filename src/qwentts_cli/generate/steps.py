"""The step protocol of the frame loop, and its eager implementation.

A frame is: pick codebook 0 from the talker's logits, run the code predictor for codebooks
1..15, then one talker step on the sum of the 16 codebook embeddings (plus the next text
row). `FrameSteps` names those three steps over B rows, each row at its own cache position;
the loop (loop.py) cannot tell the implementations apart:

- `EagerSteps` (here): the talker attends over exactly the positions it has, as the official
  code does; one row (its position is `span - 1`).
- `GraphSteps` (graphs.py): fixed-shape steps over a masked window, with device-side
  positions, replayed as CUDA graphs on a GPU. The masked window is also the form in which
  rows at different positions share one step (the batching issue builds on it).
- `TimedSteps` (timing.py) wraps either and times each step.
"""

from __future__ import annotations

from typing import Protocol

import torch

from qwentts_cli.generate.fused_predictor import fused_predictor, plain_picker
from qwentts_cli.generate.sampling import TokenPicker
from qwentts_cli.model.talker import Talker


class FrameSteps(Protocol):
    """One utterance's steps over B rows. Tensors: hidden (B, 1, C), logits (B, V), codes (B, 16)."""

    def prefill(self, embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The prompt (B, L, C) at positions [0, L) -> (hidden, logits) of its last position."""
        ...

    def frame(self, hidden: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Codebook 0 from `logits`, then codebooks 1..15 -> (codes, the talker's next input (B, 1, C));
        None once EOS ends the utterance."""
        ...

    def talker_step(self, embeds: torch.Tensor, positions: torch.Tensor, span: int) -> tuple[torch.Tensor, torch.Tensor]:
        """embeds (B, 1, C), row b at positions[b] ((B,) long, on the device) -> (hidden, logits).
        `span` (known on the host): 1 + the largest position, the cache positions in use after this step."""
        ...


def predict_codebooks(talker: Talker, hidden: torch.Tensor, token: torch.Tensor, pick: TokenPicker,
                      noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Codebooks 1..15 for frames whose codebook 0 is `token`: the code predictor's 15 steps.

    hidden: the talker's last hidden state (B, 1, C); token: (B, 1); noise: exponential draws for
    the 15 picks instead of torch.multinomial (see TokenPicker), (15, V) for B = 1 or (15, B, V).
    Returns the codes (B, 16) and the talker's next input: the sum of the 16 codebook embeddings (B, 1, C).
    """
    predictor = talker.code_predictor
    n_groups = predictor.cfg.num_code_groups
    embeds = [talker.embed_codec(token)]  # (B, 1, C) each
    codes = [token]
    # Its own short cache, from position 0 at every frame: [hidden, embed(code 0)], then one code per step.
    logits = predictor.step(torch.cat((hidden, embeds[0]), dim=1), 0, head=0)
    for g in range(1, n_groups):
        draws = None if noise is None else noise[g - 1] if noise.dim() == 3 else noise[g - 1 : g]  # (B, V)
        code = pick(logits, draws)
        codes.append(code)
        embeds.append(predictor.model.codec_embedding[g - 1](code))
        if g < n_groups - 1:
            logits = predictor.step(embeds[-1], g + 1, head=g)
    return torch.cat(codes, dim=1), torch.cat(embeds, dim=1).sum(1, keepdim=True)


class EagerSteps:
    """The talker and code predictor called step by step, one row, as the official generate runs them."""

    def __init__(self, talker: Talker, pick_first: TokenPicker, pick_rest: TokenPicker, eos_id: int,
                 positions: int, dtype: torch.dtype, device: torch.device):
        self.talker, self.pick_first, self.pick_rest, self.eos_id = talker, pick_first, pick_rest, eos_id
        talker.model.setup_caches(positions, dtype, device)
        talker.code_predictor.model.setup_caches(talker.cfg.predictor.num_code_groups, dtype, device)
        # The code predictor's frame as one TorchScript call where it applies (the same ops, bit for bit).
        self.fused = fused_predictor(talker, device, dtype) if plain_picker(pick_rest) else None

    def prefill(self, embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.talker(embeds, 0)

    def frame(self, hidden: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        token = self.pick_first(logits)
        if int(token) == self.eos_id:  # before the predictor: an EOS frame's other codebooks are never used
            return None
        if self.fused is not None:
            return self.fused.one_row(hidden, token, self.pick_rest)
        return predict_codebooks(self.talker, hidden, token, self.pick_rest)

    def talker_step(self, embeds: torch.Tensor, positions: torch.Tensor, span: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.talker(embeds, span - 1)  # one row: its position is the last one in use
