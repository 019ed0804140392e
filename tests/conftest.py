"""Shared test fixtures: the micro checkpoint with golden outputs from the official package."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The parity fixture lives beside the checkout (../shared), as in CI; QWENTTS_FIXTURE overrides.
FIXTURE = Path(os.environ.get("QWENTTS_FIXTURE", REPO.parent / "shared" / "fixtures" / "qwen3-tts-micro"))
GOLDEN_CASES = ["ru_short", "en_medium", "auto_dialect", "ru_streaming_text"]


def _require_fixture() -> Path:
    if not (FIXTURE / "model" / "config.json").is_file():
        pytest.fail(f"parity fixture not found at {FIXTURE}; set QWENTTS_FIXTURE to the qwen3-tts-micro folder")
    return FIXTURE


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    return _require_fixture()


@pytest.fixture(scope="session")
def model_dir(fixture_dir: Path) -> Path:
    return fixture_dir / "model"


def load_case(name: str) -> dict:
    with open(_require_fixture() / "golden" / name / "case.json", encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def synthesizer(model_dir: Path):
    from qwentts_cli.runtime import Synthesizer

    return Synthesizer.from_pretrained(str(model_dir))


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory):
    """Keep the int8 row cache (model/quant_cache.py) out of the user's ~/.cache during tests."""
    from qwentts_cli.model.quant_cache import CACHE_ENV

    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("qwentts-cache"))
    yield
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous
