"""Every file qwentts writes goes through here: checked before any model loads, never damaged by mistake.

The rule, for audio, codes and anything later features write:
- a regular file, or a new one, is written to a temporary file beside it and renamed into
  place at the end, keeping the replaced file's mode and owner (a new file gets the umask's
  mode); a failure or interruption removes the temporary file and leaves the target as it was;
- a symbolic link is followed: its target is the file written (the link stays a link);
- a FIFO or a character device (`/dev/null`, a terminal is refused elsewhere) is a stream:
  written in place, never replaced;
- anything else (a folder, a block device, a socket, a file under /proc or /sys) is refused.

Temporary files are named `.qwentts-PID.HOST-XXXX.EXT` (HOST: a tag of this machine): one
that a killed run left behind is removed the next time qwentts writes into that folder, once
no process of that PID is alive on this machine and the file is ten minutes old. A folder
shared between machines (NFS, containers) never loses another machine's live file.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import signal
import socket
import stat
import sys
import tempfile
import time
from contextlib import contextmanager
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from qwentts_cli.errors import OutputError

TEMP_PREFIX = ".qwentts-"
# Another run's temporary file is only ever removed when it is this machine's (the host tag),
# its process is gone, and it has not been touched for a while (a PID can be reused).
STALE_SECONDS = 600
STDOUT = "-"  # the `real` of a target that is stdout
_FD_NAME = re.compile(r"^/(dev/(stdout|stderr|fd/\d+)|proc/(self|\d+)/fd/\d+)$")
_TEMP_NAME = re.compile(r"^\.qwentts-(\d+)\.([0-9a-f]{8})-")
# Pseudo file systems whose "files" are kernel interfaces, not places to keep audio.
_PSEUDO_ROOTS = ("/proc", "/sys")


@dataclass(frozen=True)
class OutputTarget:
    """A checked output path."""

    path: str  # as given
    real: str  # the file written: symlinks followed
    stream: bool  # a FIFO or character device: written in place, never replaced
    existed: bool  # a regular file was there before (its mode and owner are kept)

    @property
    def folder(self) -> str:
        return os.path.dirname(self.real)


def check_output(path: str, example: str = "out.wav") -> OutputTarget:
    """How `path` can be written, or an OutputError saying why it cannot (`example`: a file name to suggest)."""
    if not path:
        raise OutputError(f"the output file name is empty; give a file name such as {example}")
    if path == "-":
        return OutputTarget(path, STDOUT, stream=True, existed=False)
    try:
        # A pipe or device, also by a name like /dev/stdout (whose real path is under /proc), and any
        # open file descriptor by name (/dev/stdout when stdout is a file): written where it points.
        if _FD_NAME.match(path) or stat.S_ISFIFO(os.stat(path).st_mode) or stat.S_ISCHR(os.stat(path).st_mode):
            if not os.access(path, os.W_OK):
                raise OutputError(f"cannot write '{path}': permission denied")
            return OutputTarget(path, path, stream=True, existed=False)
    except OSError:
        pass
    real = os.path.realpath(path)
    parent = os.path.dirname(real)
    name_max = _name_max(parent)
    if len(os.path.basename(real).encode("utf-8", "surrogateescape")) > name_max:
        raise OutputError(f"cannot write '{path}': the file name is longer than {name_max} bytes; choose a shorter one")
    try:
        st = os.stat(real)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as e:
        raise OutputError(f"cannot write '{path}': {e.strerror}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"'{path}' is a folder; give a file name such as {example}")
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"'{path}' is not a regular file (a block device or socket); give a file name such as {example}")
    for root in _PSEUDO_ROOTS:
        if real.startswith(root + "/"):
            raise OutputError(f"'{path}' is under {root}, a kernel interface, not a place for files; "
                              f"give a file name such as {example}")
    if not os.path.isdir(parent):
        blocker = _first_non_folder(parent)
        if blocker is not None:
            raise OutputError(f"cannot write '{path}': {blocker} is a file, not a folder")
        raise OutputError(f"cannot write '{path}': the folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK) or (st is not None and not os.access(real, os.W_OK)):
        raise OutputError(f"cannot write '{path}': permission denied; choose another output path")
    return OutputTarget(path, real, stream=False, existed=st is not None)


def same_target(a: OutputTarget, b: OutputTarget) -> bool:
    """Whether two targets are one file (through links, or the same device)."""
    return a.real == b.real


def stage_output(target: OutputTarget, write: Callable[[BinaryIO], None]) -> "AtomicFile | None":
    """Write `target` up to its last step: a regular file into its temporary file, returned for the
    caller to `commit()` (or `discard()`) together with the other outputs of a run; a stream
    target, which cannot wait, at once (-> None)."""
    if target.stream:
        write_output(target, write)
        return None
    atomic = AtomicFile(target)
    try:
        write(atomic.file)
    except BaseException as e:
        atomic.discard()
        if isinstance(e, OSError):
            raise _write_error(target, e) from e
        raise
    return atomic


def write_output(target: OutputTarget, write: Callable[[BinaryIO], None]) -> None:
    """Write a whole output: `write(f)` gets a binary file to write, and may seek in it.

    A regular target is written atomically (see the module docstring); a stream target gets
    the bytes as one write at the end (rendered in memory first, so a format that seeks works).
    A failure to write is an OutputError naming the path.
    """
    if target.stream:
        buffer = io.BytesIO()
        write(buffer)
        if target.real == STDOUT:
            sys.stdout.buffer.write(buffer.getbuffer())
            sys.stdout.flush()
            return
        try:
            with open(target.real, "wb", buffering=0) as f:
                f.write(buffer.getbuffer())
        except OSError as e:
            raise _write_error(target, e) from e
        return
    with AtomicFile(target) as f:
        write(f)


class AtomicFile:
    """A temporary file beside the target, renamed into place by `commit()` (or at a clean `with` exit).

    Until then the target is untouched; `discard()` (or an exception) removes the temporary file.
    `keep_as(path)` moves it to another name instead (an interrupted stream's audio).
    """

    def __init__(self, target: OutputTarget):
        assert not target.stream, "streams are written in place"
        self.target = target
        remove_stale_temps(target.folder)
        suffix = os.path.splitext(target.real)[1]
        try:
            fd, self.temp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}.{_host_tag()}-", suffix=suffix,
                                             dir=target.folder)
        except OSError as e:
            raise _write_error(target, e) from e
        self.file: BinaryIO | None = os.fdopen(fd, "w+b")

    def __enter__(self) -> BinaryIO:
        assert self.file is not None
        return self.file

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()
            if isinstance(value, OSError):
                raise _write_error(self.target, value) from value

    def _close(self) -> None:
        if self.file is not None:
            file, self.file = self.file, None
            file.close()  # flushes: on a full disk this raises, and the caller removes the file

    def commit(self) -> None:
        try:
            with signals_held():  # a Ctrl-C now would land between the close and the rename
                self._close()
                _copy_mode(self.target, self.temp)
                os.replace(self.temp, self.target.real)
        except OSError as e:
            self.discard()
            raise _write_error(self.target, e) from e

    def keep_as(self, path: str) -> None:
        """Close and move the temporary file to `path` (a free name in the same folder); OutputError if it cannot."""
        try:
            self._close()
            _copy_mode(OutputTarget(path, path, stream=False, existed=False), self.temp)
            try:
                os.link(self.temp, path)  # fails if `path` appeared meanwhile: nothing is overwritten
            except FileExistsError:
                raise
            except OSError:  # no hard links here (FAT, some network file systems): rename, checked first
                if os.path.lexists(path):
                    raise FileExistsError(errno.EEXIST, "exists", path) from None
                os.rename(self.temp, path)
        except OSError as e:
            self.discard()
            raise OutputError(f"could not keep the audio made so far as '{path}': {e.strerror or e}") from e
        self.discard()

    def discard(self) -> None:
        try:
            self._close()
        except OSError:
            pass  # a full disk fails the flush again: the file goes anyway
        try:
            os.unlink(self.temp)
        except FileNotFoundError:
            pass


@contextmanager
def signals_held():
    """Ctrl-C, SIGTERM and SIGHUP wait until the block is done (the few system calls that put
    outputs in place must not be cut in two); then they arrive as usual."""
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):  # not a POSIX thread mask here
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def partial_name(target: OutputTarget) -> str:
    """A free name beside the file written for the audio of an interrupted run: X.partial.wav
    (X.partial-2.wav, ...), in the folder of the temporary file, so it can be moved there."""
    stem, ext = os.path.splitext(target.real)
    candidate, n = f"{stem}.partial{ext}", 1
    while os.path.lexists(candidate):
        n += 1
        candidate = f"{stem}.partial-{n}{ext}"
    return candidate


def remove_stale_temps(folder: str) -> None:
    """Remove the temporary files of runs that died (SIGKILL, a power cut) in `folder`."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if m is None or m.group(2) != _host_tag() or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        try:
            if time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                os.unlink(entry.path)
        except OSError:
            pass


def _host_tag() -> str:
    """8 hex digits naming this machine (and boot, where the kernel says): PIDs mean nothing elsewhere."""
    global _HOST_TAG
    if _HOST_TAG is None:
        boot = ""
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                boot = f.read().strip()
        except OSError:
            pass
        _HOST_TAG = hashlib.sha1(f"{socket.gethostname()}\0{boot}".encode()).hexdigest()[:8]
    return _HOST_TAG


_HOST_TAG: str | None = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or not a pid at all: leave its file alone
    return True


def _copy_mode(target: OutputTarget, temp: str) -> None:
    """The replaced file's mode and owner, or a new file's mode from the umask (mkstemp makes 0600)."""
    if target.existed:
        st = os.stat(target.real)
        os.chmod(temp, stat.S_IMODE(st.st_mode))
        if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(temp, st.st_uid, st.st_gid)
            except PermissionError:
                pass  # only root may give a file away; the mode is kept all the same
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)


def _name_max(folder: str) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _first_non_folder(path: str) -> str | None:
    """The first component of `path` that exists and is not a folder (`-o afile/out.wav`)."""
    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    return probe if probe and not os.path.isdir(probe) else None


def _write_error(target: OutputTarget, e: OSError) -> OutputError:
    reason = e.strerror or str(e)
    if e.errno == errno.ENOSPC:
        reason = "no space left on the device"
    return OutputError(f"cannot write '{target.path}': {reason}; nothing was written there")
