"""The frame loop: prefill, then per frame codebook 0, codebooks 1..15 and a talker step, until EOS.

Follows the official `Qwen3TTSForConditionalGeneration.generate` (qwen-tts 0.1.1). Frames are
yielded one by one, so audio can be decoded while the next frame is computed. The loop runs
over any `FrameSteps` (steps.py) and cannot tell eager steps from captured ones.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from qwentts_cli.config import SamplingConfig, TTSConfig
from qwentts_cli.errors import CheckpointError, ContextExceeded
from qwentts_cli.generate.graphs import FrameGraphs, GraphSteps
from qwentts_cli.generate.prompt import Prompt
from qwentts_cli.generate.sampling import first_codebook_picker, predictor_picker
from qwentts_cli.generate.steps import EagerSteps, FrameSteps
from qwentts_cli.generate.timing import StepTimes, TimedSteps
from qwentts_cli.model.talker import Talker


def frame_loop(steps: FrameSteps, prompt: Prompt, max_frames: int) -> Iterator[torch.Tensor]:
    """Yield code frames (16,) int64 of one row until EOS or `max_frames`."""
    L = prompt.length
    positions = torch.arange(L, L + max_frames, device=prompt.embeds.device)  # frame k's talker step is at L + k
    hidden, logits = steps.prefill(prompt.embeds)
    # One check per utterance (a host sync on a GPU, once): NaN or infinite weights make NaN scores,
    # which sampling would turn into an error deep inside torch, or greedy into noise.
    if not bool(torch.isfinite(logits).all()):
        raise CheckpointError("the model computed NaN or infinite scores: its weights are damaged (NaN or inf "
                              "values); re-download the checkpoint")
    for k in range(max_frames):
        out = steps.frame(hidden, logits)
        if out is None:
            return
        codes, next_embed = out
        yield codes[0]
        if k + 1 == max_frames:
            return
        hidden, logits = steps.talker_step(next_embed + prompt.text_for_frame(k), positions[k : k + 1], L + k + 1)


class FrameGenerator:
    """A talker's frame loop: builds each utterance's steps (eager or captured) and runs them."""

    def __init__(self, talker: Talker, cfg: TTSConfig, graphs: bool | None = None):
        """`graphs`: run the frame steps in fixed shapes, captured as CUDA graphs (graphs.py).
        None: on a CUDA device only; True on a CPU runs the same steps uncaptured (tests);
        False: always the eager steps."""
        self.talker = talker
        self.cfg = cfg
        self.graphs = graphs
        self._frame_graphs: FrameGraphs | None = None

    def uses_graphs(self, device: torch.device) -> bool:
        return self.graphs if self.graphs is not None else device.type == "cuda"

    def frame_graphs(self, device: torch.device, dtype: torch.dtype) -> FrameGraphs | None:
        """The captures for this device and dtype (kept across utterances), or None for eager steps."""
        if not self.uses_graphs(device):
            return None
        graphs = self._frame_graphs
        if graphs is None or graphs.device != device or graphs.dtype != dtype:
            graphs = self._frame_graphs = FrameGraphs(self.talker, device, dtype)
        return graphs

    def steps(self, positions: int, sampling: SamplingConfig, generator: torch.Generator | None,
              ignore_eos: bool) -> FrameSteps:
        """One utterance's steps, with caches for `positions` positions."""
        tc = self.cfg.talker
        # The final norm's weight: always a float tensor of the compute dtype, even when the
        # linears are int8 (quantization).
        norm = self.talker.model.norm.weight
        dev, dtype = norm.device, norm.dtype
        pick_first = first_codebook_picker(tc.stack.vocab_size, tc.codec_eos_id, sampling, ignore_eos, generator, dev)
        graphs = self.frame_graphs(dev, dtype)
        if graphs is not None:
            return GraphSteps(graphs, pick_first, sampling, generator, tc.codec_eos_id, positions)
        pick_rest = predictor_picker(tc.predictor.vocab_size, sampling, generator, dev)
        return EagerSteps(self.talker, pick_first, pick_rest, tc.codec_eos_id, positions, dtype, dev)

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
        context = self.cfg.talker.stack.max_position_embeddings
        if prompt.length + max_frames > context:
            raise ContextExceeded(prompt.length, max_frames, context)
        steps = self.steps(prompt.length + max_frames, sampling, generator, ignore_eos)
        if times is not None:
            steps = TimedSteps(steps, times, prompt.embeds.device)
        dtype = self.talker.model.norm.weight.dtype
        yield from frame_loop(steps, prompt.to(dtype), max_frames)
