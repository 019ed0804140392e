"""An on-disk cache of int8 rows, so that `--quantize` does not quantize the checkpoint at every start.

Quantizing the 0.6B talker's 0.52 G linear weights (quantize_rows) took 2.3-3.3 s of each
int8 load on the 2-core machine of docs/benchmark.md; reading the rows back from a memory
map takes a fraction of a second. The rows are stored exactly, so a cached load computes
exactly what an uncached one does.

The file is safetensors (scales first, then the int8 matrices, so every tensor is aligned),
keyed by the checkpoint files (path, size, modification time), the mode and this format's
version. It is only a cache: one that is missing, stale, unreadable or unwritable is
ignored (and rewritten when possible), never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import time
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor

import torch

from qwentts_cli.errors import CheckpointError, QwenTTSWarning
from qwentts_cli.load.files import WeightFiles
from qwentts_cli.load.tensors import MappedTensors, read_tensors

CACHE_ENV = "QWENTTS_CACHE_DIR"
# 2: a CRC-32 of every tensor in the metadata, checked on load.
FORMAT = "qwentts-int8-rows-2"


def cache_root() -> str:
    """$QWENTTS_CACHE_DIR, else $XDG_CACHE_HOME/qwentts, else ~/.cache/qwentts."""
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "qwentts")


def cache_file(weight_files: list[str], mode: str, dtype: torch.dtype) -> str:
    """Where the int8 rows of this checkpoint (as it is now on disk), mode and load dtype are kept.

    The dtype counts because a float32 checkpoint loaded in bfloat16 is quantized from its
    narrowed weights. The file's inode and change time catch a same-size replacement that kept
    the modification time (`cp -p`, `rsync -a`); the package version, a change of the code.
    """
    from qwentts_cli import __version__

    key = hashlib.sha256(f"{FORMAT}\0{__version__}\0{mode}\0{dtype}\0".encode())
    for path in weight_files:
        stat = os.stat(path)
        key.update(f"{os.path.realpath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ino}\0{stat.st_ctime_ns}\0".encode())
    return os.path.join(cache_root(), "int8", f"{key.hexdigest()[:32]}.safetensors")


def read_rows(path: str, shapes: dict[str, tuple[int, int]]) -> MappedTensors | None:
    """The cached `{name}.q` (int8) and `{name}.scale` (float32) of every linear in `shapes`,
    memory-mapped; None unless the file holds all of them with these shapes and checksums.

    A file whose bytes do not match their checksums (a disk error, an edit) is a miss with one
    warning: the rows are made again from the checkpoint and the file rewritten.
    """
    if not os.path.isfile(path):
        return None
    try:
        rows = read_tensors(WeightFiles([path], path))
    except CheckpointError:
        return None
    if rows.metadata.get("format") != FORMAT:
        return None
    for name, (n, k) in shapes.items():
        q, scale = rows.get(f"{name}.q"), rows.get(f"{name}.scale")
        if q is None or scale is None or q.dtype != torch.int8 or tuple(q.shape) != (n, k) \
                or scale.dtype != torch.float32 or tuple(scale.shape) != (n,):
            return None
        if not bool((scale > 0).all()):  # quantize_rows never writes one: zeroed data
            return None
    # zlib releases the GIL over large buffers: the checksums run on as many threads as torch
    # computes with (0.55 GB for the 0.6B talker).
    keys = list(rows)
    with ThreadPoolExecutor(max_workers=max(1, torch.get_num_threads())) as pool:
        sums = list(pool.map(lambda key: _crc32(rows[key]), keys))
    damaged = [key for key, crc in zip(keys, sums) if rows.metadata.get(f"crc32.{key}") != crc]
    if damaged:
        warnings.warn(QwenTTSWarning(f"the int8 row cache {path} is damaged ({len(damaged)} tensors do not match "
                                     "their checksums); quantizing again"), stacklevel=2)
        return None
    return rows


def _crc32(t: torch.Tensor) -> str:
    return f"{zlib.crc32(memoryview(t.contiguous().view(torch.uint8).numpy())) & 0xFFFFFFFF:08x}"


class RowsWriter:
    """Writes the rows into a new cache file as they are made, so they need not be kept in memory.

    Every offset is known from the shapes up front: the header is written first and each
    tensor lands at its place. The file appears under its name only when `finish()` completes.
    """

    def __init__(self, path: str, shapes: dict[str, tuple[int, int]]):
        self.path = path
        metadata = {"format": FORMAT}
        header: dict[str, dict] = {"__metadata__": metadata}
        offset = 0
        for name, (n, _) in shapes.items():  # scales first: float32 at 4-byte aligned offsets
            header[f"{name}.scale"] = {"dtype": "F32", "shape": [n], "data_offsets": [offset, offset + 4 * n]}
            offset += 4 * n
        for name, (n, k) in shapes.items():
            header[f"{name}.q"] = {"dtype": "I8", "shape": [n, k], "data_offsets": [offset, offset + n * k]}
            offset += n * k
        # Checksums as fixed-width placeholders: `finish` rewrites the header with the real ones,
        # the same length, so no data moves.
        metadata.update({f"crc32.{key}": "00000000" for key in header if key != "__metadata__"})
        self.header = header
        text = self._header_bytes()
        self.base = len(text)  # the length prefix and the header
        self.offsets = {name: info["data_offsets"][0] for name, info in header.items() if name != "__metadata__"}
        self.missing = set(shapes)
        self.file = self.temp = None
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, self.temp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".part")
            self.file = os.fdopen(fd, "wb")
            self.file.write(text)
        except OSError:
            self.abandon()

    def _header_bytes(self) -> bytes:
        text = json.dumps(self.header, separators=(",", ":")).encode()
        text += b" " * (-(8 + len(text)) % 8)  # the data start 8-byte aligned
        return struct.pack("<Q", len(text)) + text

    def add(self, name: str, q: torch.Tensor, scale: torch.Tensor) -> None:
        if self.file is None:
            return
        try:
            for key, t in ((f"{name}.scale", scale.float()), (f"{name}.q", q)):
                self.header["__metadata__"][f"crc32.{key}"] = _crc32(t)
                self.file.seek(self.base + self.offsets[key])
                self.file.write(memoryview(t.contiguous().numpy()))  # no copy: a copy per matrix fragmented the heap (+0.8 GB peak)
            self.missing.discard(name)
        except OSError:
            self.abandon()

    def finish(self) -> None:
        if self.file is None:
            return
        if self.missing:  # a file with holes would read back as zeros
            self.abandon()
            return
        try:
            self.file.seek(0)
            self.file.write(self._header_bytes())  # the checksums, in their placeholders
            self.file.flush()
            os.fsync(self.file.fileno())  # on disk before it has its name: no zeroed file after a power cut
            self.file.close()
            os.replace(self.temp, self.path)
        except OSError:
            self.abandon()
        self.file = None
        _remove_stale_parts(os.path.dirname(self.path))

    def abandon(self) -> None:
        """Give up on this cache file (a full or read-only disk): loading goes on without it."""
        if self.file is not None:
            try:
                self.file.close()  # flushes: fails again on a full disk
            except OSError:
                pass
            self.file = None
        try:
            if self.temp and os.path.exists(self.temp):
                os.remove(self.temp)
        except OSError:
            pass


STALE_PART_SECONDS = 3600


def _remove_stale_parts(folder: str) -> None:
    """Delete `.part` files a killed process left behind (an hour old: no live writer takes that long)."""
    try:
        for entry in os.scandir(folder):
            if entry.name.endswith(".part") and time.time() - entry.stat().st_mtime > STALE_PART_SECONDS:
                os.remove(entry.path)
    except OSError:
        pass
