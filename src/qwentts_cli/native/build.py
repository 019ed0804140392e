"""Compiling this package's C++ sources against the installed torch, once, into the cache.

A library is built the first time it is needed, into `cache_root()/native/NAME-KEY.so`, where
KEY hashes the sources, the torch build, the compiler and the flags: a new torch or an edited
source builds anew, and an old file is never loaded into a torch it was not built for. It is
written under a temporary name and renamed when complete, so that two processes building at
once, or one killed mid-build, never leave a broken library under the final name.

A build that fails is remembered beside it (`NAME-KEY.failed`, holding the compiler's last
lines), so that later loads do not pay for trying again; so is a library that was built but
does not work here (`reject`). Deleting that file retries.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile

import torch

from qwentts_cli.load.quant_cache import cache_root

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(HERE, "include")
# A build of one small source takes ~8 s on 2 cores; a machine that needs minutes is stuck.
BUILD_SECONDS = 300


class BuildFailed(Exception):
    """A library could not be built (no compiler, a compiler error, an unwritable cache).

    `recorded`: the failure record this call wrote (a new failure, worth telling the user once);
    None when an earlier record stopped the build, or when nothing could be written.
    """

    def __init__(self, reason: str, recorded: str | None = None):
        super().__init__(reason)
        self.recorded = recorded


def compiler() -> str | None:
    """$CXX, else `c++` or `g++` on the PATH."""
    return os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")


def _torch_dirs() -> tuple[str, str]:
    root = os.path.dirname(os.path.realpath(torch.__file__))
    return os.path.join(root, "include"), os.path.join(root, "lib")


def _command(cxx: str, sources: list[str], defines: list[str], output: str) -> list[str]:
    include, lib = _torch_dirs()
    abi = int(bool(torch._C._GLIBCXX_USE_CXX11_ABI))
    return [cxx, "-O2", "-std=c++17", "-fPIC", "-shared", "-w",
            f"-D_GLIBCXX_USE_CXX11_ABI={abi}", *(f"-D{d}" for d in defines),
            f"-I{INCLUDE}", f"-I{include}", f"-I{os.path.join(include, 'torch', 'csrc', 'api', 'include')}",
            *sources, "-o", output, f"-L{lib}", f"-Wl,-rpath,{lib}", "-lc10", "-ltorch_cpu"]


def _key(cxx: str, sources: list[str], defines: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{torch.__version__}\0{_torch_dirs()[1]}\0{cxx}\0{defines}\0".encode())
    headers = sorted(os.path.join(folder, name) for folder, _, names in os.walk(INCLUDE) for name in names)
    for path in [*sources, *headers]:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def library_path(name: str, sources: list[str], defines: list[str] = ()) -> tuple[str, str]:
    """Where library `name` built from `sources` lives, and its failure record: (NAME-KEY.so, NAME-KEY.failed)."""
    cxx = compiler() or "none"
    stem = os.path.join(cache_root(), "native", f"{name}-{_key(cxx, sources, list(defines))}")
    return stem + ".so", stem + ".failed"


def built_library(name: str, sources: list[str], defines: list[str] = ()) -> str:
    """The path of library `name`, compiled from `sources` (paths) if it is not in the cache yet.

    Raises BuildFailed, saying why, when it cannot be had; the reason is kept (see the module
    docstring) and the next call raises at once, without building.
    """
    defines = list(defines)
    path, failed = library_path(name, sources, defines)
    if os.path.isfile(path):
        return path
    if os.path.isfile(failed):
        raise BuildFailed(f"an earlier build failed (see {failed}; delete it to try again)")
    cxx = compiler()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".so.part")
        os.close(fd)
    except OSError as e:
        raise BuildFailed(f"cannot write the cache folder {os.path.dirname(path)}: {e.strerror or e}") from None
    try:
        if cxx is None:
            _record(failed, "no C++ compiler: neither $CXX, c++ nor g++ is on the PATH")
        try:
            done = subprocess.run(_command(cxx, sources, defines, temp), capture_output=True, text=True,
                                  timeout=BUILD_SECONDS)
        except (OSError, subprocess.TimeoutExpired) as e:
            _record(failed, f"{cxx} did not run to the end: {e}")
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
            _record(failed, f"{cxx} exited with status {done.returncode}:\n{tail}")
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return path


def reject(name: str, sources: list[str], defines: list[str], reason: str) -> str | None:
    """Record that library `name`, though built, is unusable here (it does not load, or fails a
    check), and remove it: later loads neither use nor rebuild it. -> the record's path, if written."""
    path, failed = library_path(name, sources, defines)
    if not _write(failed, reason):
        return None
    try:
        os.remove(path)
    except OSError:
        return None
    return failed


def _record(failed: str, reason: str) -> None:
    """Keep why a build failed, then raise BuildFailed with its first line (not kept, where it
    cannot be written: the next load tries again)."""
    raise BuildFailed(reason.splitlines()[0], recorded=failed if _write(failed, reason) else None)


def _write(record: str, reason: str) -> bool:
    try:
        with open(record, "w", encoding="utf-8") as f:
            f.write(reason + "\n")
    except OSError:
        return False
    return True
