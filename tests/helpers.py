"""Helpers for the CLI tests: run `qwentts` in-process or as a subprocess, and check its error lines."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    returncode: int
    stdout: bytes
    stderr: bytes


def cli_env(**extra: str) -> dict:
    """The environment of a CLI subprocess: this checkout's sources, no default model, no hub access."""
    env = {k: v for k, v in os.environ.items() if k != "QWENTTS_MODEL"}
    env.update(PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1", **extra)
    return env


def run_cli(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m qwentts_cli ARGS` as a real process."""
    return subprocess.run([sys.executable, "-m", "qwentts_cli", *args], input=stdin, capture_output=True,
                          env=cli_env(**(env or {})), timeout=300)


def run_main(*args: str, stdin: bytes = b"") -> Run:
    """`qwentts ARGS` in this process, through `qwentts_cli.cli.main()` (its error mapping and exit
    codes included): stdin, stdout and stderr are byte buffers, none of them a terminal."""
    from qwentts_cli.cli import main

    out, err = io.BytesIO(), io.BytesIO()
    streams = (io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"),
               io.TextIOWrapper(out, encoding="utf-8", write_through=True),
               io.TextIOWrapper(err, encoding="utf-8", write_through=True))
    saved = sys.stdin, sys.stdout, sys.stderr, sys.argv
    sys.stdin, sys.stdout, sys.stderr = streams
    sys.argv = ["qwentts", *args]
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.stdin, sys.stdout, sys.stderr, sys.argv = saved
        for stream in streams:
            stream.flush()
            stream.detach()  # so that collecting the wrapper does not close the buffer
    return Run(code, out.getvalue(), err.getvalue())


# A bfloat16 codec's drift, RMS error over signal RMS: the fixture measures 0.117-0.125, the
# real 0.6B shape 0.127 (docs/benchmark.md, "A bfloat16 codec"); a wrong layer lands far above.
BF16_CODEC_MAX_DRIFT = 0.2


def relative_rms(got: np.ndarray, expected: np.ndarray) -> float:
    """RMS of the error over RMS of the reference."""
    return float(np.sqrt(np.mean((got - expected) ** 2)) / np.sqrt(np.mean(expected**2)))


def assert_clean_error(proc, *needles: str) -> str:
    """A failed run: non-zero exit, one stderr line holding every needle, no traceback, nothing on stdout."""
    err = proc.stderr.decode()
    assert proc.returncode != 0, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert proc.stdout == b""
    return lines[0]


def copy_model(model_dir: Path, dest: Path) -> Path:
    """A writable copy of the checkpoint (big unchanged files are symlinked)."""
    dest.mkdir()
    for item in model_dir.iterdir():
        target = dest / item.name
        if item.is_dir():
            shutil.copytree(item, target)
        elif item.suffix == ".safetensors" or item.name in ("vocab.json", "merges.txt"):
            target.symlink_to(item.resolve())
        else:
            shutil.copy(item, target)
    return dest


def randomize(module, spread: float) -> None:
    """Norm weights 1 + N(0, 0.1), every other parameter N(0, spread), drawn from torch's global
    generator: a small module of any shape with activations of a sane scale, for exactness tests."""
    import torch  # here: the CLI tests import this module too, and some check what gets imported

    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(1 + 0.1 * torch.randn_like(p) if "norm" in name else spread * torch.randn_like(p))
