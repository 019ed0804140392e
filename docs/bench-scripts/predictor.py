"""The code predictor's frame, the Python loop against the fused call, in one process:
python predictor.py MODEL_DIR [int8|int8-weight|none] [float32|bfloat16] [ROWS]

Both get the same hidden states and codebook-0 tokens. ROWS 1 (default): one utterance's frame
(a TokenPicker); more: the batched engine's (a RowPicker, each row its own seeded generator).
Each timing is 5 frames, alternating which runs first, 8 rounds per mode; greedy, then sampled
with the subtalker defaults.
"""
import statistics
import sys
import time

import torch

from qwentts_cli.config import SamplingConfig
from qwentts_cli.generate.fused_predictor import fused_predictor
from qwentts_cli.generate.rows import PickSettings, RowPicker
from qwentts_cli.generate.sampling import predictor_picker
from qwentts_cli.generate.steps import predict_codebooks
from qwentts_cli.runtime import Synthesizer

torch.set_num_threads(2)
model = sys.argv[1]
quantize = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "none" else None
dtype = sys.argv[3] if len(sys.argv) > 3 else "float32"
B = int(sys.argv[4]) if len(sys.argv) > 4 else 1
talker = Synthesizer.from_pretrained(model, dtype=dtype, quantize=quantize).talker
compute = talker.model.norm.weight.dtype
V = talker.cfg.predictor.vocab_size
talker.code_predictor.model.setup_caches(talker.cfg.predictor.num_code_groups, compute, torch.device("cpu"), batch=B)
fused = fused_predictor(talker, torch.device("cpu"), compute)
assert fused is not None, "this model's code predictor does not run fused"
hidden = torch.randn(B, 1, talker.cfg.stack.hidden_size, generator=torch.Generator().manual_seed(0)).to(compute)
token = torch.arange(17, 17 + B).view(B, 1)
rows = list(range(B))

for sampled in (False, True):
    sampling = SamplingConfig(subtalker_do_sample=sampled)
    if B == 1:
        def picker():
            return predictor_picker(V, sampling, torch.Generator().manual_seed(5), "cpu")
        python_loop = lambda h, t, pick: predict_codebooks(talker, h, t, pick)  # noqa: E731
        fused_call = fused.one_row
    else:
        def picker():
            pick = RowPicker(V, B, torch.device("cpu"))
            for r in rows:
                pick.reset(r, PickSettings.predictor(sampling), torch.Generator().manual_seed(5 + r))
            return pick
        python_loop = lambda h, t, pick: predict_codebooks(talker, h, t, lambda logits, noise=None: pick(logits, rows))  # noqa: E731
        fused_call = lambda h, t, pick: fused.rows(h, t, pick, rows)  # noqa: E731
    with torch.inference_mode():
        outs = {name: [run(hidden, token, pick) for _ in range(3)]
                for name, run, pick in (("python", python_loop, picker()), ("fused", fused_call, picker()))}
        same = all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(outs["python"], outs["fused"]))
        ms = {"python": [], "fused": []}
        for r in range(8):
            for name, run in ((("python", python_loop), ("fused", fused_call)) if r % 2 == 0 else
                              (("fused", fused_call), ("python", python_loop))):
                pick = picker()
                t = time.perf_counter()
                for _ in range(5):
                    run(hidden, token, pick)
                ms[name].append((time.perf_counter() - t) / 5 * 1000)
    print(f"{quantize or dtype} B={B} {'sampled' if sampled else 'greedy'}: identical {same}; ms per frame step, "
          "median (min): " + ", ".join(f"{n} {statistics.median(v):.1f} ({min(v):.1f})" for n, v in ms.items()))
