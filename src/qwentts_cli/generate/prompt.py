"""The talker's prompt: text and codec control tokens laid out as the official `generate` lays them.

Follows `Qwen3TTSForConditionalGeneration.generate` (qwen-tts 0.1.1,
core/models/modeling_qwen3_tts.py, the `input_id[:, :3]` / `[:, 3:-5]` / `[:, 3:4]` slices
around line 2180); the names below are those slices.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from qwentts_cli.config import TTSConfig
from qwentts_cli.errors import EmptyText
from qwentts_cli.model.talker import Talker

# The chat prompt of a text is `<|im_start|>assistant\n{text}<|im_end|>\n<|im_start|>assistant\n`
# (text/tokenizer.py CHAT_TEMPLATE): ROLE_TOKENS ids before the text, TRAILER_TOKENS after it.
ROLE_TOKENS = 3  # <|im_start|> assistant \n
TRAILER_TOKENS = 5  # <|im_end|> \n <|im_start|> assistant \n
# A prompt with no text token between them has nothing to speak.
MIN_PROMPT_TOKENS = ROLE_TOKENS + TRAILER_TOKENS + 1


def text_token_count(n_prompt_ids: int) -> int:
    """Text tokens in a chat prompt of `n_prompt_ids` ids."""
    return n_prompt_ids - ROLE_TOKENS - TRAILER_TOKENS


@dataclass
class Prompt:
    """Talker prefill embeddings and the text still to be fed, one row per generated frame."""

    embeds: torch.Tensor  # (1, L, C)
    trailing_text: torch.Tensor  # (1, N, C): added to the input of frame k while k < N
    tts_pad: torch.Tensor  # (1, 1, C): added once the trailing text is used up

    @property
    def length(self) -> int:
        return self.embeds.shape[1]

    def text_for_frame(self, k: int) -> torch.Tensor:
        """The text-side input added to frame k's codec embedding (1, 1, C)."""
        return self.trailing_text[:, k : k + 1] if k < self.trailing_text.shape[1] else self.tts_pad

    def to(self, dtype: torch.dtype) -> "Prompt":
        return Prompt(self.embeds.to(dtype), self.trailing_text.to(dtype), self.tts_pad.to(dtype))


@torch.inference_mode()
def build_prompt(
    talker: Talker,
    cfg: TTSConfig,
    input_ids: torch.Tensor,
    language_id: int | None,
    speaker: str | None,
    streaming_text: bool = False,
    instruct_ids: torch.Tensor | None = None,
) -> Prompt:
    """The talker's input sequence for the chat prompt `input_ids` (1, T).

    Layout (one row per position, text-side + codec-side embeddings summed):
      role:    <|im_start|> assistant \\n                    (text only)
      control: codec think/nothink, think_bos, [language], think_eos, [speaker], pad,
               each over tts_pad, the last over tts_bos
      then, non-streaming text: every text token (+ tts_eos) over codec pad, then tts_pad + codec bos;
      or streaming text: the first text token + codec bos, the rest fed one per frame.
    An instruction (its own user turn) goes before everything. Text projections run over the
    same token groups as the official code, so every row is the product of the same matrix
    shapes (and rounds the same way).
    """
    tc = cfg.talker
    dev = input_ids.device
    if input_ids.shape[1] < MIN_PROMPT_TOKENS:
        raise EmptyText()

    def ids(values: list[int]) -> torch.Tensor:
        return torch.tensor([values], dtype=torch.long, device=dev)

    tts_bos, tts_eos, tts_pad = talker.embed_text(ids([cfg.tts_bos_id, cfg.tts_eos_id, cfg.tts_pad_id])).chunk(3, dim=1)

    if language_id is None:
        think = [tc.codec_nothink_id, tc.codec_think_bos_id, tc.codec_think_eos_id]
    else:
        think = [tc.codec_think_id, tc.codec_think_bos_id, language_id, tc.codec_think_eos_id]
    codec = [talker.embed_codec(ids(think))]
    if speaker:
        codec.append(talker.embed_codec(ids([tc.speaker_ids[speaker]])))
    codec.append(talker.embed_codec(ids([tc.codec_pad_id, tc.codec_bos_id])))
    codec_embeds = torch.cat(codec, dim=1)  # (1, K, C): the control rows, then codec bos
    control_rows, codec_bos = codec_embeds[:, :-1], codec_embeds[:, -1:]

    role = talker.embed_text(input_ids[:, :ROLE_TOKENS])
    control = torch.cat((tts_pad.expand(-1, control_rows.shape[1] - 1, -1), tts_bos), dim=1) + control_rows
    parts = [role, control]
    text_ids = input_ids[:, ROLE_TOKENS:-TRAILER_TOKENS]
    if streaming_text:
        first, rest = input_ids[:, ROLE_TOKENS : ROLE_TOKENS + 1], input_ids[:, ROLE_TOKENS + 1 : -TRAILER_TOKENS]
        parts.append(talker.embed_text(first) + codec_bos)
        trailing = torch.cat((talker.embed_text(rest), tts_eos), dim=1)
    else:
        n = text_ids.shape[1]
        text = torch.cat((talker.embed_text(text_ids), tts_eos), dim=1) + talker.embed_codec(ids([tc.codec_pad_id] * (n + 1)))
        parts += [text, tts_pad + talker.embed_codec(ids([tc.codec_bos_id]))]
        trailing = tts_pad
    if instruct_ids is not None:
        parts.insert(0, talker.embed_text(instruct_ids))
    return Prompt(embeds=torch.cat(parts, dim=1), trailing_text=trailing, tts_pad=tts_pad)
