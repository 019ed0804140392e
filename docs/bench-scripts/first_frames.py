"""A fresh process's first utterance, frame by frame: python first_frames.py MODEL_DIR [int8|none] [FRAMES]

Loads the model, then times each frame of one greedy utterance as it is yielded (frame 0
includes the prompt's prefill). What a one-shot `synth` pays before its steady state.
"""
import sys
import time

import torch

from qwentts_cli.runtime import Synthesizer

torch.set_num_threads(2)
quantize = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "none" else None
frames = int(sys.argv[3]) if len(sys.argv) > 3 else 6
s = Synthesizer.from_pretrained(sys.argv[1], quantize=quantize)
last = time.perf_counter()
for i, _ in enumerate(s.frames("Привет, как у тебя дела сегодня?", language="russian", sampling=s.greedy(),
                               max_frames=frames, ignore_eos=True)):
    now = time.perf_counter()
    print(f"frame {i}: {1000 * (now - last):.0f} ms")
    last = now
