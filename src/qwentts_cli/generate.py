"""From text token ids to codec frames: the prompt layout, sampling, prefill and the frame loop.

Follows the official `Qwen3TTSForConditionalGeneration.generate` (qwen-tts 0.1.1) step for
step; the comments name the official behaviour each piece reproduces. Frames are yielded one
by one, so audio can be decoded while the next frame is computed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from qwentts_cli.config import SamplingConfig, TTSConfig
from qwentts_cli.errors import UsageError
from qwentts_cli.frame_graphs import GraphedSteps
from qwentts_cli.model.talker import Talker

# The official generate asks for at least two new tokens before EOS may end the talker.
MIN_NEW_TOKENS = 2
# The top 1024 ids of the talker's vocabulary are control tokens; all but EOS are never sampled.
CONTROL_TOKENS = 1024


@dataclass
class Prompt:
    """Talker prefill embeddings and the text still to be fed, one row per generated frame."""

    embeds: torch.Tensor  # (1, L, C)
    trailing_text: torch.Tensor  # (1, N, C): added to the input of frame k while k < N
    tts_pad: torch.Tensor  # (1, 1, C): added once the trailing text is used up


def resolve_language_id(cfg: TTSConfig, language: str, speaker: str | None) -> int | None:
    """The codec language token, or None for 'auto'; dialect speakers override auto/chinese.

    `language` and `speaker` are already checked (TTSConfig.validate_request).
    """
    tc = cfg.talker
    lang = language.lower()
    language_id = None if lang == "auto" else tc.language_ids[lang]
    dialect = tc.speaker_dialect.get(speaker.lower(), False) if speaker else False
    if lang in ("chinese", "auto") and dialect:
        language_id = tc.language_ids[dialect]
    return language_id


@torch.inference_mode()
def build_prompt(
    talker: Talker,
    cfg: TTSConfig,
    input_ids: torch.Tensor,
    language: str,
    speaker: str | None,
    streaming_text: bool = False,
    instruct_ids: torch.Tensor | None = None,
) -> Prompt:
    """The talker's input sequence for `<|im_start|>assistant\\n{text}<|im_end|>\\n<|im_start|>assistant\\n`.

    Layout (one row per position, text-side + codec-side embeddings summed):
      role:   <|im_start|> assistant \\n                    (text only)
      codec:  think/nothink, think_bos, [language], think_eos, [speaker], pad  + tts_pad..., tts_bos
      then, non-streaming text: every text token (+ tts_eos) over codec pad, then tts_pad + codec bos;
      or streaming text: the first text token + codec bos, the rest fed one per frame.
    Text projections run over the same token groups as the official code, so every row is
    the product of the same matrix shapes (and rounds the same way).
    """
    tc = cfg.talker
    dev = input_ids.device
    if input_ids.shape[1] < 9:
        raise UsageError("the text is empty; give some text to speak")

    def ids(values: list[int]) -> torch.Tensor:
        return torch.tensor([values], dtype=torch.long, device=dev)

    tts_bos, tts_eos, tts_pad = talker.embed_text(ids([cfg.tts_bos_id, cfg.tts_eos_id, cfg.tts_pad_id])).chunk(3, dim=1)

    language_id = resolve_language_id(cfg, language, speaker)
    if language_id is None:
        think = [tc.codec_nothink_id, tc.codec_think_bos_id, tc.codec_think_eos_id]
    else:
        think = [tc.codec_think_id, tc.codec_think_bos_id, language_id, tc.codec_think_eos_id]
    codec = [talker.embed_codec(ids(think))]
    if speaker:
        codec.append(talker.embed_codec(ids([tc.speaker_ids[speaker.lower()]])))
    codec.append(talker.embed_codec(ids([tc.codec_pad_id, tc.codec_bos_id])))
    codec_embeds = torch.cat(codec, dim=1)  # (1, K, C)

    role = talker.embed_text(input_ids[:, :3])
    control = torch.cat((tts_pad.expand(-1, codec_embeds.shape[1] - 2, -1), tts_bos), dim=1) + codec_embeds[:, :-1]
    parts = [role, control]
    text_ids = input_ids[:, 3:-5]  # between "assistant\n" and "<|im_end|>\n<|im_start|>assistant\n"
    if streaming_text:
        parts.append(talker.embed_text(input_ids[:, 3:4]) + codec_embeds[:, -1:])
        trailing = torch.cat((talker.embed_text(input_ids[:, 4:-5]), tts_eos), dim=1)
    else:
        n = text_ids.shape[1]
        text = torch.cat((talker.embed_text(text_ids), tts_eos), dim=1) + talker.embed_codec(ids([tc.codec_pad_id] * (n + 1)))
        parts += [text, tts_pad + talker.embed_codec(ids([tc.codec_bos_id]))]
        trailing = tts_pad
    if instruct_ids is not None:
        parts.insert(0, talker.embed_text(instruct_ids))
    return Prompt(embeds=torch.cat(parts, dim=1), trailing_text=trailing, tts_pad=tts_pad)


@dataclass
class StepTimes:
    """Seconds spent in each part of generation (filled only when asked for: timing syncs the device)."""

    prefill: float = 0.0
    talker: float = 0.0
    predictor: float = 0.0
    codec: float = 0.0  # streamed decode (Synthesizer.stream)

    @staticmethod
    def clock(device: torch.device) -> float:
        """Seconds, after the device has finished its queued work (so a timer reads real work)."""
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()


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
    ):
        self.do_sample = do_sample
        self.temperature = temperature
        self.top_k = min(top_k, vocab_size) if top_k else 0
        self.top_p = top_p
        self.penalty = repetition_penalty
        self.suppress = suppress
        self.eos_id = eos_id
        self.generator = generator
        # Tokens drawn so far, for the repetition penalty (only kept when there is one).
        self.seen = torch.zeros(vocab_size, dtype=torch.bool, device=device) if repetition_penalty != 1.0 else None
        self.count = 0

    def __call__(self, logits: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """logits (1, V) -> token (1, 1).

        `noise` (1, V), i.i.d. Exp(1), makes a sampled draw argmax(p / noise) instead of
        torch.multinomial: a draw from the same distribution that needs no generator call and
        no host sync (the CUDA-graph path draws the noise before each replay).
        """
        scores = logits.float()
        if self.penalty != 1.0 and self.count:
            penalized = torch.where(scores < 0, scores * self.penalty, scores / self.penalty)
            scores = torch.where(self.seen, penalized, scores)
        if self.eos_id is not None and self.count < MIN_NEW_TOKENS:
            scores[:, self.eos_id].fill_(float("-inf"))
        if self.suppress is not None:
            scores = scores.masked_fill(self.suppress, float("-inf"))
        if not self.do_sample:
            token = scores.argmax(dim=-1, keepdim=True)
        else:
            token = self._sample(scores, noise)
        if self.seen is not None:
            self.seen.index_fill_(0, token[0], True)
        self.count += 1
        return token

    def _sample(self, scores: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if self.temperature != 1.0:
            scores = scores / self.temperature
        if self.top_k:
            kth = torch.topk(scores, self.top_k)[0][..., -1, None]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        if self.top_p < 1.0:
            sorted_scores, order = torch.sort(scores, descending=False)
            cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
            remove = cumulative <= (1 - self.top_p)
            remove[..., -1:].fill_(False)  # fill_, not `= False`: no host-made tensor (CUDA graphs)
            scores = scores.masked_fill(remove.scatter(1, order, remove), float("-inf"))
        probs = scores.softmax(dim=-1)
        if noise is not None:
            # The exponential race: argmax_i p_i / E_i is distributed as p (what multinomial draws).
            # (A CPU exponential_ can return 0; 0/0 would be NaN, which argmax would pick.)
            return (probs / noise.clamp_min(torch.finfo(noise.dtype).tiny)).argmax(dim=-1, keepdim=True)
        return torch.multinomial(probs, num_samples=1, generator=self.generator)


class FrameGenerator:
    """Runs the talker and code predictor over a prompt, yielding one (16,) code frame at a time."""

    def __init__(self, talker: Talker, cfg: TTSConfig, graphs: bool | None = None):
        """`graphs`: run the frame loop as fixed-shape steps captured as CUDA graphs
        (frame_graphs.py). None: on a CUDA device only; True on a CPU runs the same steps
        uncaptured (tests); False: always the eager loop."""
        self.talker = talker
        self.cfg = cfg
        self.graphs = graphs
        self._graphed: GraphedSteps | None = None
        tc = cfg.talker
        vocab = tc.stack.vocab_size
        # Control ids are never sampled, except EOS; benchmarks that need a fixed frame count
        # suppress EOS too (`ignore_eos`).
        self.suppress_with_eos = torch.zeros(1, vocab, dtype=torch.bool)
        self.suppress_with_eos[:, vocab - CONTROL_TOKENS :] = True
        self.suppress = self.suppress_with_eos.clone()
        self.suppress[:, tc.codec_eos_id] = False

    def _device(self) -> torch.device:
        return self.talker.model.norm.weight.device

    def uses_graphs(self, device: torch.device) -> bool:
        return self.graphs if self.graphs is not None else device.type == "cuda"

    def _graphed_steps(self, device: torch.device, dtype: torch.dtype) -> GraphedSteps | None:
        if not self.uses_graphs(device):
            return None
        graphed = self._graphed
        if graphed is None or graphed.device != device or graphed.embed.dtype != dtype:
            graphed = self._graphed = GraphedSteps(self.talker, self.predict_frame, device, dtype)
        return graphed

    @torch.inference_mode()
    def frames(
        self,
        prompt: Prompt,
        max_frames: int,
        sampling: SamplingConfig,
        generator: torch.Generator | None = None,
        times: StepTimes | None = None,
        ignore_eos: bool = False,
    ) -> Iterator[torch.Tensor]:
        """Yield code frames (16,) int64 until EOS or `max_frames`.

        `times` collects a time split; `ignore_eos` makes EOS unreachable (exactly `max_frames` frames).
        """
        talker, tc = self.talker, self.cfg.talker
        # The final norm's weight: always a float tensor of the compute dtype, even when the
        # linears are int8 (--quantize).
        dev, dtype = self._device(), self.talker.model.norm.weight.dtype
        L = prompt.embeds.shape[1]
        max_positions = tc.stack.max_position_embeddings
        if L + max_frames > max_positions:
            raise UsageError(
                f"the prompt ({L} positions) plus {max_frames} frames exceeds the model's context of "
                f"{max_positions}; split the text or lower --max-frames"
            )
        graphed = self._graphed_steps(dev, dtype)
        talker.model.setup_caches(L + max_frames if graphed is None else graphed.cache_capacity(L + max_frames), dtype, dev)
        talker.code_predictor.model.setup_caches(tc.predictor.num_code_groups, dtype, dev)
        pick_first = TokenPicker(
            tc.stack.vocab_size,
            sampling.do_sample,
            sampling.temperature,
            sampling.top_k,
            sampling.top_p,
            sampling.repetition_penalty,
            suppress=(self.suppress_with_eos if ignore_eos else self.suppress).to(dev),
            eos_id=tc.codec_eos_id,
            generator=generator,
            device=dev,
        )
        t = times.clock(dev) if times else 0.0
        hidden, logits = talker(prompt.embeds.to(dtype), 0)
        if times:
            times.prefill += times.clock(dev) - t
        trailing = prompt.trailing_text.to(dtype)
        pad = prompt.tts_pad.to(dtype)
        for k in range(max_frames):
            t = times.clock(dev) if times else 0.0
            if graphed is None:
                token = pick_first(logits)
                if int(token) == tc.codec_eos_id:
                    return
                frame, next_embed = self.predict_frame(hidden, token, sampling, generator)
            else:
                noise = torch.empty_like(logits, dtype=torch.float32).exponential_(generator=generator) if sampling.do_sample else None
                token = pick_first(logits, noise)
                frame, next_embed = graphed.predict(hidden, token, sampling, generator)
                frame = frame.clone()  # the graph's output buffer is rewritten by the next replay
                # The frame's one host sync, once all its kernels are queued (an EOS frame's
                # code-predictor work is thrown away).
                if int(frame[0]) == tc.codec_eos_id:
                    return
            if times:
                t, t_pred = times.clock(dev), t
                times.predictor += t - t_pred
            yield frame
            if k + 1 == max_frames:
                return
            if times:
                t = times.clock(dev)
            text = trailing[:, k : k + 1] if k < trailing.shape[1] else pad
            if graphed is None:
                hidden, logits = talker(next_embed + text, L + k)
            else:
                hidden, logits = graphed.talker_step(next_embed + text, L + k)
            if times:
                times.talker += times.clock(dev) - t

    def predict_frame(
        self,
        hidden: torch.Tensor,
        token: torch.Tensor,
        sampling: SamplingConfig,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Codebooks 1..15 for a frame whose codebook 0 is `token`.

        hidden: the talker's last hidden state (1, 1, C); token: (1, 1); noise: (15, V)
        exponential draws for the 15 picks instead of torch.multinomial (see TokenPicker).
        Returns the frame (16,) and the talker's next input: the sum of the 16 codebook embeddings (1, 1, C).
        """
        predictor = self.talker.code_predictor
        n_groups = self.cfg.talker.predictor.num_code_groups
        pick = TokenPicker(
            predictor.cfg.vocab_size,
            sampling.subtalker_do_sample,
            sampling.subtalker_temperature,
            sampling.subtalker_top_k,
            sampling.subtalker_top_p,
            generator=generator,
            device=token.device,
        )
        embeds = [self.talker.embed_codec(token)]  # (1, 1, C) each
        codes = [token]
        logits = predictor.step(torch.cat((hidden, embeds[0]), dim=1), 0, head=0)
        for g in range(1, n_groups):
            code = pick(logits, None if noise is None else noise[g - 1 : g])
            codes.append(code)
            embeds.append(predictor.model.codec_embedding[g - 1](code))
            if g < n_groups - 1:
                logits = predictor.step(embeds[-1], g + 1, head=g)
        frame = torch.cat(codes, dim=1)[0]  # (16,)
        return frame, torch.cat(embeds, dim=1).sum(1, keepdim=True)
