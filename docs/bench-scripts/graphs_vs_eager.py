"""The CUDA-graph steps against the eager ones on one model, greedy: python graphs_vs_eager.py --model M --device cuda.

For each dtype, the same utterances (three texts of different lengths, `--frames` frames each,
EOS ignored) through: the unbatched loop with graphs and without, and the batched engine (B = 3)
with graphs and without. One model per dtype, its `graphs` switch flipped between runs, so that
random weights (`random:0.6b`) are the same weights throughout. Prints one JSON line per
comparison: how many frames agree, and the first that does not.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from qwentts_cli.runtime import Synthesizer

TEXTS = ["Привет, мир!", "Hello there, this is a somewhat longer sentence to speak.",
         "Сегодня хорошая погода, и мы идём гулять в парк, а потом домой."]
LANGUAGES = ["russian", "english", "russian"]


def codes(synth: Synthesizer, graphs: bool, batch: int, frames: int) -> tuple[list[np.ndarray], float]:
    synth.frame_generator.graphs = graphs  # what uses_graphs and batch_engine read
    requests = [synth.resolve(language=lang, sampling=synth.greedy(), max_frames=frames, ignore_eos=True)
                for lang in LANGUAGES]
    t = time.perf_counter()
    if batch == 1:
        out = [torch.stack(list(synth.frames(text, request))).cpu().numpy() for text, request in zip(TEXTS, requests)]
    else:
        found = {i: torch.stack(list(f)).cpu().numpy()
                 for i, f in synth.ordered_frames([(t_, r, None) for t_, r in zip(TEXTS, requests)], batch)}
        out = [found[i] for i in range(len(TEXTS))]
    return out, time.perf_counter() - t


def agreement(a: list[np.ndarray], b: list[np.ndarray]) -> dict:
    same = sum(int((x == y).all(axis=1).sum()) for x, y in zip(a, b))
    first = [next((k for k in range(len(x)) if not (x[k] == y[k]).all()), None) for x, y in zip(a, b)]
    return {"frames_equal": same, "frames": sum(len(x) for x in a), "first_differing_frame": first}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="random:0.6b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    for dtype in args.dtypes.split(","):
        synth = Synthesizer.from_pretrained(args.model, device=args.device, dtype=dtype)
        codes(synth, True, 1, 2)  # warm-up: captures, kernels
        runs = {(g, b): codes(synth, g, b, args.frames) for g in (True, False) for b in (1, 3)}
        for name, (x, y) in {"unbatched: graphs vs eager": ((True, 1), (False, 1)),
                             "batched B=3: graphs vs eager": ((True, 3), (False, 3)),
                             "graphs: batched B=3 vs unbatched": ((True, 3), (True, 1)),
                             "eager: batched B=3 vs unbatched": ((False, 3), (False, 1))}.items():
            print(json.dumps({"dtype": dtype, "comparison": name, **agreement(runs[x][0], runs[y][0]),
                              "seconds": [round(runs[x][1], 3), round(runs[y][1], 3)]}), flush=True)
        del synth
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
