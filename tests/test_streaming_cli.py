"""Streaming and audio output through the CLI: PCM on stdout, incremental WAV, formats, pipes and signals."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time

import numpy as np
import soundfile as sf
import torch

from test_cli_synth import REPO, assert_clean_error, run_cli

TEXT = "Мы рассмотрим архитектуру, обучение и развертывание системы."
LONG_TEXT = " ".join(f"Предложение номер {i} о том, как устроена модель синтеза речи." for i in range(12))


def cli_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "QWENTTS_MODEL"}
    env.update(PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1")
    return env


def test_stream_to_stdout_equals_the_file_output(model_dir, tmp_path):
    common = ["--model", str(model_dir), "--speaker", "serena", "--language", "russian", "--greedy",
              "--max-frames", "30", "--no-normalize"]
    wav = tmp_path / "whole.wav"
    assert run_cli("synth", TEXT, *common, "--subtype", "float", "-o", str(wav)).returncode == 0
    whole, sr = sf.read(wav, dtype="float32")
    for chunk_ms in ("80", "240"):
        proc = run_cli("synth", TEXT, *common, "--stream", "--pcm", "f32le", "--chunk-ms", chunk_ms, "-o", "-")
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stderr == b""  # nothing on stderr when piping, unless --verbose
        streamed = np.frombuffer(proc.stdout, dtype="<f4")
        assert streamed.shape == whole.shape == (30 * 1920,)
        assert np.abs(streamed - whole).max() < 1e-4
    s16 = run_cli("synth", TEXT, *common, "-o", "-")  # -o - streams s16le by default
    assert s16.returncode == 0 and len(s16.stdout) == 30 * 1920 * 2
    ints = np.frombuffer(s16.stdout, dtype="<i2")
    assert np.abs(ints / 32767.0 - whole).max() <= 1.0 / 32767 + 1e-6


def test_long_text_streams_across_sentences_like_one_decode(model_dir, synthesizer, tmp_path):
    codes_path = tmp_path / "codes.npy"
    proc = run_cli("synth", LONG_TEXT, "--model", str(model_dir), "--greedy", "--max-frames", "4", "--no-normalize",
                   "--stream", "--pcm", "f32le", "--dump-codes", str(codes_path), "-o", "-")
    assert proc.returncode == 0, proc.stderr.decode()
    codes = np.load(codes_path)
    assert len(codes) > 4  # more than one sentence was spoken, each capped at 4 frames
    streamed = np.frombuffer(proc.stdout, dtype="<f4")
    expected = synthesizer.codec.decode(torch.from_numpy(codes)).numpy()
    assert streamed.shape == expected.shape
    assert np.abs(streamed - expected).max() < 1e-4


def test_max_seconds_caps_the_total(model_dir):
    proc = run_cli("synth", LONG_TEXT, "--model", str(model_dir), "--greedy", "--max-seconds", "1.0",
                   "--no-normalize", "-o", "-")
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(proc.stdout) == int(1.0 * 12.5) * 1920 * 2


def test_incremental_wav_and_formats(model_dir, tmp_path):
    common = ["Hello there.", "--model", str(model_dir), "--language", "english", "--greedy", "--max-frames", "10",
              "--no-normalize"]
    wav = tmp_path / "s.wav"
    assert run_cli("synth", *common, "--stream", "-o", str(wav)).returncode == 0
    info = sf.info(wav)
    assert (info.samplerate, info.frames, info.subtype) == (24000, 10 * 1920, "PCM_16")
    for name, fmt in (("o.flac", "FLAC"), ("o.ogg", "OGG")):
        assert run_cli("synth", *common, "-o", str(tmp_path / name)).returncode == 0
        assert sf.info(tmp_path / name).format == fmt
    assert run_cli("synth", *common, "--sample-rate", "16000", "-o", str(tmp_path / "r.wav")).returncode == 0
    resampled = sf.info(tmp_path / "r.wav")
    assert resampled.samplerate == 16000 and abs(resampled.frames - 10 * 1920 * 2 // 3) <= 2
    assert_clean_error(run_cli("synth", *common, "--stream", "-o", str(tmp_path / "x.flac")), "WAV")
    assert_clean_error(run_cli("synth", *common, "--pcm", "u8", "-o", "-"), "--pcm")


def test_closed_pipe_ends_quietly(model_dir):
    cmd = [sys.executable, "-m", "qwentts_cli", "synth", LONG_TEXT, "--model", str(model_dir), "--greedy",
           "--max-frames", "40", "--no-normalize", "--stream"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    head = proc.stdout.read(1000)
    proc.stdout.close()  # the reader goes away, as with `| head -c 1000`
    _, err = proc.communicate(timeout=300)
    assert len(head) == 1000
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err and err == b""


def test_ctrl_c_finalizes_the_wav_and_exits_130(model_dir, tmp_path):
    out = tmp_path / "partial.wav"
    cmd = [sys.executable, "-m", "qwentts_cli", "synth", LONG_TEXT, "--model", str(model_dir), "--greedy",
           "--max-frames", "200", "--no-normalize", "--stream", "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    deadline = time.time() + 120
    temp = []
    while time.time() < deadline and not temp:  # wait until audio is being written
        temp = [p for p in tmp_path.iterdir() if p.name.startswith(".qwentts-") and p.stat().st_size > 44 + 1920 * 2]
        time.sleep(0.05)
    assert temp, "no audio was written"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err and b"interrupted" in err
    info = sf.info(out)  # a valid WAV holding what was made before the interrupt
    assert info.frames > 0 and info.frames % 1920 == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".qwentts-")]


def test_refuses_to_write_audio_to_a_terminal(model_dir):
    leader, follower = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "qwentts_cli", "synth", "hello", "--model", str(model_dir), "--stream"],
                          stdout=follower, stderr=subprocess.PIPE, env=cli_env(), timeout=120)
    os.close(follower)
    os.close(leader)
    assert proc.returncode == 2
    assert b"refusing to write binary audio to a terminal" in proc.stderr


def test_trim_silence_detector():
    from qwentts_cli.audio import SILENCE_MARGIN_S, speech_bounds, trim_silence

    sr = 24000
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr).astype(np.float32)
    audio = np.concatenate([np.zeros(sr // 2), 1e-4 * np.ones(sr // 4), tone, np.zeros(sr)]).astype(np.float32)
    start, end = speech_bounds(audio, sr)
    margin = int(SILENCE_MARGIN_S * sr)
    assert abs(start - (3 * sr // 4 - margin)) <= 240 and abs(end - (7 * sr // 4 + margin)) <= 240
    assert len(trim_silence(np.zeros(sr, dtype=np.float32), sr)) == 0
