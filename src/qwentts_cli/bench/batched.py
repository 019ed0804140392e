"""`qwentts bench --batch 1,2,4,8`: aggregate throughput of batched generation.

For each batch size B the same workload: 2B utterances of one text, each exactly `frames`
frames (EOS ignored, so every size does the same work); the engine generates B at a time and
rows join as others end. B = 1 is the unbatched loop (what --batch 1 runs).

- files (default): each utterance decoded in one call once its frames are done, as
  `qwentts batch` writes its files (every free slot filled at once, as there and in `synth`
  into a file); time to first audio is when the first is decoded.
- stream: `Synthesizer.stream(..., batch=B)`, decoding in order with the streaming decoder as
  `synth -f FILE --stream --batch B` does (one newcomer prefilled per step, as there); time to
  first audio is the first chunk.
"""

from __future__ import annotations

import torch

from qwentts_cli.bench.runner import clock, peak_rss_mb, summarize
from qwentts_cli.generate.timing import StepTimes
from qwentts_cli.request import ResolvedRequest
from qwentts_cli.runtime import FRAME_RATE, Synthesizer

UTTERANCES_PER_SLOT = 2


def run_batch_once(synth: Synthesizer, text: str, request: ResolvedRequest, batch: int, stream: bool = False) -> dict:
    dev = synth.device
    times = StepTimes()
    pieces = [text] * (UTTERANCES_PER_SLOT * batch)
    ttfa, frames = None, 0
    t0 = clock(dev)
    if stream:
        for chunk in synth.stream(pieces, request, times=times, batch=batch):
            frames += len(chunk.frames)
            if ttfa is None and len(chunk.samples):
                ttfa = clock(dev) - t0
    else:
        utterances = [(piece, request, None) for piece in pieces]
        for _, piece_frames in synth.ordered_frames(utterances, batch, times, prefills_per_step=batch):
            codes = torch.stack(list(piece_frames))
            t = clock(dev)
            synth.codec.decode(codes)
            times.codec += clock(dev) - t
            frames += len(codes)
            if ttfa is None:
                ttfa = clock(dev) - t0
    wall = clock(dev) - t0
    audio = frames / FRAME_RATE
    generate = times.prefill + times.talker + times.predictor
    steps = frames / batch  # each step makes one frame per row (rows join and leave in waves here)
    return {
        "audio_s_per_s": audio / wall,
        "aggregate_rtf": wall / audio,
        "row_ms_per_frame": 1000.0 * generate / steps,
        "ttfa_s": ttfa if ttfa is not None else wall,
        "wall_s": wall,
        "talker_s": times.talker,
        "predictor_s": times.predictor,
        "prefill_s": times.prefill,
        "codec_s": times.codec,
        "other_s": wall - generate - times.codec,
        "frames": frames,
    }


def bench_batches(synth: Synthesizer, text: str, request: ResolvedRequest, batches: list[int], runs: int,
                  warmup: int, progress, stream: bool = False) -> list[dict]:
    """One entry per batch size: the fields of run_batch_once as {median, min, max}, and peak RSS."""
    entries = []
    for batch in batches:
        progress(f"batch {batch}: {warmup} warm-up + {runs} runs of {UTTERANCES_PER_SLOT * batch} utterances")
        for _ in range(warmup):
            run_batch_once(synth, text, request, batch, stream)
        figures = [run_batch_once(synth, text, request, batch, stream) for _ in range(runs)]
        entry = {"batch": batch, "utterances": UTTERANCES_PER_SLOT * batch, "frames": figures[-1]["frames"]}
        for field in figures[0]:
            if field != "frames":
                entry[field] = {k: round(v, 4) for k, v in summarize([f[field] for f in figures]).items()}
        entry["peak_rss_mb"] = round(peak_rss_mb(), 1)
        entries.append(entry)
    return entries
