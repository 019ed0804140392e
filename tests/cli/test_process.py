"""What needs a real process: closed pipes, signals, terminals, import cost, the test runner's summary."""

from __future__ import annotations

import os
import pty
import signal
import stat
import subprocess
import sys
import time

import pytest
import soundfile as sf

from helpers import REPO, cli_env, run_cli

# Greedy on the fixture this text runs 1064 frames with --max-frames 1500 (EOS ends the second
# piece; greedy codes are the same on every machine, as the parity tests show): seconds of work.
LONG_TEXT = " ".join(f"Предложение номер {i} о том, как устроена модель синтеза речи." for i in range(12))


def qwentts(*args: str) -> list[str]:
    return [sys.executable, "-m", "qwentts_cli", *args]


def test_synth_end_to_end(model_dir, tmp_path):
    out = tmp_path / "out.wav"
    proc = run_cli("synth", "Hello there.", "--model", str(model_dir), "--language", "english", "--greedy",
                   "--max-frames", "6", "--no-normalize", "-o", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b"" and proc.stderr == b""
    info = sf.info(out)
    assert (info.samplerate, info.frames, info.subtype) == (24000, 6 * 1920, "PCM_16")


def test_closed_pipe_ends_quietly(model_dir):
    cmd = qwentts("synth", LONG_TEXT, "--model", str(model_dir), "--greedy", "--max-frames", "40", "--no-normalize",
                  "--stream")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    head = proc.stdout.read(1000)
    proc.stdout.close()  # the reader goes away, as with `| head -c 1000`
    _, err = proc.communicate(timeout=300)
    assert len(head) == 1000
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err and err == b""


def test_a_closed_pipe_ends_any_command_quietly(tmp_path):
    # `qwentts tokenize ... --tokens | head -1`: exit 0, nothing on stderr (as synth and normalize).
    text = tmp_path / "long.txt"
    text.write_text("Привет, мир! " * 20000, encoding="utf-8")
    proc = subprocess.Popen(qwentts("tokenize", "-f", str(text), "--tokens"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=cli_env())
    proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and err == b"", err.decode()


def wait_for_audio(folder, frames: int, deadline_s: float = 120):
    """The temporary WAV of a streaming run, once it holds `frames` frames of s16 audio."""
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        for p in folder.iterdir():
            if p.name.startswith(".qwentts-") and p.stat().st_size >= 44 + frames * 1920 * 2:
                return p
        time.sleep(0.02)
    return None


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_keeps_the_target_and_the_audio_so_far(model_dir, tmp_path, sig, status):
    """An interrupted stream never replaces the target: an existing file stays as it was, and the
    audio made so far is kept, finalized, as X.partial.wav, which the message names."""
    out = tmp_path / "out.wav"
    out.write_bytes(b"a complete older take")
    out.chmod(0o640)
    cmd = qwentts("synth", LONG_TEXT, "--model", str(model_dir), "--greedy", "--max-frames", "1500",
                  "--no-normalize", "--stream", "-o", str(out))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    try:
        # 4 frames in, of a run known to make 1064: the signal lands mid-run on any machine.
        assert wait_for_audio(tmp_path, 4) is not None, "no audio was written"
        assert proc.poll() is None
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    partial = tmp_path / "out.partial.wav"
    assert proc.returncode == status, err.decode()
    assert b"Traceback" not in err and b"interrupted" in err and str(partial).encode() in err
    assert out.read_bytes() == b"a complete older take" and stat.S_IMODE(out.stat().st_mode) == 0o640
    info = sf.info(partial)  # a valid WAV holding what was made before the signal
    assert 4 * 1920 <= info.frames < 1064 * 1920 and info.frames % 1920 == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".qwentts-")]


@pytest.mark.parametrize("args", [["--help"], ["normalize", "100 рублей", "--lang", "ru"], ["tokenize", "Привет"],
                                  ["info", "--model", "MODEL", "--json"], ["synth", "Hi.", "--model", "MODEL",
                                   "--greedy", "--max-frames", "2", "-o", "-"]])
@pytest.mark.parametrize("redirect", ["full", "closed"])
def test_a_full_or_closed_stdout_is_one_line(model_dir, args, redirect):
    args = [str(model_dir) if a == "MODEL" else a for a in args]
    if redirect == "full":
        with open("/dev/full", "wb") as full:
            proc = subprocess.run(qwentts(*args), stdout=full, stderr=subprocess.PIPE, env=cli_env(), timeout=120)
    else:
        proc = subprocess.run(qwentts(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cli_env(),
                              timeout=120, preexec_fn=lambda: os.close(1))
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "cannot write to stdout" in err


def test_refuses_to_write_audio_to_a_terminal(model_dir):
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(qwentts("synth", "hello", "--model", str(model_dir), "--stream"),
                              stdout=follower, stderr=subprocess.PIPE, env=cli_env(), timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 2
    assert b"refusing to write binary audio to a terminal" in proc.stderr


def test_normalize_stdin_streams_before_eof():
    # A filter answers each line before the input ends: feed one line, read one line back.
    proc = subprocess.Popen(qwentts("normalize", "--lang", "en"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=cli_env())
    try:
        proc.stdin.write(b"1\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"one\n"
        proc.stdin.write(b"2\n")
        proc.stdin.close()
        assert proc.stdout.read() == b"two\n"
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()


@pytest.mark.parametrize(
    "args",
    [["--help"], ["normalize", "в 2024 году 5 кг", "--lang", "ru"], ["tokenize", "Привет"], ["normalize", "--help"],
     ["info", "--help"]],
)
def test_text_commands_do_not_import_torch(args):
    # Run the CLI in a fresh interpreter and look at what got imported.
    code = (
        "import sys; from qwentts_cli.cli import app\n"
        f"try:\n    app({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=cli_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip().splitlines()[-1] == "HEAVY="


def test_info_imports_no_torch(model_dir):
    code = ("import sys; from qwentts_cli.cli import app\n"
            f"app(['info', '--model', {str(model_dir)!r}, '--json'], standalone_mode=False)\n"
            "assert 'torch' not in sys.modules, 'torch'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=cli_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()


def test_the_readme_test_command_prints_the_counts(tmp_path):
    """`python3 -m pytest -q` with this project's settings keeps pytest's `N passed` line (one -q, not -qq)."""
    (tmp_path / "test_one.py").write_text("def test_ok():\n    assert True\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-c", str(REPO / "pyproject.toml"), "-p",
                           "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path / "test_one.py")],
                          capture_output=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stdout.decode()
    assert "1 passed" in proc.stdout.decode()
