"""Where a model comes from: a local directory, a Hugging Face repo id in the local cache, or a download.

No torch here: resolving a model path must be cheap, and `qwentts download` never needs it.
"""

from __future__ import annotations

import json
import os
import struct

from qwentts_cli.errors import CheckpointError, ModelNotFoundError, QwenTTSError

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
    raise ModelNotFoundError(
        f"no model directory at '{spec}'; pass --model DIR or a repo id such as {DEFAULT_REPO_ID}"
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
            "(needs network) or pass --model DIR"
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


def count_parameters(model_dir: str) -> dict[str, int]:
    """Parameter counts read from the safetensors headers alone (no weights are read)."""

    def count(directory: str, stem: str = "model") -> int:
        single = os.path.join(directory, f"{stem}.safetensors")
        index = os.path.join(directory, f"{stem}.safetensors.index.json")
        if os.path.isfile(single):
            files = [single]
        elif os.path.isfile(index):
            with open(index, encoding="utf-8") as f:
                files = sorted({os.path.join(directory, v) for v in json.load(f)["weight_map"].values()})
        else:
            return 0
        total = 0
        for path in files:
            with open(path, "rb") as f:
                (size,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(size))
            for name, entry in header.items():
                if name != "__metadata__":
                    n = 1
                    for d in entry["shape"]:
                        n *= d
                    total += n
        return total

    try:
        return {"talker": count(model_dir), "codec": count(os.path.join(model_dir, "speech_tokenizer"))}
    except (OSError, ValueError, KeyError, struct.error) as e:
        raise CheckpointError(f"cannot read the safetensors headers in {model_dir} ({e}); re-download the model") from e
