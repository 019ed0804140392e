"""The built wheel works on its own: package data (the text tokenizer, the native sources) included, console script runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120  # seconds, per subprocess; the whole test takes about 10 s on 2 cores


def run(args: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def build_wheel(tmp_path: Path, env: dict) -> Path:
    # Build from a copy of what the wheel is made of, not in the checkout: an in-tree build leaves
    # build/ behind, and setuptools packs whatever is in build/lib, so files deleted from src/ since
    # an earlier build would slip into the wheel and hide a packaging bug.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path / "dist"
    done = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                "--disable-pip-version-check", "-q", "-w", dist, source], tmp_path, env)
    assert done.returncode == 0, done.stderr
    (wheel,) = dist.glob("qwentts_cli-*.whl")
    return wheel


def make_venv(tmp_path: Path, wheel: Path, env: dict) -> Path:
    """A fresh venv holding the wheel, with this interpreter's installed packages (torch...) visible.

    The dependencies come from this interpreter's site-packages through a .pth file in the venv
    (`site.addsitedir`), not `--system-site-packages`: that option exposes the *base* interpreter's
    packages only, which lack torch when the tests run from a venv themselves. Nothing is downloaded.
    Those site-packages also hold the editable install's .pth, which appends the checkout's src/
    to sys.path; its entry comes after the venv's own site-packages, so the wheel's copy wins.
    The test asserts that rather than assuming it.
    """
    root = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    site_dir = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path, env)
    assert site_dir.returncode == 0, site_dir.stderr
    ours = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    lines = [f"import site; site.addsitedir({p!r})" for p in ours]
    (Path(site_dir.stdout.strip()) / "_outer_site_packages.pth").write_text("\n".join(lines) + "\n")
    # pip is this interpreter's, run by the venv's python, so it installs into the venv. --ignore-installed:
    # the editable qwentts-cli 0.1.0 is visible too and would otherwise count as "already satisfied".
    done = run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
                "--disable-pip-version-check", "-q", wheel], tmp_path, env)
    assert done.returncode == 0, done.stderr
    return root


def test_wheel_installs_and_runs(tmp_path: Path, model_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["HF_HUB_OFFLINE"] = "1"
    wheel = build_wheel(tmp_path, env)
    root = make_venv(tmp_path, wheel, env)
    python, qwentts = root / "bin" / "python", root / "bin" / "qwentts"

    where = run([python, "-c", "import qwentts_cli, qwentts_cli.text.tokenizer as t, qwentts_cli.native.build as b; "
                 "print(qwentts_cli.__file__); print(t.SHIPPED_DIR); print(b.HERE)"], tmp_path, env)
    assert where.returncode == 0, where.stderr
    package_file, shipped_dir, native_dir = (Path(line) for line in where.stdout.splitlines())
    assert package_file.is_relative_to(root), f"the venv imports {package_file}, not the wheel's copy"
    assert not package_file.is_relative_to(REPO)
    assert shipped_dir.is_relative_to(root) and (shipped_dir / "vocab.json").is_file()
    # The native packer's source and header stand-ins, compiled on a user's first int8 load.
    assert native_dir.is_relative_to(root)
    assert (native_dir / "pack_int8_rows.cpp").is_file()
    assert {p.name for p in (native_dir / "include" / "asmjit").iterdir()} == {"core.h", "x86.h"}

    done = run([qwentts, "tokenize", "Привет"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "53645 26991 8178\n"

    done = run([qwentts, "synth", "Hello there.", "--model", model_dir, "--language", "english",
                "--speaker", "vivian", "--greedy", "--max-frames", "4", "--no-normalize",
                "--dump-codes", "C.npy", "-o", "out.wav"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    info = sf.info(str(tmp_path / "out.wav"))
    assert info.format == "WAV"
    assert info.samplerate == 24000
    assert info.frames == 4 * 1920

    from qwentts_cli.runtime import Synthesizer

    synth = Synthesizer.from_pretrained(str(model_dir))
    expected = synth.synthesize("Hello there.", speaker="vivian", language="english",
                                sampling=synth.greedy(), max_frames=4).codes
    codes = np.load(tmp_path / "C.npy")
    assert codes.shape == (4, 16)
    np.testing.assert_array_equal(codes, expected)
