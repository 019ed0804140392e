"""A checkpoint's speech_tokenizer folder -> a ready CodecEncoder (the `encoder.*` tensors only), float32."""

from __future__ import annotations

import os

import torch

from qwentts_cli.config import CodecEncoderConfig, read_json
from qwentts_cli.errors import CheckpointError
from qwentts_cli.load.codec import CODEBOOK_EPS
from qwentts_cli.load.files import safetensors_files
from qwentts_cli.load.tensors import MappedTensors, assign_weights, read_tensors
from qwentts_cli.model.codec.encoder import CodecEncoder

PREFIX = "encoder."
_GROUPS = ("semantic_residual_vector_quantizer", "acoustic_residual_vector_quantizer")


def load_codec_encoder(speech_tokenizer_dir: str, device: torch.device | str = "cpu") -> CodecEncoder:
    """The encoder of a checkpoint's speech_tokenizer folder (config.json, preprocessor_config.json,
    model.safetensors), float32, ready to encode reference audio for voice cloning.

    Only the `encoder.*` tensors are read. Every one the official encoder has must be there with the
    shape config.json implies, and no other (CheckpointError naming the first that is not). The
    codebooks are folded here (`embed_sum / clamp(cluster_usage)`, once), and the tensors the codes
    never use are checked and dropped: the output projections (they decode) and the acoustic RVQ
    layers past the kept codes (16 of 32 codebooks are kept).
    """
    config = CodecEncoderConfig.from_json(os.path.join(speech_tokenizer_dir, "config.json"))
    preprocessor = os.path.join(speech_tokenizer_dir, "preprocessor_config.json")
    if os.path.isfile(preprocessor):  # the feature extractor's settings; the published one changes nothing
        config.check_feature_extractor(read_json(preprocessor), preprocessor)
    tensors = read_tensors(safetensors_files(speech_tokenizer_dir), keep=lambda n: n.startswith(PREFIX))
    tensors = tensors.strip_prefix(PREFIX)
    with torch.device("meta"):
        encoder = CodecEncoder(config)
    _check_names_and_shapes(tensors, _checkpoint_layout(encoder, config))
    _fold_quantizer(tensors, config)
    assign_weights(encoder, tensors, dtype=torch.float32, device=device)
    tensors.release_unused(encoder)  # the codebook statistics, the dropped layers
    return encoder.eval()


def _checkpoint_layout(encoder: CodecEncoder, config: CodecEncoderConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor name (without the prefix) the official encoder's checkpoint holds -> its shape, in module order."""
    c = config
    V, D = c.codebook_size, c.codebook_dim
    layout: dict[str, tuple[int, ...]] = {}
    for name, param in encoder.named_parameters():
        if name.startswith("quantizer."):
            continue  # below: the codebooks are stored unfolded, with layers and projections we drop
        layout[name] = tuple(param.shape)
    for group, layers in zip(_GROUPS, (c.num_semantic_quantizers, c.num_quantizers - c.num_semantic_quantizers)):
        stem = f"quantizer.{group}."
        layout[stem + "input_proj.weight"] = (D, c.hidden_size, 1)
        for i in range(layers):
            layout[f"{stem}layers.{i}.codebook.cluster_usage"] = (V,)
            layout[f"{stem}layers.{i}.codebook.embed_sum"] = (V, D)
            layout[f"{stem}layers.{i}.codebook.initialized"] = (1,)
        layout[stem + "output_proj.weight"] = (c.hidden_size, D, 1)
    return layout


def _check_names_and_shapes(tensors: MappedTensors, layout: dict[str, tuple[int, ...]]) -> None:
    missing = [name for name in layout if name not in tensors]
    if missing:
        in_all = f" ({len(missing)} missing in all)" if len(missing) > 1 else ""
        raise CheckpointError(f"{tensors.label} is missing tensor '{PREFIX}{missing[0]}' of the speech tokenizer's "
                              f"encoder{in_all}; the checkpoint is incomplete or not a Qwen3-TTS 12Hz model "
                              "(the encoder is needed to clone a voice from reference audio)")
    unexpected = [name for name in tensors if name not in layout]
    if unexpected:
        raise CheckpointError(f"{tensors.source(unexpected[0])} has unexpected tensor '{PREFIX}{unexpected[0]}' "
                              f"({len(unexpected)} in all); this speech-tokenizer encoder's architecture "
                              "is not supported")
    for name, shape in layout.items():
        if tuple(tensors[name].shape) != shape:
            raise CheckpointError(f"{tensors.source(name)}: tensor '{PREFIX}{name}' of the speech tokenizer's encoder "
                                  f"has shape {tuple(tensors[name].shape)}, expected {shape} from config.json; "
                                  "the weights and config do not belong together")


def _fold_quantizer(tensors: MappedTensors, config: CodecEncoderConfig) -> None:
    """Checkpoint codebooks -> our `...codebook.embed` (in place); drop what the kept codes never use.

    The official codebook divides its training statistics, `embed_sum` (V, D) by
    `cluster_usage` (V,) clamped to 1e-5, on first use; we divide once here, in float32 as the
    official model (loaded in float32) does: the same table, bit for bit.
    """
    c = config
    for group, kept, stored in zip(_GROUPS, (c.num_semantic_quantizers, c.acoustic_codes),
                                   (c.num_semantic_quantizers, c.num_quantizers - c.num_semantic_quantizers)):
        stem = f"quantizer.{group}."
        for i in range(stored):
            book = f"{stem}layers.{i}.codebook."
            usage, total = tensors.pop(book + "cluster_usage"), tensors.pop(book + "embed_sum")
            tensors.pop(book + "initialized")  # a training flag
            for name, t in ((book + "cluster_usage", usage), (book + "embed_sum", total)):
                if not t.is_floating_point():
                    raise CheckpointError(f"{tensors.source(name)}: tensor '{PREFIX}{name}' is stored as "
                                          f"{str(t.dtype).replace('torch.', '')}, expected floating-point values; "
                                          "the file is damaged or not a Qwen3-TTS 12Hz model")
            if i < kept:
                tensors[book + "embed"] = total.float() / usage.float().clamp(min=CODEBOOK_EPS)[:, None]
        tensors.pop(stem + "output_proj.weight")  # decoding only
