"""A fingerprint of the weights that make a cloned voice: the speaker encoder and the speech encoder.

A saved voice records it, and a checkpoint whose encoders differ refuses the voice. It is read
from the safetensors headers and the first bytes of each tensor, not from all the weights,
so checking a voice costs milliseconds, not a pass over gigabytes.
"""

from __future__ import annotations

import hashlib
import os

from qwentts_cli.load.files import read_header, safetensors_files

PROBE_BYTES = 256


def encoders_fingerprint(model_dir: str) -> str:
    """sha256 over every `speaker_encoder.*` and speech-tokenizer `encoder.*` tensor: name, dtype,
    shape, and its first PROBE_BYTES bytes."""
    digest = hashlib.sha256()
    for folder, prefix in ((model_dir, "speaker_encoder."), (os.path.join(model_dir, "speech_tokenizer"), "encoder.")):
        for path in safetensors_files(folder).paths:
            header, base, _ = read_header(path)
            with open(path, "rb") as f:
                for name in sorted(n for n in header if n.startswith(prefix)):
                    info = header[name]
                    start = base + info["data_offsets"][0]
                    f.seek(start)
                    probe = f.read(min(PROBE_BYTES, info["data_offsets"][1] - info["data_offsets"][0]))
                    digest.update(f"{name}\0{info['dtype']}\0{info['shape']}\0".encode() + probe)
    return digest.hexdigest()
