"""The talker (first codebook, one step per 80 ms frame) and its code predictor (the other 15).

Per frame: the talker reads the sum of the previous frame's 16 codebook embeddings plus a
text embedding and predicts codebook 0; the code predictor, a small decoder with its own
short KV cache, then runs 15 sequential steps from [talker hidden, embed(code 0)] to fill
codebooks 1..15. Module names follow the checkpoint (`talker.*`) so weights load by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qwentts_cli.config import DecoderStackConfig, TalkerConfig
from qwentts_cli.model.layers import DecoderStack, Embedding


class TextProjection(nn.Module):
    """Text embedding (text_hidden_size) -> talker hidden size: Linear, SiLU, Linear."""

    def __init__(self, text_hidden: int, hidden: int):
        super().__init__()
        self.linear_fc1 = nn.Linear(text_hidden, text_hidden, bias=True)
        self.linear_fc2 = nn.Linear(text_hidden, hidden, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_fc2(F.silu(self.linear_fc1(x)))


class TalkerBackbone(DecoderStack):
    """The talker's decoder stack plus its two input embedding tables."""

    def __init__(self, cfg: TalkerConfig):
        super().__init__(cfg.stack)
        self.codec_embedding = Embedding(cfg.stack.vocab_size, cfg.stack.hidden_size)
        self.text_embedding = Embedding(cfg.text_vocab_size, cfg.text_hidden_size)


class PredictorBackbone(DecoderStack):
    """The code predictor's decoder stack plus one embedding table per codebook 1..15.

    Its embeddings live in the talker's hidden size: they are summed into the talker's
    next input, and projected down to the predictor's size before its layers.
    """

    def __init__(self, cfg: DecoderStackConfig, talker_hidden: int):
        super().__init__(cfg)
        self.codec_embedding = nn.ModuleList(
            Embedding(cfg.vocab_size, talker_hidden) for _ in range(cfg.num_code_groups - 1)
        )


class CodePredictor(nn.Module):
    def __init__(self, cfg: DecoderStackConfig, talker_hidden: int):
        super().__init__()
        self.cfg = cfg
        self.model = PredictorBackbone(cfg, talker_hidden)
        self.lm_head = nn.ModuleList(
            nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False) for _ in range(cfg.num_code_groups - 1)
        )
        # The 1.7B talker is wider than its predictor; the 0.6B's are equal and have no projection.
        self.small_to_mtp_projection: nn.Module = (
            nn.Linear(talker_hidden, cfg.hidden_size, bias=True) if cfg.hidden_size != talker_hidden else nn.Identity()
        )

    def step(self, embeds: torch.Tensor, start: int, head: int) -> torch.Tensor:
        """embeds (B, T, talker_hidden) at predictor positions [start, start+T) -> logits of the last (B, V)."""
        hidden = self.model(self.small_to_mtp_projection(embeds), start)
        # The head runs over every position, as the official forward does, so a prefill's
        # last row comes from the same matrix product (M>1 and M=1 kernels may round apart).
        return self.lm_head[head](hidden)[:, -1]


class Talker(nn.Module):
    def __init__(self, cfg: TalkerConfig):
        super().__init__()
        self.cfg = cfg
        self.model = TalkerBackbone(cfg)
        self.text_projection = TextProjection(cfg.text_hidden_size, cfg.stack.hidden_size)
        self.codec_head = nn.Linear(cfg.stack.hidden_size, cfg.stack.vocab_size, bias=False)
        self.code_predictor = CodePredictor(cfg.predictor, cfg.stack.hidden_size)

    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        """Text token ids (B, T) -> projected embeddings (B, T, C)."""
        # The table may be kept in the checkpoint's dtype (see load/talker.py): widening the looked-up
        # rows gives the same values as widening the whole table first.
        rows = self.model.text_embedding(ids)
        return self.text_projection(rows.to(self.text_projection.linear_fc1.weight.dtype))

    def embed_codec(self, ids: torch.Tensor) -> torch.Tensor:
        """Codebook-0 / control ids (B, T) -> embeddings (B, T, C)."""
        return self.model.codec_embedding(ids)

    def forward(self, embeds: torch.Tensor, start: int, row: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """embeds (B, T, C) at positions [start, start+T) (of cache row `row` alone, if given)
        -> (last hidden (B, 1, C), codebook-0 logits (B, V))."""
        hidden = self.model(embeds, start, row)
        return hidden[:, -1:], self.codec_head(hidden)[:, -1]

    def decode_at(self, embeds: torch.Tensor, positions: torch.Tensor, window: int,
                  step=None) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame's step in fixed shapes (see DecoderStack.decode_at): embeds (B, 1, C), row b
        at positions[b] ((B,) long tensor) -> (hidden (B, 1, C), codebook-0 logits (B, V)).
        `step`: a scripted step to run instead of the stack's own (DecoderStack.many_rows_step)."""
        hidden = self.model.decode_at(embeds, positions, window, step)
        return hidden, self.codec_head(hidden)[:, -1]
