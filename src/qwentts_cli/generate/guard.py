"""A guard against run-on generation: a piece that has clearly overrun its text is stopped.

About 0.3-0.5% of real generations never emit EOS and babble until the frame cap (seen in the
official tracker and by large serving projects; more often on CPU). Speech runs at roughly
2-4 frames (0.16-0.32 s) per text token in the 12Hz models' languages: 12.5 frames a second,
and 4-8 tokens a second of speech in Russian, English or Chinese. So:
- **Overrun**: more than `GUARD_BASE_FRAMES` + `per_token` frames per text token (the CLI's
  default 8, 0.64 s a token: 2x the slowest speech, 3-4x the usual; spelled-out acronyms and
  slow Chinese stay well inside) is not speech any more.
- **Loop**: the same first two codebooks repeating with a period of 1-4 frames for
  `LOOP_FRAMES` frames (about 3 s) is a stuck model, not a pause (pauses vary their codes).
Either stops the piece; the frames made so far are kept, and the caller is told why.
"""

from __future__ import annotations

import math

import torch

# Short pieces ("Hi.") get this many frames (2 s) on top of the per-token allowance.
GUARD_BASE_FRAMES = 25
LOOP_FRAMES = 36
LOOP_PERIODS = (1, 2, 3, 4)


class RunOnGuard:
    """Watches one piece's frames; `check(frame)` says why to stop, or None."""

    def __init__(self, text_tokens: int, per_token: float):
        self.tokens = max(text_tokens, 1)
        self.limit = GUARD_BASE_FRAMES + math.ceil(per_token * self.tokens)
        self.history: list[tuple[int, int]] = []

    def check(self, frame: torch.Tensor) -> str | None:
        self.history.append((int(frame[0]), int(frame[1])))  # the eager loop reads frame[0] on the host anyway
        n = len(self.history)
        if n > self.limit:
            return f"past {self.limit} frames ({self.limit / 12.5:.1f} s) for {self.tokens} text tokens"
        if n >= LOOP_FRAMES:
            tail = self.history[-LOOP_FRAMES:]
            for period in LOOP_PERIODS:
                if all(tail[i] == tail[i - period] for i in range(period, LOOP_FRAMES)):
                    return f"the same {period}-frame pattern {LOOP_FRAMES // period} times over"
        return None
