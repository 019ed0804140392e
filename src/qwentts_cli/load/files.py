"""A checkpoint's safetensors files and their headers, without torch (`qwentts info` reads these too).

One parser for both users: the loader (tensors.py) maps the data that a header describes, and
`count_parameters` only adds up the shapes.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass

from qwentts_cli.errors import CheckpointError

# A header is JSON of a few hundred bytes per tensor; anything near this is not a safetensors file
# (random bytes read as a length would otherwise ask for terabytes).
MAX_HEADER_BYTES = 100 * 2**20


@dataclass(frozen=True)
class WeightFiles:
    """The files holding one set of weights, and how to name them in a message."""

    paths: list[str]
    label: str  # `DIR/model.safetensors`, or `DIR/model.safetensors.index.json` for shards


def safetensors_files(directory: str, stem: str = "model") -> WeightFiles:
    """The files holding a checkpoint's weights: `model.safetensors` or the shards of its index."""
    single = os.path.join(directory, f"{stem}.safetensors")
    index = os.path.join(directory, f"{stem}.safetensors.index.json")
    if os.path.isfile(single):
        return WeightFiles([single], single)
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
            names = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{index} is not a valid safetensors index ({e}); re-download the model") from e
        files = [os.path.join(directory, name) for name in names]
        for path in files:
            if not os.path.isfile(path):
                raise CheckpointError(f"{path} is missing (listed in {os.path.basename(index)}); re-download the model")
        return WeightFiles(files, index)
    raise CheckpointError(f"no {stem}.safetensors in {directory}; is this a Qwen3-TTS checkpoint directory?")


def read_header(path: str) -> tuple[dict, int, dict]:
    """(header without `__metadata__`, offset of the data, the metadata) of one safetensors file;
    CheckpointError if it is not one."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            (length,) = struct.unpack("<Q", f.read(8))
            if length > min(size - 8, MAX_HEADER_BYTES):
                raise ValueError(f"a header of {length} bytes in a file of {size}")
            header = json.loads(f.read(length))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
    except (OSError, ValueError, struct.error) as e:
        raise CheckpointError(
            f"cannot read {path}: {str(e).splitlines()[0]}; the file is truncated or corrupt, re-download it"
        ) from e
    metadata = header.pop("__metadata__", None)
    return header, 8 + length, metadata if isinstance(metadata, dict) else {}


def count_parameters(directory: str, stem: str = "model") -> int:
    """Parameters in a folder's weights, from the headers alone; 0 when it holds none."""
    try:
        files = safetensors_files(directory, stem)
    except CheckpointError:
        if not os.path.exists(os.path.join(directory, f"{stem}.safetensors.index.json")):
            return 0
        raise
    total = 0
    for path in files.paths:
        header, _, _ = read_header(path)
        for name, entry in header.items():
            try:
                n = 1
                for d in entry["shape"]:
                    n *= int(d)
            except (TypeError, KeyError, ValueError) as e:
                raise CheckpointError(f"{path}: tensor '{name}' has no valid shape; the file is corrupt") from e
            total += n
    return total
