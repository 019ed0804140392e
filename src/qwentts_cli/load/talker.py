"""A checkpoint's `talker.*` tensors -> a ready Talker (with its code predictor): fused, typed, optionally int8."""

from __future__ import annotations

import torch

from qwentts_cli.config import TTSConfig
from qwentts_cli.errors import UnsupportedConfigError
from qwentts_cli.load.files import safetensors_files
from qwentts_cli.load.fusion import fuse_projections, fusion_plan
from qwentts_cli.load.pack import pack_talker, packs
from qwentts_cli.load.quant_cache import cache_file, read_rows
from qwentts_cli.load.quantize import quantize_talker, quantized_linears, swap_in_cached
from qwentts_cli.load.tensors import assign_weights, fuse_rows, read_tensors
from qwentts_cli.model.talker import Talker


def load_talker(model_dir: str, cfg: TTSConfig, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                quantize: str | None = None, pack: bool | None = None) -> Talker:
    """Build the talker on the meta device and assign it the checkpoint's `talker.*` tensors.

    `quantize` ("int8", "int8-weight"): the per-frame linears become int8 (quantize.py).
    `pack`: bfloat16 linears in oneDNN's layout (pack.py); None: where pack.packs says so.
    """
    with torch.device("meta"):
        talker = Talker(cfg.talker)
    plan = fusion_plan(talker)
    # Still on the meta device, so only the module structure changes. (Outside the device
    # context: under it, meta ops run through Python reference implementations, ~1 s here.)
    fuse_projections(talker)
    files = safetensors_files(model_dir)
    tensors = read_tensors(files)
    # Base checkpoints also carry the speaker encoder (voice cloning), which is not run here.
    foreign = [k for k in tensors if not k.startswith(("talker.", "speaker_encoder."))]
    if foreign:
        raise UnsupportedConfigError(f"{tensors.source(foreign[0])} has unexpected tensor '{foreign[0]}'; "
                                     "this checkpoint is not supported")
    talker_tensors = tensors.strip_prefix("talker.")
    del tensors
    # The text embedding table (151936 x 2048, a third of the 0.6B checkpoint) is only read a few
    # rows per sentence: it stays as stored, memory-mapped, instead of being widened to float32.
    # Linears about to be quantized are read as stored too: widening them first would cost a copy.
    kept = {"model.text_embedding.weight"}
    quantize_after: tuple[str, str] | None = None  # (mode, cache file to write) when quantizing below
    if quantize:
        names = quantized_linears(talker, quantize)
        cache = cache_file(files.paths, quantize, dtype)
        cached = read_rows(cache, {name: tuple(talker.get_submodule(name).weight.shape) for name in names})
        if cached is None:
            kept.update(f"{name}.weight" for name in names)
            quantize_after = (quantize, cache)
        else:
            # The int8 rows of a previous load: these linears' float matrices are never read, nor fused.
            # Biases as assign_weights would have made them (in `dtype`), so a warm load equals a cold one.
            biases = {name: talker_tensors[f"{name}.bias"].to(dtype) for name in names if f"{name}.bias" in talker_tensors}
            swap_in_cached(talker, quantize, names, cached, biases)
            _drop_tensors_of(talker_tensors, names, plan)
            plan = [entry for entry in plan if entry[0][: -len(".weight")] not in names]
    for fused, parts, shapes in plan:
        fuse_rows(talker_tensors, fused, parts, shapes, dtype=None if fused in kept else dtype)
    assign_weights(talker, talker_tensors, dtype, device, keep_stored=kept.__contains__)
    # From here the module holds the weights; drop the dict's references so that each float
    # matrix is freed as soon as its int8 form replaces it (the recorded spans stay).
    talker_tensors.clear()
    if quantize_after:
        quantize_talker(talker, *quantize_after)
    if packs(dtype, device, quantize) if pack is None else pack:
        pack_talker(talker, copied=talker_tensors.release_copied)
    talker_tensors.release_unused(talker)  # keep resident only what the model still reads from the file
    return talker.eval()


def _drop_tensors_of(tensors, linears: list[str], plan) -> None:
    """Remove (and release) the checkpoint tensors of `linears` that were replaced before loading:
    their weights, or the parts fused into them, and their biases."""
    parts = {fused: names for fused, names, _ in plan}
    for name in linears:
        for key in (*parts.get(f"{name}.weight", [f"{name}.weight"]), f"{name}.bias"):
            if key in tensors:
                del tensors[key]
                tensors.release(key)
