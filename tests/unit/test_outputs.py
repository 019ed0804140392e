"""outputs.py: what each kind of target becomes, atomic replacement with mode and owner kept, streams
written in place, links followed, stale temporary files removed."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from qwentts_cli.errors import OutputError
from qwentts_cli.outputs import AtomicFile, check_output, partial_name, remove_stale_temps, write_output


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        target = check_output(str(tmp_path / "new.wav"))
        write_output(target, lambda f: f.write(b"data"))
    finally:
        os.umask(old)
    assert (tmp_path / "new.wav").read_bytes() == b"data"
    assert mode(tmp_path / "new.wav") == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["new.wav"]


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "old.wav"
    path.write_bytes(b"old")
    path.chmod(0o604)
    write_output(check_output(str(path)), lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new" and mode(path) == 0o604


def test_a_link_is_followed_and_stays_a_link(tmp_path):
    real = tmp_path / "real.wav"
    real.write_bytes(b"old")
    link = tmp_path / "link.wav"
    link.symlink_to(real)
    write_output(check_output(str(link)), lambda f: f.write(b"new"))
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b"new"


def test_a_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    target = check_output(str(fifo))
    assert target.stream
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    write_output(target, lambda f: (f.write(b"head"), f.seek(0), f.write(b"HEAD"), f.seek(0, 2), f.write(b"-tail")))
    reader.join(10)
    assert got == [b"HEAD-tail"]  # rendered in memory (the format may seek), then written as a stream
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # never replaced by a regular file


def test_character_devices_are_streams_and_never_replaced():
    assert check_output("/dev/null").stream
    before = os.stat("/dev/null")
    write_output(check_output("/dev/null"), lambda f: f.write(b"discarded"))
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_a_full_device_is_one_error_naming_it():
    with pytest.raises(OutputError, match="'/dev/full'.*no space left"):
        write_output(check_output("/dev/full"), lambda f: f.write(b"x" * 10))


@pytest.mark.parametrize("path, message", [("/proc/self/x.wav", "/proc"), ("/sys/x.wav", "/sys")])
def test_kernel_interfaces_are_refused(path, message):
    with pytest.raises(OutputError, match=message):
        check_output(path)


def test_a_failed_write_leaves_the_target_and_no_temporary_file(tmp_path):
    path = tmp_path / "keep.wav"
    path.write_bytes(b"precious")

    def fail(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="no space left"):
        write_output(check_output(str(path)), fail)
    assert path.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]


def test_a_kept_partial_file_never_overwrites(tmp_path):
    target = check_output(str(tmp_path / "x.wav"))
    (tmp_path / "x.partial.wav").write_bytes(b"the user's")
    name = partial_name(target)
    assert name == str(tmp_path / "x.partial-2.wav")
    atomic = AtomicFile(target)
    atomic.file.write(b"audio so far")
    atomic.keep_as(name)
    assert (tmp_path / "x.partial.wav").read_bytes() == b"the user's"
    assert (tmp_path / "x.partial-2.wav").read_bytes() == b"audio so far"
    assert not (tmp_path / "x.wav").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.partial-2.wav", "x.partial.wav"]


def test_temporary_files_of_dead_runs_are_removed(tmp_path):
    from qwentts_cli.outputs import _host_tag

    tag = _host_tag()
    dead = tmp_path / f".qwentts-999999999.{tag}-abc.wav"  # no such process on this machine, old
    young = tmp_path / f".qwentts-999999998.{tag}-ghi.wav"  # no such process, but just written
    mine = tmp_path / f".qwentts-{os.getpid()}.{tag}-def.wav"  # a live run's (this one)
    elsewhere = tmp_path / ".qwentts-999999999.0badf00d-jkl.wav"  # another machine's: its PIDs are not ours
    other = tmp_path / ".qwentts-notes.txt"  # not ours by its name
    for path in (dead, young, mine, elsewhere, other):
        path.write_bytes(b"x")
    for path in (dead, mine, elsewhere, other):
        os.utime(path, (0, 0))
    remove_stale_temps(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (young, mine, elsewhere, other))


def test_a_file_descriptor_by_name_is_a_stream():
    # /dev/stdout's real path is under /proc (or a file stdout was sent to); it is still written in place.
    target = check_output("/dev/stdout")
    assert target.stream and target.real == "/dev/stdout"
    read, write = os.pipe()
    try:
        pipe = check_output(f"/dev/fd/{write}")
        assert pipe.stream
        write_output(pipe, lambda f: f.write(b"through the pipe"))
        assert os.read(read, 100) == b"through the pipe"
    finally:
        os.close(read)
        os.close(write)


def test_a_partial_file_falls_back_to_rename_without_hard_links(tmp_path, monkeypatch):
    target = check_output(str(tmp_path / "x.wav"))
    atomic = AtomicFile(target)
    atomic.file.write(b"so far")

    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    atomic.keep_as(partial_name(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.partial.wav"]
    assert (tmp_path / "x.partial.wav").read_bytes() == b"so far"


def test_a_close_that_fails_again_still_removes_the_temporary_file(tmp_path):
    # On a full disk the flush inside close() raises ENOSPC a second time: the file must go anyway.
    atomic = AtomicFile(check_output(str(tmp_path / "x.wav")))
    real = atomic.file

    class FullDisk:
        def close(self):
            real.close()
            raise OSError(28, "No space left on device")

    atomic.file = FullDisk()
    atomic.discard()
    assert list(tmp_path.iterdir()) == []


def test_help_fits_80_columns_with_whole_option_names(monkeypatch):
    from helpers import run_main

    monkeypatch.setenv("COLUMNS", "80")
    out = run_main("synth", "--help").stdout.decode()
    assert "--subtalker-temperature" in out and "--no-cuda-graphs" in out
    assert "<bool>" not in out and "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_audio_written_in_blocks_is_the_one_shot_file():
    import io

    import numpy as np
    import soundfile as sf

    from qwentts_cli.audio import blocks_writer

    samples = (np.random.default_rng(0).standard_normal(24000 * 3) * 0.3).astype(np.float32)
    blocks = [samples[i : i + 7001] for i in range(0, len(samples), 7001)]
    for name, subtype in (("a.wav", "pcm16"), ("a.wav", "float"), ("a.flac", "pcm24")):
        whole, parts = io.BytesIO(), io.BytesIO()
        fmt, sf_subtype = {"pcm16": ("WAV", "PCM_16"), "float": ("WAV", "FLOAT"), "pcm24": ("FLAC", "PCM_24")}[subtype]
        sf.write(whole, samples, 24000, format=fmt, subtype=sf_subtype)
        blocks_writer(name, iter(blocks), 24000, subtype)(parts)
        assert parts.getvalue() == whole.getvalue(), name


def test_the_streaming_trim_is_the_whole_trim():
    import numpy as np

    from qwentts_cli.audio import SilenceTrimmer, speech_bounds, trim_silence

    rng = np.random.default_rng(1)
    for trial in range(300):
        n = int(rng.integers(0, 12000))
        x = np.zeros(n, dtype=np.float32)
        for _ in range(int(rng.integers(0, 4))):  # bursts of speech, of noise below the threshold, or none
            a = int(rng.integers(0, max(1, n)))
            burst = x[a : a + int(rng.integers(0, 3000))]
            burst[:] = rng.standard_normal(len(burst)) * rng.choice([0.001, 0.5])
        rate = int(rng.choice([24000, 8000, 1000]))
        trimmer, parts, i = SilenceTrimmer(rate), [], 0
        while i < n:
            k = int(rng.integers(1, 4000))
            parts.append(trimmer.push(x[i : i + k]))
            i += k
        parts.append(trimmer.finish())
        assert np.array_equal(np.concatenate(parts), trim_silence(x, rate)), trial
        assert (trimmer.start, trimmer.end) == speech_bounds(x, rate), trial


def test_a_wav_past_its_32_bit_sizes_is_refused(monkeypatch):
    import io

    import numpy as np

    import qwentts_cli.audio as audio

    monkeypatch.setattr(audio, "_WAV_MAX_DATA", 3000)  # bytes: 1500 samples of pcm16
    blocks = [np.zeros(1000, dtype=np.float32)] * 2
    audio.blocks_writer("a.flac", iter(blocks), 24000, "pcm16")(io.BytesIO())  # FLAC has no such limit
    with pytest.raises(OutputError, match="4 GiB"):
        audio.blocks_writer("a.wav", iter(blocks), 24000, "pcm16")(io.BytesIO())
