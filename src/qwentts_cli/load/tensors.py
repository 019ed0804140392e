"""safetensors -> the project's modules: strict (every key, every shape), one copy in memory.

Modules are built on the meta device, then each parameter is assigned the tensor read from
the memory-mapped file (converted to the target dtype/device only when it differs, and
written straight into its fused matrix where projections are fused), so the weights exist
once in memory, as in gpt-fast's `load_state_dict(assign=True)`. Pages of the file that were
copied are released, so the file does not stay resident beside the copy.
"""

from __future__ import annotations

import mmap
import warnings
from collections.abc import Callable

import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor, nn

from qwentts_cli.errors import CheckpointError
from qwentts_cli.load.files import WeightFiles, read_header


# safetensors dtype names -> torch dtypes (the ones a Qwen3-TTS checkpoint can hold).
_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


class MappedTensors(dict):
    """name -> tensor viewing a memory-mapped safetensors file, plus where each one lies in its map.

    The map is private (copy-on-write), so a stray in-place write can never reach the file.
    `release(name)` drops the pages of a tensor that has been copied elsewhere (widened to
    float32, quantized): without it every page read while loading would stay resident as long
    as any tensor of the file is alive, and peak memory would be the weights plus the file.
    """

    def __init__(self, label: str = ""):
        super().__init__()
        self.label = label  # how to name this set of tensors in a message (a file, or a shard index)
        self.origin: dict[str, str] = {}  # name -> the file it was read from
        self.metadata: dict[str, str] = {}  # the files' `__metadata__`, merged
        # name -> (map, start, end, address of the tensor's first byte): enough to release the
        # pages after the tensors themselves are dropped (see `clear`).
        self.spans: dict[str, tuple[mmap.mmap, int, int, int]] = {}

    def source(self, name: str) -> str:
        """The file that holds tensor `name` (the set's label for a tensor made here, or missing)."""
        return self.origin.get(name, self.label)

    def strip_prefix(self, prefix: str) -> "MappedTensors":
        """The tensors whose names start with `prefix`, renamed without it (same maps)."""
        out = MappedTensors(self.label)
        for name, t in self.items():
            if name.startswith(prefix):
                short = name[len(prefix) :]
                out[short] = t
                if name in self.origin:
                    out.origin[short] = self.origin[name]
                if name in self.spans:
                    out.spans[short] = self.spans[name]
        return out

    def release_unused(self, module: nn.Module) -> None:
        """Release every mapped tensor `module` does not hold as is (widened, fused, quantized or unused).

        Works from the recorded addresses, so it also covers names popped or cleared from the dict.
        """
        # (Packed bfloat16 weights, model/packed.py, are opaque oneDNN tensors with no data pointer:
        # never one of the file's.)
        held = {t.data_ptr() for t in (*module.parameters(), *module.buffers()) if not t.is_mkldnn}
        for name, (_, _, _, address) in list(self.spans.items()):
            if address not in held:
                self.release(name)

    def release_copied(self, t: Tensor) -> None:
        """Release the mapped tensor whose data `t` is (a module copied it and drops it), if any."""
        address = t.data_ptr()
        for name in [name for name, span in self.spans.items() if span[3] == address]:
            self.release(name)

    def release(self, name: str) -> None:
        span = self.spans.pop(name, None)
        if span is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        mm, start, end, _ = span
        page = mmap.PAGESIZE
        first, last = -(-start // page) * page, end // page * page  # whole pages inside the tensor only
        if last > first:
            mm.madvise(mmap.MADV_DONTNEED, first, last - first)


def read_tensors(files: WeightFiles, keep: Callable[[str], bool] = lambda name: True) -> MappedTensors:
    """Memory-mapped tensors from safetensors files, by name (zero-copy views of the files).

    safetensors' own `safe_open` validates each file (a truncated or corrupt one is a
    CheckpointError); the data are then viewed through our own map so that pages can be released.
    """
    tensors = MappedTensors(files.label)
    for path in files.paths:
        header, base, metadata = read_header(path)
        tensors.metadata.update(metadata)
        try:
            with safe_open(path, framework="pt", device="cpu"):
                pass  # validation only: offsets and file length
            with open(path, "rb") as f:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)  # private, copy-on-write
        except (SafetensorError, OSError, RuntimeError, ValueError) as e:
            raise CheckpointError(
                f"cannot read {path}: {str(e).splitlines()[0]}; the file is truncated or corrupt, re-download it"
            ) from e
        for name, info in header.items():
            if not keep(name):
                continue
            dtype = _DTYPES.get(info["dtype"])
            if dtype is None:
                raise CheckpointError(f"{path}: tensor '{name}' has dtype {info['dtype']}, which this code cannot read")
            start, end = (base + offset for offset in info["data_offsets"])
            shape = tuple(info["shape"])
            tensors.origin[name] = path
            if end == start:
                tensors[name] = torch.empty(shape, dtype=dtype)
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "non-writable buffer": it is writable, copy-on-write
                flat = torch.frombuffer(mm, dtype=torch.uint8, count=end - start, offset=start)
            tensors[name] = flat.view(dtype).view(shape)
            tensors.spans[name] = (mm, start, end, flat.data_ptr())
    return tensors


def fuse_rows(tensors: MappedTensors, fused: str, parts: list[str], shapes: list[tuple[int, ...]],
              dtype: torch.dtype | None) -> None:
    """Replace the `parts` tensors with one tensor `fused`, their rows stacked (q | k | v), in place.

    Each part is converted to `dtype` (None: as stored) straight into its rows of the new tensor:
    one pass over fresh memory, instead of widening each part and then concatenating the copies
    (1.2-1.7 s of the 0.6B float32 load). A missing part or one of the wrong shape is named, as
    assign_weights does.
    """
    for name, shape in zip(parts, shapes):
        if name not in tensors:
            raise _missing(tensors, name)
        if tuple(tensors[name].shape) != shape:
            raise _wrong_shape(tensors, name, tensors[name].shape, shape)
    first = tensors[parts[0]]
    out = torch.empty((sum(shape[0] for shape in shapes), *shapes[0][1:]), dtype=dtype or first.dtype)
    row = 0
    for name in parts:
        part = tensors.pop(name)
        out[row : row + part.shape[0]].copy_(part)
        row += part.shape[0]
        tensors.release(name)
    tensors[fused] = out


def assign_weights(
    module: nn.Module,
    tensors: MappedTensors,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
    keep_stored: Callable[[str], bool] = lambda name: False,
) -> None:
    """Assign `tensors` to `module`'s parameters and persistent buffers, checking every key and shape.

    `keep_stored` names tensors to keep in the file's dtype (when it is at most as wide as
    `dtype`), zero-copy. Errors name the file that holds the tensor (a shard of a sharded
    checkpoint), or the checkpoint's index when a tensor is missing.
    Raises CheckpointError naming the first missing tensor or wrong shape. Tensors in the file
    that the module does not use are an error too (a sign of an unsupported checkpoint).
    """
    expected = dict(module.named_parameters())
    expected.update({k: v for k, v in module.named_buffers() if _is_persistent(module, k)})
    missing = [k for k in expected if k not in tensors]
    if missing:
        raise _missing(tensors, missing[0], len(missing))
    unexpected = [k for k in tensors if k not in expected]
    if unexpected:
        raise CheckpointError(
            f"{tensors.source(unexpected[0])} has unexpected tensor '{unexpected[0]}' ({len(unexpected)} in all); "
            "this checkpoint's architecture is not supported"
        )
    state = {}
    for name, ref in expected.items():
        t = tensors[name]
        if tuple(t.shape) != tuple(ref.shape):
            raise _wrong_shape(tensors, name, t.shape, ref.shape)
        if ref.is_floating_point() and not t.is_floating_point():
            raise CheckpointError(f"{tensors.source(name)}: tensor '{name}' is stored as {str(t.dtype).replace('torch.', '')}, "
                                  "expected floating-point weights; the file is damaged or not a Qwen3-TTS 12Hz model")
        target = dtype
        if keep_stored(name) and t.dtype.itemsize <= target.itemsize:
            target = t.dtype
        if t.is_floating_point() and t.dtype != target:
            t = t.to(target)
        if torch.device(device).type != "cpu":
            t = t.to(device)
        state[name] = t
        if t is not tensors[name]:
            tensors.release(name)  # copied: the file's pages for it are not needed any more
    module.load_state_dict(state, strict=True, assign=True)


def _missing(tensors: MappedTensors, name: str, count: int = 1) -> CheckpointError:
    in_all = f" ({count} missing in all)" if count > 1 else ""
    return CheckpointError(f"{tensors.label} is missing tensor '{name}'{in_all}; "
                           "the checkpoint is incomplete or not a Qwen3-TTS 12Hz model")


def _wrong_shape(tensors: MappedTensors, name: str, got: tuple[int, ...], expected: tuple[int, ...]) -> CheckpointError:
    return CheckpointError(f"{tensors.source(name)}: tensor '{name}' has shape {tuple(got)}, expected {tuple(expected)} "
                           "from config.json; the weights and config do not belong together")


def _is_persistent(module: nn.Module, qualified_name: str) -> bool:
    owner_name, _, buffer_name = qualified_name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    return buffer_name not in owner._non_persistent_buffers_set
