"""A Base checkpoint's `speaker_encoder.*` tensors -> a ready SpeakerEncoder (float32, as the official runs it)."""

from __future__ import annotations

import torch

from qwentts_cli.config import SpeakerEncoderConfig
from qwentts_cli.errors import CheckpointError
from qwentts_cli.load.files import safetensors_files
from qwentts_cli.load.tensors import assign_weights, read_tensors
from qwentts_cli.model.speaker_encoder import SpeakerEncoder

PREFIX = "speaker_encoder."


def load_speaker_encoder(model_dir: str, config: SpeakerEncoderConfig,
                         device: torch.device | str = "cpu") -> SpeakerEncoder:
    """Build the speaker encoder on the meta device and assign it the checkpoint's `speaker_encoder.*`
    tensors (stored as bfloat16 in the published checkpoints), widened to float32.

    Strict: a missing tensor (named in full), a wrong shape or an extra tensor is a CheckpointError.
    """
    with torch.device("meta"):
        encoder = SpeakerEncoder(config)
    files = safetensors_files(model_dir)
    tensors = read_tensors(files, keep=lambda name: name.startswith(PREFIX)).strip_prefix(PREFIX)
    if not tensors:
        raise CheckpointError(f"{files.label} has no speaker encoder (no '{PREFIX}*' tensors); "
                              "voice cloning needs a Base checkpoint (Qwen3-TTS-12Hz-*-Base)")
    # Checked here rather than left to assign_weights, so that the message names the tensor as the
    # checkpoint does and says which part of the model it belongs to.
    missing = [name for name in encoder.state_dict() if name not in tensors]
    if missing:
        in_all = f" ({len(missing)} missing in all)" if len(missing) > 1 else ""
        raise CheckpointError(f"{files.label} is missing tensor '{PREFIX}{missing[0]}' of the speaker encoder{in_all}; "
                              "the checkpoint is incomplete, re-download it")
    try:
        assign_weights(encoder, tensors, torch.float32, device)
    except CheckpointError as e:  # a wrong shape or an unknown tensor: its name is without the prefix
        raise CheckpointError(f"speaker encoder ('{PREFIX}*'): {e.message}") from e
    tensors.release_unused(encoder)  # the bfloat16 pages were copied into float32
    return encoder.eval()
