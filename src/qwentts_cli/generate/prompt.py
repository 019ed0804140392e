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
# A cloned voice's transcript is `<|im_start|>assistant\n{ref_text}<|im_end|>\n` (the official
# `ref_ids[:, 3:-2]`): ROLE_TOKENS before it, REF_TRAILER_TOKENS after it.
REF_TRAILER_TOKENS = 2  # <|im_end|> \n


@dataclass
class VoicePrompt:
    """What a cloned voice adds to the prompt: its speaker embedding, and for in-context cloning
    (ICL) the reference transcript's ids and the reference audio's codes."""

    xvector: torch.Tensor  # (C,): stands where a CustomVoice speaker's codec embedding stands
    ref_ids: torch.Tensor | None = None  # (1, T): the tokenized transcript, role markup included
    ref_codes: torch.Tensor | None = None  # (R, 16) int64


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
    voice: VoicePrompt | None = None,
) -> Prompt:
    """The talker's input sequence for the chat prompt `input_ids` (1, T).

    Layout (one row per position, text-side + codec-side embeddings summed):
      role:    <|im_start|> assistant \\n                    (text only)
      control: codec think/nothink, think_bos, [language], think_eos, [speaker], pad,
               each over tts_pad, the last over tts_bos
      then, non-streaming text: every text token (+ tts_eos) over codec pad, then tts_pad + codec bos;
      or streaming text: the first text token + codec bos, the rest fed one per frame.
    An instruction (its own user turn) goes before everything. A cloned voice puts its speaker
    embedding in the speaker's place; with reference codes (ICL) the text part is the ICL block
    instead (`_icl_block`). Text projections run over the same token groups as the official
    code, so every row is the product of the same matrix shapes (and rounds the same way).
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
    if voice is not None:
        codec.append(voice.xvector.to(device=dev, dtype=tts_pad.dtype).view(1, 1, -1))
    elif speaker:
        codec.append(talker.embed_codec(ids([tc.speaker_ids[speaker]])))
    codec.append(talker.embed_codec(ids([tc.codec_pad_id, tc.codec_bos_id])))
    codec_embeds = torch.cat(codec, dim=1)  # (1, K, C): the control rows, then codec bos
    control_rows, codec_bos = codec_embeds[:, :-1], codec_embeds[:, -1:]

    role = talker.embed_text(input_ids[:, :ROLE_TOKENS])
    control = torch.cat((tts_pad.expand(-1, control_rows.shape[1] - 1, -1), tts_bos), dim=1) + control_rows
    parts = [role, control]
    text_ids = input_ids[:, ROLE_TOKENS:-TRAILER_TOKENS]
    if voice is not None and voice.ref_codes is not None:
        block, trailing = _icl_block(talker, cfg, text_ids, voice, tts_eos, tts_pad, streaming_text)
        parts.append(block)
    elif streaming_text:
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


def _icl_block(talker: Talker, cfg: TTSConfig, text_ids: torch.Tensor, voice: VoicePrompt, tts_eos: torch.Tensor,
               tts_pad: torch.Tensor, streaming_text: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """In-context cloning (the official `generate_icl_prompt`): the reference transcript and the
    target text as one text row group S, then tts_eos; the codec rows K: codec_bos, then per
    reference frame the sum of its 16 codebook embeddings. -> (prefill rows, trailing text rows).

    Non-streaming: S over codec_pad, then K over tts_pad. Streaming: S and K side by side, the
    longer S's rest fed one row per frame, or a shorter S padded with tts_pad.
    """
    tc, dev = cfg.talker, text_ids.device
    ref_text = voice.ref_ids.to(dev)[:, ROLE_TOKENS:-REF_TRAILER_TOKENS]
    text = torch.cat((talker.embed_text(torch.cat((ref_text, text_ids), dim=-1)), tts_eos), dim=1)  # (1, S, C)
    codes = voice.ref_codes.to(dev)  # (R, 16)
    predictor_tables = talker.code_predictor.model.codec_embedding
    frames = [talker.embed_codec(codes[:, :1])] + [predictor_tables[g - 1](codes[:, g : g + 1])
                                                    for g in range(1, codes.shape[1])]
    frames = torch.cat(frames, dim=1).sum(1).unsqueeze(0)  # (1, R, C): the sum over codebooks, as the official
    bos = talker.embed_codec(torch.tensor([[tc.codec_bos_id]], dtype=torch.long, device=dev))
    codec = torch.cat((bos, frames), dim=1)  # (1, 1 + R, C)
    S, K = text.shape[1], codec.shape[1]
    if not streaming_text:
        pad = talker.embed_codec(torch.tensor([[tc.codec_pad_id] * S], dtype=torch.long, device=dev))
        return torch.cat((text + pad, codec + tts_pad), dim=1), tts_pad
    if S > K:
        return text[:, :K] + codec, text[:, K:]
    return torch.cat([text] + [tts_pad] * (K - S), dim=1) + codec, tts_pad
