"""`qwentts bench`: time synthesis per text (RTF, time to first audio, ms per frame by stage, memory).

Every timer synchronizes the device before reading it. Figures are medians over the
measured runs, with min and max beside them; warm-up runs are not counted.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch

from qwentts_cli.generate.timing import StepTimes
from qwentts_cli.request import STREAM_MAX_CHUNK_FRAMES, SynthesisRequest
from qwentts_cli.runtime import FRAME_RATE, Synthesizer

DEFAULT_TEXTS = {
    "short": "Привет!",
    "medium": "Ниже представлен план цикла статей о том, как создать собственную модель.",
    "long": (
        "Ниже представлен план цикла статей о том, как создать собственную модель преобразования текста в речь. "
        "Мы рассмотрим архитектуру, обучение и развертывание системы."
    ),
}


@dataclass
class RunFigures:
    frames: int
    audio_s: float
    ttfa_s: float
    total_s: float
    prefill_ms: float
    talker_ms_per_frame: float
    predictor_ms_per_frame: float
    codec_ms_per_frame: float

    @property
    def rtf(self) -> float:
        return self.total_s / self.audio_s if self.audio_s else float("nan")

    @property
    def generate_ms_per_frame(self) -> float:
        return self.talker_ms_per_frame + self.predictor_ms_per_frame


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


clock = StepTimes.clock  # timers synchronize the device first


def run_once(synth: Synthesizer, text: str, request: SynthesisRequest, stream: bool) -> RunFigures:
    """One synthesis, timed, through the calls synth makes: `Synthesizer.stream` (the same chunk
    schedule and decoder calls as `synth --stream`), or `Synthesizer.synthesize` (all frames,
    then one decode)."""
    dev = synth.device
    times = StepTimes()
    ttfa = None
    t0 = clock(dev)
    if stream:
        n = 0
        for chunk in synth.stream(text, request, times=times):
            n += len(chunk.frames)
            if ttfa is None:
                ttfa = clock(dev) - t0
    else:
        n = len(synth.synthesize(text, request, times=times).codes)
    total = clock(dev) - t0
    per = 1000.0 / max(n, 1)
    return RunFigures(
        frames=n,
        audio_s=n / FRAME_RATE,
        ttfa_s=ttfa if ttfa is not None else total,
        total_s=total,
        prefill_ms=1000.0 * times.prefill,
        talker_ms_per_frame=times.talker * per,
        predictor_ms_per_frame=times.predictor * per,
        codec_ms_per_frame=times.codec * per,
    )


def summarize(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def bench(model: str | None, texts: dict[str, str], runs: int = 3, warmup: int = 1, frames: int | None = None,
          stream: bool = False, chunk_frames: int = 1, max_chunk_frames: int = STREAM_MAX_CHUNK_FRAMES,
          dtype: str = "float32", device: str = "cpu",
          language: str = "russian", speaker: str | None = None, threads: int | None = None,
          quantize: str | None = None, graphs: bool | None = None, codec_dtype: str = "float32",
          progress: Callable[[str], None] = lambda message: None, ref_audio: str | None = None,
          ref_text: str | None = None, x_vector_only: bool = False, batches: list[int] | None = None) -> dict:
    """Load once, then time every text; returns a JSON-ready dict. `progress` hears each stage as it starts.

    `batches`: time batched generation at these sizes instead (bench/batched.py), on the first text."""
    if threads:
        torch.set_num_threads(threads)
    from qwentts_cli.runtime import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    codec_note = f", codec {codec_dtype}" if codec_dtype != "float32" else ""
    progress(f"loading {model or 'the default model'} ({dtype}{', ' + quantize if quantize else ''}{codec_note}, {dev})")
    t = clock(dev)
    synth = Synthesizer.from_pretrained(model, device=str(dev), dtype=dtype, quantize=quantize, graphs=graphs,
                                        codec_dtype=codec_dtype)
    load_s = clock(dev) - t
    voice, voice_times = None, None
    if ref_audio is not None:
        # Voice creation timed on its own, twice (the first call also loads the encoders).
        progress(f"cloning {ref_audio}")
        synth.create_voice(ref_audio, ref_text, x_vector_only)
        voice_times = {}
        t = clock(dev)
        voice = synth.create_voice(ref_audio, ref_text, x_vector_only, times=voice_times)
        voice_times = {"total_s": round(clock(dev) - t, 4), "speaker_encoder_s": round(voice_times["speaker_encoder"], 4),
                       "speech_encoder_s": round(voice_times["speech_encoder"], 4), "mode": voice.mode}
    # Greedy, so every run of a text makes the same frames; with `frames`, exactly that many.
    request = synth.resolve(speaker=speaker, voice=voice, language=language, sampling=synth.greedy(), max_frames=frames,
                            ignore_eos=frames is not None, chunk_frames=chunk_frames, max_chunk_frames=max_chunk_frames)
    results, batch_results = [], None
    if batches:
        from qwentts_cli.bench.batched import bench_batches

        name, text = next(iter(texts.items()))
        batch_results = bench_batches(synth, text, request, batches, runs, warmup, progress, stream)
        texts = {}
    for i, (name, text) in enumerate(texts.items()):
        progress(f"timing '{name}' ({i + 1}/{len(texts)}): {warmup} warm-up + {runs} runs")
        for _ in range(warmup):
            run_once(synth, text, request, stream)
        figures = [run_once(synth, text, request, stream) for _ in range(runs)]
        entry = {
            "text": name,
            "chars": len(text),
            "frames": figures[-1].frames,
            "audio_s": round(figures[-1].audio_s, 3),
        }
        for field in ("ttfa_s", "total_s", "rtf", "prefill_ms", "generate_ms_per_frame", "talker_ms_per_frame",
                      "predictor_ms_per_frame", "codec_ms_per_frame"):
            entry[field] = {k: round(v, 4) for k, v in summarize([getattr(f, field) for f in figures]).items()}
        entry["peak_rss_mb"] = round(peak_rss_mb(), 1)
        if dev.type == "cuda":
            entry["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
        results.append(entry)
    return {
        "implementation": "qwentts",
        "model": model or "default",
        "model_dir": synth.model_dir,
        "speaker": request.speaker,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine(),
        "dtype": dtype,
        "quantize": quantize,
        # Which packer made the int8 weights: it changes load_s, not the products (native/int8_pack.py).
        "int8_packer": _int8_packer() if quantize == "int8" else None,
        "codec_dtype": codec_dtype,
        "cuda_graphs": synth.frame_generator.uses_graphs(dev),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "mode": "stream" if stream else "one-shot",
        "chunk_frames": chunk_frames if stream else None,
        "max_chunk_frames": max(chunk_frames, max_chunk_frames) if stream else None,
        "fixed_frames": frames,
        "runs": runs,
        "warmup": warmup,
        "load_s": round(load_s, 3),
        "voice": voice_times,
        "results": results,
        **({"batch_text": name, "batches": batch_results} if batch_results is not None else {}),
    }


def _int8_packer() -> str:
    from qwentts_cli.native import int8_pack

    return "native" if int8_pack.loaded() is not None else "torch"
