"""Where a model comes from (a local directory, a Hugging Face repo id in the local cache, a download),
and its configs, read once.

No torch here: resolving a model path must be cheap, and `qwentts download` never needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from qwentts_cli.config import SamplingConfig, TTSConfig
from qwentts_cli.errors import ModelNotFoundError, QwenTTSError

DEFAULT_REPO_ID = "Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice"
MODEL_ENV = "QWENTTS_MODEL"
REQUIRED_FILES = ("config.json", "speech_tokenizer/config.json")


def default_model_spec() -> str:
    """$QWENTTS_MODEL if set, else the default repo id (found in the Hugging Face cache after `qwentts download`)."""
    return os.environ.get(MODEL_ENV) or DEFAULT_REPO_ID


def looks_like_repo_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "~")) and not os.path.exists(spec)


def resolve_model_dir(spec: str | None) -> str:
    """A checkpoint directory for `spec` (a path or a repo id); None means the default model.

    Raises ModelNotFoundError with the command that would fix it.
    """
    spec = spec or default_model_spec()
    if os.path.isdir(spec):
        return check_model_dir(spec)
    if looks_like_repo_id(spec):
        return check_model_dir(_from_hf_cache(spec))
    if os.path.exists(spec):
        raise ModelNotFoundError(f"'{spec}' is a file, not a checkpoint folder; pass <model=DIR>, the folder that "
                                 "holds config.json")
    raise ModelNotFoundError(
        f"no model directory at '{spec}'; pass <model=DIR> or a repo id such as {DEFAULT_REPO_ID}"
    )


def check_model_dir(path: str) -> str:
    for name in REQUIRED_FILES:
        if not os.path.isfile(os.path.join(path, name)):
            raise ModelNotFoundError(
                f"'{path}' is not a Qwen3-TTS checkpoint: {name} is missing; re-download it with `qwentts download`"
            )
    return path


def _from_hf_cache(repo_id: str) -> str:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(repo_id, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, OSError) as e:
        raise ModelNotFoundError(
            f"model '{repo_id}' is not in the local Hugging Face cache; run `qwentts download {repo_id}` "
            "(needs network) or pass <model=DIR>"
        ) from e


def download(repo_id: str, local_dir: str | None = None) -> str:
    """Fetch a checkpoint from the Hugging Face Hub (progress bars on stderr); returns its directory."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    if not looks_like_repo_id(repo_id):
        raise ModelNotFoundError(f"'{repo_id}' is not a repo id; use the form OWNER/NAME, e.g. {DEFAULT_REPO_ID}")
    try:
        path = snapshot_download(repo_id, local_dir=local_dir)
    except RepositoryNotFoundError as e:
        raise ModelNotFoundError(f"no repository '{repo_id}' on the Hugging Face Hub; check the name") from e
    except (HfHubHTTPError, OSError, ValueError) as e:
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise QwenTTSError(f"download of '{repo_id}' failed ({first_line}); check your network and try again") from e
    return check_model_dir(path)


RANDOM_PREFIX = "random:"


@dataclass(frozen=True)
class Checkpoint:
    """A model found and its configs parsed, once: what the CLI checks a request against before any
    weights are read, and what the loader then loads."""

    path: str  # the checkpoint directory, or `random:SIZE` (the published shape, random weights)
    config: TTSConfig
    sampling: SamplingConfig  # generation_config.json's defaults

    @property
    def random_size(self) -> str | None:
        return self.path[len(RANDOM_PREFIX) :] if self.path.startswith(RANDOM_PREFIX) else None


def open_checkpoint(spec: str | None) -> Checkpoint:
    """The checkpoint `spec` names (a directory, a repo id in the HF cache, `random:0.6b`; None: the default)."""
    if spec and spec.startswith(RANDOM_PREFIX):
        from qwentts_cli.load.presets import preset_config

        return Checkpoint(spec, preset_config(spec[len(RANDOM_PREFIX) :]), SamplingConfig())
    model_dir = resolve_model_dir(spec)
    return Checkpoint(model_dir, TTSConfig.from_dir(model_dir), SamplingConfig.from_generation_config(model_dir))
