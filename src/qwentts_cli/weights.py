"""safetensors -> the project's modules: strict (every key, every shape), one copy in memory.

Modules are built on the meta device, then each parameter is assigned the tensor read from
the memory-mapped file (converted to the target dtype/device only when it differs), so the
weights exist once in memory, as in gpt-fast's `load_state_dict(assign=True)`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from qwentts_cli.errors import CheckpointError


def safetensors_files(directory: str, stem: str = "model") -> list[str]:
    """The files holding a checkpoint's weights: `model.safetensors` or the shards of its index."""
    single = os.path.join(directory, f"{stem}.safetensors")
    index = os.path.join(directory, f"{stem}.safetensors.index.json")
    if os.path.isfile(single):
        return [single]
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
        except (OSError, ValueError, KeyError) as e:
            raise CheckpointError(f"{index} is not a valid safetensors index ({e}); re-download the model") from e
        files = [os.path.join(directory, name) for name in sorted(set(weight_map.values()))]
        for path in files:
            if not os.path.isfile(path):
                raise CheckpointError(f"{path} is missing (listed in {os.path.basename(index)}); re-download the model")
        return files
    raise CheckpointError(f"no {stem}.safetensors in {directory}; is this a Qwen3-TTS checkpoint directory?")


def read_tensors(files: Iterable[str], keep: Callable[[str], bool] = lambda name: True) -> dict[str, torch.Tensor]:
    """Memory-mapped tensors from safetensors files, by name (zero-copy views of the files)."""
    tensors: dict[str, torch.Tensor] = {}
    for path in files:
        try:
            with safe_open(path, framework="pt", device="cpu") as f:
                for name in f.keys():
                    if keep(name):
                        tensors[name] = f.get_tensor(name)
        except (SafetensorError, OSError, RuntimeError) as e:
            raise CheckpointError(
                f"cannot read {path}: {str(e).splitlines()[0]}; the file is truncated or corrupt, re-download it"
            ) from e
    return tensors


def assign_weights(
    module: nn.Module,
    tensors: dict[str, torch.Tensor],
    source: str,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
    keep_float32: Callable[[str], bool] = lambda name: False,
    keep_stored: Callable[[str], bool] = lambda name: False,
) -> None:
    """Assign `tensors` to `module`'s parameters and persistent buffers, checking every key and shape.

    `keep_float32` names tensors to hold in float32 whatever `dtype` is; `keep_stored` names
    tensors to keep in the file's dtype (when it is at most as wide as `dtype`), zero-copy.
    Raises CheckpointError naming the first missing tensor or wrong shape. Tensors in the file
    that the module does not use are an error too (a sign of an unsupported checkpoint).
    """
    expected = dict(module.named_parameters())
    expected.update({k: v for k, v in module.named_buffers() if _is_persistent(module, k)})
    missing = [k for k in expected if k not in tensors]
    if missing:
        raise CheckpointError(
            f"{source} is missing tensor '{missing[0]}' ({len(missing)} missing in all); "
            "the checkpoint is incomplete or not a Qwen3-TTS 12Hz model"
        )
    unexpected = [k for k in tensors if k not in expected]
    if unexpected:
        raise CheckpointError(
            f"{source} has unexpected tensor '{unexpected[0]}' ({len(unexpected)} in all); "
            "this checkpoint's architecture is not supported"
        )
    state = {}
    for name, ref in expected.items():
        t = tensors[name]
        if tuple(t.shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{source}: tensor '{name}' has shape {tuple(t.shape)}, expected {tuple(ref.shape)} "
                "from config.json; the weights and config do not belong together"
            )
        target = torch.float32 if keep_float32(name) else dtype
        if keep_stored(name) and t.dtype.itemsize <= target.itemsize:
            target = t.dtype
        if t.is_floating_point() and t.dtype != target:
            t = t.to(target)
        state[name] = t.to(device)
    module.load_state_dict(state, strict=True, assign=True)


def _is_persistent(module: nn.Module, qualified_name: str) -> bool:
    owner_name, _, buffer_name = qualified_name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    return buffer_name not in owner._non_persistent_buffers_set
