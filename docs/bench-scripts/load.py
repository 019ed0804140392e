"""Load time, peak RSS and resident weights of one mode: python load.py MODEL_DIR DTYPE QUANTIZE|none."""
import resource
import sys
import time

import torch

from qwentts_cli.runtime import Synthesizer

torch.set_num_threads(2)
model, dtype, quantize = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
s = Synthesizer.from_pretrained(model, dtype=dtype, quantize=None if quantize == "none" else quantize)
load = time.perf_counter() - t


def nbytes(m):
    return sum(p.numel() * p.element_size() for p in [*m.parameters(), *m.buffers()])


weights = nbytes(s.talker) + nbytes(s.codec)
table = s.talker.model.text_embedding.weight
resident = weights - table.numel() * table.element_size()  # the text table stays mapped, untouched
list(s.frames("Привет, как дела?", language="russian", sampling=s.greedy(), max_frames=3, ignore_eos=True))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{dtype} {quantize}: load {load:.2f}s peak RSS {peak:.0f} MB; weights without the mapped text table "
      f"{resident / 2**20:.0f} MB (fbgemm-packed int8 linears are not counted)")
