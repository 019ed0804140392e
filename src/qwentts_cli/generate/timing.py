"""Where generation time goes: a wrapper that times each step of any `FrameSteps`.

Timing synchronizes the device before each reading (so a timer reads finished work), which
is why it is a wrapper the benchmark asks for, not a branch inside the loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from qwentts_cli.generate.steps import FrameSteps


@dataclass
class StepTimes:
    """Seconds spent in each part of generation."""

    prefill: float = 0.0
    talker: float = 0.0
    predictor: float = 0.0  # codebook 0's pick and the code predictor
    codec: float = 0.0  # streamed decode (Synthesizer.stream)

    @staticmethod
    def clock(device: torch.device) -> float:
        """Seconds, after the device has finished its queued work (so a timer reads real work)."""
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()


class TimedSteps:
    """`steps`, with each call's time added to `times`."""

    def __init__(self, steps: FrameSteps, times: StepTimes, device: torch.device):
        self.steps, self.times, self.device = steps, times, device

    def _timed(self, field: str, fn, *args):
        start = StepTimes.clock(self.device)
        out = fn(*args)
        setattr(self.times, field, getattr(self.times, field) + StepTimes.clock(self.device) - start)
        return out

    def prefill(self, embeds):
        return self._timed("prefill", self.steps.prefill, embeds)

    def frame(self, hidden, logits):
        return self._timed("predictor", self.steps.frame, hidden, logits)

    def talker_step(self, embeds, positions, span):
        return self._timed("talker", self.steps.talker_step, embeds, positions, span)
