"""Streaming and audio output, in process: PCM on stdout, incremental WAV in every sample format, file formats."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch

from helpers import assert_clean_error, run_main

TEXT = "Мы рассмотрим архитектуру, обучение и развертывание системы."
LONG_TEXT = " ".join(f"Предложение номер {i} о том, как устроена модель синтеза речи." for i in range(12))


def test_stream_to_stdout_equals_the_file_output(model_dir, tmp_path):
    common = ["--model", str(model_dir), "--speaker", "serena", "--language", "russian", "--greedy",
              "--max-frames", "30", "--no-normalize"]
    wav = tmp_path / "whole.wav"
    assert run_main("synth", TEXT, *common, "--subtype", "float", "-o", str(wav)).returncode == 0
    whole, sr = sf.read(wav, dtype="float32")
    for chunk_ms in ("80", "240"):
        run = run_main("synth", TEXT, *common, "--stream", "--pcm", "f32le", "--chunk-ms", chunk_ms, "-o", "-")
        assert run.returncode == 0, run.stderr.decode()
        assert run.stderr == b""  # nothing on stderr when piping, unless --verbose
        streamed = np.frombuffer(run.stdout, dtype="<f4")
        assert streamed.shape == whole.shape == (30 * 1920,)
        assert np.abs(streamed - whole).max() < 1e-4
    s16 = run_main("synth", TEXT, *common, "-o", "-")  # -o - streams s16le by default
    assert s16.returncode == 0 and len(s16.stdout) == 30 * 1920 * 2
    ints = np.frombuffer(s16.stdout, dtype="<i2")
    assert np.abs(ints / 32767.0 - whole).max() <= 1.0 / 32767 + 1e-6


def test_long_text_streams_across_sentences_like_one_decode(model_dir, synthesizer, tmp_path):
    codes_path = tmp_path / "codes.npy"
    run = run_main("synth", LONG_TEXT, "--model", str(model_dir), "--greedy", "--max-frames", "4", "--no-normalize",
                   "--stream", "--pcm", "f32le", "--dump-codes", str(codes_path), "-o", "-")
    assert run.returncode == 0, run.stderr.decode()
    codes = np.load(codes_path)
    assert len(codes) > 4  # more than one sentence was spoken, each capped at 4 frames
    streamed = np.frombuffer(run.stdout, dtype="<f4")
    expected = synthesizer.codec.decode(torch.from_numpy(codes)).numpy()
    assert streamed.shape == expected.shape
    assert np.abs(streamed - expected).max() < 1e-4


def test_max_seconds_caps_the_total(model_dir):
    run = run_main("synth", LONG_TEXT, "--model", str(model_dir), "--greedy", "--max-seconds", "1.0",
                   "--no-normalize", "-o", "-")
    assert run.returncode == 0, run.stderr.decode()
    assert len(run.stdout) == int(1.0 * 12.5) * 1920 * 2


def test_incremental_wav_holds_the_subtype_asked_for(model_dir, tmp_path):
    common = ["Hello there.", "--model", str(model_dir), "--language", "english", "--greedy", "--max-frames", "10",
              "--no-normalize"]
    for subtype, sf_subtype, step in (("pcm16", "PCM_16", 2**-15), ("pcm24", "PCM_24", 2**-23), ("float", "FLOAT", 0)):
        streamed, whole = tmp_path / f"s-{subtype}.wav", tmp_path / f"w-{subtype}.wav"
        assert run_main("synth", *common, "--stream", "--subtype", subtype, "-o", str(streamed)).returncode == 0
        assert run_main("synth", *common, "--subtype", subtype, "-o", str(whole)).returncode == 0
        info = sf.info(streamed)
        assert (info.samplerate, info.frames, info.subtype) == (24000, 10 * 1920, sf_subtype)
        a, _ = sf.read(streamed, dtype="float64")
        b, _ = sf.read(whole, dtype="float64")
        # The same audio: up to libsndfile's own rounding of the one-shot file (2 steps), and the
        # streamed decode's float32 rounding (under 5e-5, tests/unit/test_codec.py).
        assert np.abs(a - b).max() <= 2 * step + 5e-5, subtype
    assert_clean_error(run_main("synth", *common, "--stream", "--subtype", "vorbis", "-o", str(tmp_path / "x.wav")),
                       "--subtype")


def test_file_formats_and_resampling(model_dir, tmp_path):
    common = ["Hello there.", "--model", str(model_dir), "--language", "english", "--greedy", "--max-frames", "10",
              "--no-normalize"]
    for name, fmt in (("o.flac", "FLAC"), ("o.ogg", "OGG")):
        assert run_main("synth", *common, "-o", str(tmp_path / name)).returncode == 0
        assert sf.info(tmp_path / name).format == fmt
    assert run_main("synth", *common, "--sample-rate", "16000", "-o", str(tmp_path / "r.wav")).returncode == 0
    resampled = sf.info(tmp_path / "r.wav")
    assert resampled.samplerate == 16000 and abs(resampled.frames - 10 * 1920 * 2 // 3) <= 2
    assert_clean_error(run_main("synth", *common, "--stream", "-o", str(tmp_path / "x.flac")), "WAV")
    assert_clean_error(run_main("synth", *common, "--pcm", "u8", "-o", "-"), "--pcm")


def test_trim_silence_detector():
    from qwentts_cli.audio import SILENCE_MARGIN_S, speech_bounds, trim_silence

    sr = 24000
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr).astype(np.float32)
    audio = np.concatenate([np.zeros(sr // 2), 1e-4 * np.ones(sr // 4), tone, np.zeros(sr)]).astype(np.float32)
    start, end = speech_bounds(audio, sr)
    margin = int(SILENCE_MARGIN_S * sr)
    assert abs(start - (3 * sr // 4 - margin)) <= 240 and abs(end - (7 * sr // 4 + margin)) <= 240
    assert len(trim_silence(np.zeros(sr, dtype=np.float32), sr)) == 0
