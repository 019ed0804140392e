"""POST and DELETE /v1/audio/voices: saved voices made and removed through the same code as `qwentts voice`."""

from __future__ import annotations

import io
import threading

from qwentts_cli.errors import UsageError
from qwentts_cli.server.service import SpeechService, VoiceNotFound

# One voice creation at a time: the encoders are loaded once and are not shared between threads.
_CREATE = threading.Lock()


def create_voice(service: SpeechService, form) -> dict:
    """Form fields: name, file (the clip: WAV, FLAC, OGG or MP3, 1-30 s), text (what it says) or
    x_vector_only=true. Saved atomically in the voice library; an existing name is refused
    unless replace=true."""
    import soundfile as sf

    from qwentts_cli.outputs import check_output
    from qwentts_cli.reference import ReferenceError, prepare_reference
    from qwentts_cli.voices import library_path, save_voice

    if service.synth.config.model_type != "base":
        raise UsageError(f"only Base models clone voices; this server runs a {service.synth.config.model_type} model")
    name = form.get("name")
    upload = form.get("file")
    if not isinstance(name, str) or not name:
        raise UsageError("give the voice a <name> (a form field)")
    if upload is None or isinstance(upload, str):
        raise UsageError("give the reference clip as the <file> form field (multipart upload)")
    text = form.get("text") or None
    x_vector_only = str(form.get("x_vector_only", "")).lower() in ("1", "true", "yes")
    replace = str(form.get("replace", "")).lower() in ("1", "true", "yes")
    path = library_path(name)  # checks the name: no folders, no traversal
    path.parent.mkdir(parents=True, exist_ok=True)
    target = check_output(str(path), example="anna.voice")
    if target.existed and not replace:
        raise UsageError(f"a voice named '{name}' exists; send replace=true to replace it")
    data = upload.file.read()
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile's own message says what it could not read
        raise ReferenceError(f"cannot read the uploaded <file> as audio ({str(e).splitlines()[0]}); "
                             "send WAV, FLAC, OGG or MP3") from None
    import numpy as np

    mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]  # as read_reference
    samples = prepare_reference(mono, rate, "the uploaded clip")
    with _CREATE:
        voice = service.compute.run(lambda: service.synth.create_voice((samples, 24000), text, x_vector_only))
        save_voice(voice, target)
    return {"name": name, "mode": voice.mode, "reference_s": round(len(samples) / 24000, 3)}


def delete_voice(service: SpeechService, name: str) -> None:
    from qwentts_cli.voices import library_path

    path = library_path(name)
    if not path.is_file():
        raise VoiceNotFound(f"no saved voice '{name}'")
    path.unlink()
