"""Reference audio for voice cloning: any file soundfile reads -> float32 mono at 24 kHz, as the official package makes it.

The official `Qwen3TTSModel` reads a path with `librosa.load(path, sr=None, mono=True)`
(soundfile underneath, channels averaged) and resamples anything not at 24 kHz with
`librosa.resample(..., res_type="soxr_hq")`: python-soxr's HQ converter, the result cut or
padded to ceil(L * 24000 / sr) samples. The same calls here, without librosa.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qwentts_cli.errors import UsageError

REFERENCE_RATE = 24000
# Below this a clip has too little voice for a speaker embedding (the official package takes
# anything, but a few frames say nothing); above it, the reference codes would crowd the
# model's context and the prompt: Qwen recommends clips of 3-10 s. Longer clips are refused,
# not trimmed: where to cut is the user's choice.
MIN_SECONDS = 1.0
MAX_SECONDS = 30.0
# Peak below this (-80 dBFS) is silence.
SILENT_PEAK = 1e-4


class ReferenceError(UsageError):
    """A reference clip that cannot be used."""


def read_reference(path: str | Path) -> np.ndarray:
    """The clip at `path` as float32 mono samples at 24 kHz; a ReferenceError says what is wrong with it."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise ReferenceError(f"no reference audio at '{path}'")
    if path.is_dir():
        raise ReferenceError(f"the reference '{path}' is a folder; give an audio file (WAV, FLAC, OGG, MP3)")
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise ReferenceError(f"cannot read '{path}' as audio ({str(e).splitlines()[0]}); give a WAV, FLAC, OGG "
                             "or MP3 file") from None
    return prepare_reference(samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0],
                             rate, str(path))


def prepare_reference(samples: np.ndarray, rate: int, what: str = "the reference audio") -> np.ndarray:
    """Mono float32 samples at `rate` -> 24 kHz, checked for length and silence."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size == 0:
        raise ReferenceError(f"{what} is empty")
    seconds = len(samples) / rate
    if seconds < MIN_SECONDS:
        raise ReferenceError(f"{what} is {seconds:.2f} s long; a reference needs at least {MIN_SECONDS:g} s of speech")
    if seconds > MAX_SECONDS:
        raise ReferenceError(f"{what} is {seconds:.1f} s long; use at most {MAX_SECONDS:g} s (3-10 s works best), "
                             "e.g. cut it with `sox IN OUT trim 0 10`")
    if not np.isfinite(samples).all():
        raise ReferenceError(f"{what} holds NaN or infinite samples")
    if float(np.abs(samples).max()) < SILENT_PEAK:
        raise ReferenceError(f"{what} is silent")
    if rate != REFERENCE_RATE:
        import soxr

        n = int(np.ceil(len(samples) * (REFERENCE_RATE / rate)))  # librosa's fix_length, same float steps
        samples = soxr.resample(samples, rate, REFERENCE_RATE, quality="soxr_hq").astype(np.float32)
        samples = samples[:n] if len(samples) >= n else np.pad(samples, (0, n - len(samples)))
    return np.ascontiguousarray(samples)
