"""Parity with the official package on the micro fixture (greedy, float32): input ids, codes, waveform.

Every path that makes audio is held against the same golden data: the library's one-shot
synthesis, the fixed-shape (CUDA-graph form) steps, the codec decoder alone, the streamed
decode, and the CLI.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import GOLDEN_CASES, golden_request, golden_wav, load_case
from helpers import run_main


@pytest.fixture(scope="module")
def graphed(model_dir):
    from qwentts_cli.runtime import Synthesizer

    return Synthesizer.from_pretrained(str(model_dir), graphs=True)


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_input_ids_match_official(synthesizer, name):
    case = load_case(name)
    assert synthesizer.prompt_ids(case["text"]) == case["input_ids"]


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_codes_and_waveform_match_official(synthesizer, name):
    case = load_case(name)
    result = synthesizer.synthesize(case["text"], **golden_request(case, synthesizer.greedy))
    np.testing.assert_array_equal(result.codes, np.array(case["codes"], dtype=np.int64))
    expected = golden_wav(name)
    assert result.audio.shape == expected.shape
    assert np.abs(result.audio - expected).max() < 1e-4


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_fixed_shape_steps_give_the_official_codes(graphed, name):
    # The CUDA-graph form of the steps (masked window, device positions), run uncaptured on the CPU.
    case = load_case(name)
    result = graphed.synthesize(case["text"], **golden_request(case, graphed.greedy))
    np.testing.assert_array_equal(result.codes, np.array(case["codes"], dtype=np.int64))


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_codec_decode_matches_official_waveform(synthesizer, name):
    codes = torch.tensor(load_case(name)["codes"], dtype=torch.long)
    got = synthesizer.codec.decode(codes).numpy()
    expected = golden_wav(name)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4


def test_streamed_synthesis_matches_official(synthesizer):
    case = load_case("en_medium")
    chunks = list(synthesizer.stream(case["text"], chunk_frames=1, max_chunk_frames=4,
                                     **golden_request(case, synthesizer.greedy)))
    np.testing.assert_array_equal(np.concatenate([c.frames for c in chunks]), np.array(case["codes"]))
    assert np.abs(np.concatenate([c.samples for c in chunks]) - golden_wav("en_medium")).max() < 1e-4


def test_cli_synth_matches_official(model_dir, tmp_path):
    case = load_case("en_medium")
    out, codes = tmp_path / "out.wav", tmp_path / "codes.npy"
    run = run_main(
        "synth", case["text"], "--model", str(model_dir), "--speaker", case["speaker"], "--language", case["language"],
        "--greedy", "--max-frames", str(case["max_new_tokens"] - 1), "--repetition-penalty", "1.05",
        "--no-normalize", "--subtype", "float", "--dump-codes", str(codes), "-o", str(out),
    )
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout == b"" and run.stderr == b""
    np.testing.assert_array_equal(np.load(codes), np.array(case["codes"]))
    audio, sr = sf.read(out, dtype="float32")
    assert sr == 24000 and sf.info(out).subtype == "FLOAT"
    expected = golden_wav("en_medium")
    assert audio.shape == expected.shape and np.abs(audio - expected).max() < 1e-4


def test_cli_streaming_text_layout_from_stdin(model_dir, tmp_path):
    case = load_case("ru_streaming_text")
    codes = tmp_path / "codes.npy"
    run = run_main(
        "synth", "-", "--model", str(model_dir), "--speaker", case["speaker"], "--language", case["language"],
        "--greedy", "--max-frames", str(case["max_new_tokens"] - 1), "--streaming-text", "--no-normalize",
        "--dump-codes", str(codes), "-o", str(tmp_path / "out.wav"), stdin=case["text"].encode(),
    )
    assert run.returncode == 0, run.stderr.decode()
    np.testing.assert_array_equal(np.load(codes), np.array(case["codes"]))
    assert sf.info(tmp_path / "out.wav").subtype == "PCM_16"
