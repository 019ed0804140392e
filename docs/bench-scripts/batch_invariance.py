"""Do batched rows get the codes they get alone, at a given size? (issue 13)

    python docs/bench-scripts/batch_invariance.py MODEL_DIR DTYPE QUANTIZE|none [FRAMES]

Generates 8 utterances (4 speakers, mixed lengths and languages), greedy, FRAMES frames each
with EOS ignored, through the batched engine at B = 1, 3 and 8, and prints for each utterance
whether its codes at B = 3 and 8 equal its codes at B = 1, or where they first differ. The
fixture tests check this bit for bit at the fixtures' sizes; this is for the real shapes, where
the kernels may round a few rows differently from one.
"""

import sys
import time

import numpy as np
import torch

from qwentts_cli.runtime import Synthesizer

TEXTS = ["Привет, как дела?", "Ниже представлен план цикла статей о том, как создать собственную модель.",
         "Сегодня хорошая погода, не правда ли?", "Раз, два, три.", "Hello, this is a medium length sentence.",
         "Мы поехали на дачу в субботу утром.", "Кошка спит на диване.", "Это последний пример."]
SPEAKERS = ["ryan", "vivian", "serena", "ryan", "aiden", "ryan", "vivian", "serena"]


def main() -> None:
    model, dtype, quantize = sys.argv[1], sys.argv[2], sys.argv[3]
    frames = int(sys.argv[4]) if len(sys.argv) > 4 else 60
    torch.set_num_threads(2)
    synth = Synthesizer.from_pretrained(model, dtype=dtype, quantize=None if quantize == "none" else quantize)

    def codes_at(batch: int) -> list[np.ndarray]:
        items = [(text, synth.resolve(speaker=speaker, language="auto", sampling=synth.greedy(), max_frames=frames,
                                      ignore_eos=True), None) for text, speaker in zip(TEXTS, SPEAKERS)]
        out = {i: torch.stack(list(rows)).numpy() for i, rows in synth.ordered_frames(items, batch)}
        return [out[i] for i in range(len(TEXTS))]

    t0 = time.perf_counter()
    alone = codes_at(1)
    for batch in (3, 8):
        for i, (a, b) in enumerate(zip(alone, codes_at(batch))):
            diff = np.argwhere(a != b)
            verdict = "equal" if not len(diff) else (
                f"first differs at frame {diff[0][0]}, codebook {diff[0][1]}; {len(diff)} of {a.size} codes differ")
            print(f"B={batch} utterance {i}: {verdict}")
    print(f"{dtype} {quantize}, {len(TEXTS)} x {frames} frames, {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
