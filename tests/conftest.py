"""Shared test fixtures: the micro checkpoint (tests/fixtures) with golden outputs from the official package.

Test layout: unit/ (in-process, the micro checkpoint or no checkpoint), parity/ (against
the golden data), cli/ (the command line: in-process through `main()`, and a few real
subprocesses where a process is the point: pipes, signals, ttys, import cost, the wheel).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# Read when the normalizer is first imported: set before any test module can import it, so a rule
# that raises fails its test instead of being skipped (text/normalize/common.py).
os.environ["QWENTTS_NORMALIZE_STRICT"] = "1"

# Under pytest-xdist (`-n 2`, as the README runs the suite) each worker is worth one core: torch's
# threads, and those of the CLIs the tests start, are held to one. Two workers of two threads
# each on two cores took 566 s instead of 83 s (OpenMP threads spin while they wait).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# The parity fixture travels with the repository; QWENTTS_FIXTURE points the suite at another copy.
FIXTURE = Path(os.environ.get("QWENTTS_FIXTURE", TESTS / "fixtures" / "qwen3-tts-micro"))
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


def golden_wav(name: str) -> np.ndarray:
    """The official package's float32 waveform of a golden case, (samples,)."""
    return np.load(_require_fixture() / "golden" / name / "wav.npy").reshape(-1)


def golden_request(case: dict, greedy_sampling) -> dict:
    """The request fields that reproduce a golden case (greedy; the official generate keeps N - 1 of N tokens)."""
    return dict(
        speaker=case["speaker"],
        language=case["language"],
        sampling=greedy_sampling(repetition_penalty=case.get("repetition_penalty", 1.05)),
        max_frames=case["max_new_tokens"] - 1,
        streaming_text=not case.get("non_streaming_mode", True),
    )


@pytest.fixture(scope="session")
def synthesizer(model_dir: Path):
    from qwentts_cli.runtime import Synthesizer

    return Synthesizer.from_pretrained(str(model_dir))


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory):
    """Keep the int8 row cache (load/quant_cache.py) out of the user's ~/.cache during tests."""
    from qwentts_cli.load.quant_cache import CACHE_ENV

    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("qwentts-cache"))
    yield
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous
