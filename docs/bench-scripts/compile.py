"""torch.compile of the code predictor's decoder stack vs eager: python compile.py MODEL_DIR [dynamic]."""
import sys
import time

import torch

from qwentts_cli.runtime import Synthesizer

torch.set_num_threads(2)
predictor = Synthesizer.from_pretrained(sys.argv[1]).talker.code_predictor
stack = predictor.model
stack.setup_caches(16, torch.float32, torch.device("cpu"))
C = stack.cfg.hidden_size
prefill, step = torch.randn(1, 2, C), torch.randn(1, 1, C)
with torch.inference_mode():
    eager = [stack(prefill, 0)] + [stack(step, g + 1) for g in range(1, 15)]
    t = time.perf_counter()
    for g in range(1, 15):
        stack(step, g + 1)
    print("eager 14 steps ms", round((time.perf_counter() - t) * 1000, 1))
    compiled = torch.compile(stack.forward, dynamic=len(sys.argv) > 2 and sys.argv[2] == "dynamic")
    t = time.perf_counter()
    out = [compiled(prefill, 0)] + [compiled(step, g + 1) for g in range(1, 15)]
    print("first compiled pass (compiling) s", round(time.perf_counter() - t, 1))
    print("max diff vs eager", max(float((a - b).abs().max()) for a, b in zip(eager, out)))
    for _ in range(2):
        t = time.perf_counter()
        for g in range(1, 15):
            compiled(step, g + 1)
        print("compiled 14 steps ms", round((time.perf_counter() - t) * 1000, 1))
