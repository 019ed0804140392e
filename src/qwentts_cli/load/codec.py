"""A checkpoint's speech_tokenizer folder -> a ready CodecDecoder (the `decoder.*` tensors only)."""

from __future__ import annotations

import os

import torch
from torch import Tensor

from qwentts_cli.config import CodecDecoderConfig
from qwentts_cli.errors import CheckpointError
from qwentts_cli.load.files import safetensors_files
from qwentts_cli.load.pack import pack_codec, packs_codec
from qwentts_cli.load.tensors import MappedTensors, assign_weights, read_tensors
from qwentts_cli.model.codec import CodecDecoder

# EuclideanCodebook's floor on cluster usage when turning its EMA sums into code vectors.
CODEBOOK_EPS = 1e-5


def load_codec_decoder(speech_tokenizer_dir: str, dtype: torch.dtype = torch.float32,
                       device: torch.device | str = "cpu", pack: bool | None = None) -> CodecDecoder:
    """The decoder of a checkpoint's speech_tokenizer folder (config.json + model.safetensors), ready to run.

    Only the `decoder.*` tensors are read; the encoder's (used to encode reference audio for
    voice cloning) are left in the file. The checkpoint holds plain weights (no weight_norm
    parametrizations: the official decoder is built from plain Conv1d/Linear layers); the one
    thing folded at load time is the codebooks, see `_fold_quantizer`.

    `pack`: its float32 layers in oneDNN's layout (load/pack.py; None: where `packs_codec` says).
    """
    config = CodecDecoderConfig.from_json(os.path.join(speech_tokenizer_dir, "config.json"))
    prefix = "decoder."
    tensors = read_tensors(safetensors_files(speech_tokenizer_dir), keep=lambda n: n.startswith(prefix))
    tensors = tensors.strip_prefix(prefix)
    _fold_quantizer(tensors, config, dtype)
    with torch.device("meta"):
        decoder = CodecDecoder(config)
    assign_weights(decoder, tensors, dtype=dtype, device=device)
    if dtype is torch.float32 and packs_codec(device, pack):
        pack_codec(decoder, copied=tensors.release_copied)
    tensors.release_unused(decoder)  # the folded codebook statistics, and the plain forms of packed weights
    # Buffers derived from the config, not stored in the file (left on the meta device so far).
    decoder.pre_transformer.init_rope(device)
    decoder.quantizer.init_offsets(device)
    return decoder.eval()


def _fold_quantizer(tensors: MappedTensors, config: CodecDecoderConfig, dtype: torch.dtype) -> None:
    """Checkpoint quantizer tensors -> our `quantizer.*` (in place).

    Each official codebook stores training statistics, `embedding_sum` (V, D) and
    `cluster_usage` (V,), and divides them on every decode (16 x 2048 x 256 divisions per call
    at the real size); we divide once here and stack the 16 tables.
    The `input_proj` weights are the encoder side's and are not needed to decode.
    """

    def take(name: str) -> Tensor:
        if name not in tensors:
            raise CheckpointError(f"{tensors.label} is missing tensor 'decoder.{name}'; "
                                  "the checkpoint is incomplete or not a Qwen3-TTS 12Hz model")
        return tensors.pop(name)

    V, D = config.codebook_size, config.codebook_dim // 2
    tables = []
    for q in range(config.num_quantizers):
        group, i = ("rvq_first", 0) if q == 0 else ("rvq_rest", q - 1)
        stem = f"quantizer.{group}.vq.layers.{i}._codebook."
        usage, total = take(stem + "cluster_usage"), take(stem + "embedding_sum")
        if tuple(usage.shape) != (V,) or tuple(total.shape) != (V, D):
            raise CheckpointError(
                f"{tensors.source(stem + 'embedding_sum')}: codebook 'decoder.{stem}*' has shapes {tuple(total.shape)} and {tuple(usage.shape)}, "
                f"expected {(V, D)} and {(V,)} from config.json; the weights and config do not belong together")
        # In the model's dtype, as the official code divides: the same table, bit for bit.
        tables.append(total.to(dtype) / usage.to(dtype).clamp(min=CODEBOOK_EPS)[:, None])
    tensors["quantizer.codebooks"] = torch.stack(tables)  # (Q, V, D)
    for group, ours in (("rvq_first", "first_proj"), ("rvq_rest", "rest_proj")):
        tensors.pop(f"quantizer.{group}.input_proj.weight", None)
        w = take(f"quantizer.{group}.output_proj.weight")  # Conv1d k=1: (codebook_dim, D, 1)
        tensors[f"quantizer.{ours}.weight"] = w.flatten(1) if w.dim() == 3 and w.shape[-1] == 1 else w
