"""The native int8 packer (native/int8_pack.py, native/build.py): the same packed weights as torch's,
built once into the cache, and a failed build remembered, told once, and replaced by torch's packer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from qwentts_cli.native import build, int8_pack

pytestmark = pytest.mark.skipif(not int8_pack.enabled() or build.compiler() is None,
                                reason="the native packer needs Linux, a torch with fbgemm and a C++ compiler")


@pytest.fixture(scope="module")
def packer():
    """The packer, built into the session's private cache (conftest.py) the first time."""
    packer = int8_pack.load()
    assert packer is not None, "the native packer did not build or load"
    return packer


def _rows(n: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(-127, 128, (n, k), dtype=torch.int8, generator=g)
    return q, torch.rand(n, generator=g) / 50 + 1e-4, torch.randn(n, generator=g)


# The talker's shapes (K = 1024 or a multiple: the case the packer is for), the micro fixture's
# (K = 24, 40), one row, and a K that is neither.
@pytest.mark.parametrize("n,k", [(4096, 1024), (1024, 3072), (2048, 2048), (37, 24), (64, 40), (1, 16), (300, 1000)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_native_pack_is_torchs_pack(packer, n: int, k: int, with_bias: bool) -> None:
    q, scale, bias = _rows(n, k, seed=n + k)
    bias = bias if with_bias else None
    ours, theirs = packer(q, scale, bias), int8_pack.torch_pack(q, scale, bias)
    (w_ours, b_ours), (w_theirs, b_theirs) = (torch.ops.quantized.linear_unpack(p) for p in (ours, theirs))
    assert torch.equal(w_ours.int_repr(), q) and torch.equal(w_theirs.int_repr(), q)
    assert torch.equal(w_ours.q_per_channel_scales(), w_theirs.q_per_channel_scales())
    assert (b_ours is None) == (bias is None) and (bias is None or torch.equal(b_ours, b_theirs))
    g = torch.Generator().manual_seed(1)
    for rows in (1, 3, 50):  # a frame step, a few batched rows, a prefill
        x = torch.randn(rows, k, generator=g) * 4
        assert torch.equal(torch.ops.quantized.linear_dynamic(x, ours, False),
                           torch.ops.quantized.linear_dynamic(x, theirs, False))


def test_native_pack_refuses_wrong_arguments(packer) -> None:
    q, scale, bias = _rows(8, 32, seed=0)
    with pytest.raises(RuntimeError, match="q must be a 2-D int8"):
        packer(q.float(), scale, bias)
    with pytest.raises(RuntimeError, match="one value per row"):
        packer(q, scale[:4], bias)
    with pytest.raises(RuntimeError, match="bias must be float32"):
        packer(q, scale, bias.double())


def test_int8_linear_uses_the_loaded_packer(packer) -> None:
    from qwentts_cli.model.quantize import DynamicInt8Linear

    q, scale, bias = _rows(96, 64, seed=3)
    linear = DynamicInt8Linear(q, scale, bias)
    x = torch.randn(2, 64)
    assert torch.equal(linear(x), torch.ops.quantized.linear_dynamic(x, int8_pack.torch_pack(q, scale, bias), False))


def test_built_library_is_kept_and_reused(packer, monkeypatch) -> None:
    """The library lies in the cache under its key; asking again returns it without compiling."""
    path, failed = build.library_path("pack_int8_rows", [int8_pack.SOURCE], ["USE_FBGEMM"])
    assert os.path.isfile(path) and not os.path.exists(failed)

    def no_compiler(*args, **kwargs):
        raise AssertionError(f"compiled again: {args}")

    monkeypatch.setattr(build.subprocess, "run", no_compiler)
    assert build.built_library("pack_int8_rows", [int8_pack.SOURCE], ["USE_FBGEMM"]) == path


def _failing_compiler(tmp_path: Path) -> tuple[Path, Path]:
    calls = tmp_path / "calls"
    script = tmp_path / "broken-c++"
    script.write_text(f"#!/bin/sh\necho run >> {calls}\necho 'fatal error: broken on purpose' >&2\nexit 1\n")
    script.chmod(0o755)
    return script, calls


def test_failed_build_is_recorded_and_not_retried(tmp_path: Path, monkeypatch) -> None:
    script, calls = _failing_compiler(tmp_path)
    monkeypatch.setenv("CXX", str(script))
    monkeypatch.setenv("QWENTTS_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(build.BuildFailed, match="exited with status 1") as first:
        build.built_library("pack_int8_rows", [int8_pack.SOURCE], ["USE_FBGEMM"])
    assert first.value.recorded is not None
    assert "broken on purpose" in Path(first.value.recorded).read_text()
    with pytest.raises(build.BuildFailed, match="an earlier build failed") as second:
        build.built_library("pack_int8_rows", [int8_pack.SOURCE], ["USE_FBGEMM"])
    assert second.value.recorded is None
    assert calls.read_text() == "run\n"  # the compiler ran once
    assert not list((tmp_path / "cache" / "native").glob("*.so*"))  # no library, no leftover part file


def _load_in_a_process(env: dict) -> subprocess.CompletedProcess:
    code = ("import warnings; warnings.simplefilter('always'); from qwentts_cli.native import int8_pack; "
            "print(int8_pack.load() is not None)")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_a_failed_build_warns_once_and_falls_back(tmp_path: Path) -> None:
    script, calls = _failing_compiler(tmp_path)
    env = {**os.environ, "CXX": str(script), "QWENTTS_CACHE_DIR": str(tmp_path / "cache")}
    first, second = _load_in_a_process(env), _load_in_a_process(env)
    assert first.returncode == 0 and first.stdout == "False\n", first.stderr
    assert "could not build qwentts's int8 weight packer" in first.stderr
    assert "delete " in first.stderr and ".failed" in first.stderr
    assert second.returncode == 0 and second.stdout == "False\n"
    assert "int8 weight packer" not in second.stderr  # told once
    assert calls.read_text() == "run\n"


def test_turned_off_by_the_environment(tmp_path: Path) -> None:
    env = {**os.environ, "QWENTTS_NATIVE": "0", "QWENTTS_CACHE_DIR": str(tmp_path / "cache")}
    done = _load_in_a_process(env)
    assert done.returncode == 0 and done.stdout == "False\n", done.stderr
    assert not (tmp_path / "cache").exists()  # nothing built


def test_a_library_that_does_not_load_is_set_aside_once(tmp_path: Path) -> None:
    """A damaged file under the library's name (not a shared object): one warning, torch's packer,
    the file removed and recorded, and the next process neither warns nor builds."""
    env = {**os.environ, "QWENTTS_CACHE_DIR": str(tmp_path / "cache")}
    where = subprocess.run([sys.executable, "-c", "from qwentts_cli.native import build, int8_pack; "
                            "print(*build.library_path('pack_int8_rows', [int8_pack.SOURCE], ['USE_FBGEMM']))"],
                           env=env, capture_output=True, text=True, timeout=120)
    library, failed = (Path(p) for p in where.stdout.split())
    library.parent.mkdir(parents=True)
    library.write_text("not a shared object\n")
    first, second = _load_in_a_process(env), _load_in_a_process(env)
    assert first.returncode == 0 and first.stdout == "False\n", first.stderr
    assert "int8 weight packer does not load" in first.stderr and str(failed) in first.stderr
    assert not library.exists() and "does not load" in failed.read_text()
    assert second.returncode == 0 and second.stdout == "False\n"
    assert "int8 weight packer" not in second.stderr
    assert not library.exists()  # not rebuilt
