"""Parity with the official package on the micro fixture: input ids, codes, waveform (greedy, float32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import GOLDEN_CASES, load_case


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_input_ids_match_official(synthesizer, name):
    case = load_case(name)
    assert synthesizer.prompt_ids(case["text"]) == case["input_ids"]


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_codes_and_waveform_match_official(synthesizer, fixture_dir, name):
    case = load_case(name)
    sampling = synthesizer.greedy(repetition_penalty=case.get("repetition_penalty", 1.05))
    result = synthesizer.synthesize(
        case["text"],
        speaker=case["speaker"],
        language=case["language"],
        sampling=sampling,
        max_frames=case["max_new_tokens"] - 1,  # the official generate keeps N - 1 of N tokens
        streaming_text=not case.get("non_streaming_mode", True),
    )
    expected_codes = np.array(case["codes"], dtype=np.int64)
    assert result.codes.shape == expected_codes.shape
    np.testing.assert_array_equal(result.codes, expected_codes)
    expected_wav = np.load(fixture_dir / "golden" / name / "wav.npy")
    assert result.audio.shape == expected_wav.shape
    assert np.abs(result.audio - expected_wav).max() < 1e-4


def test_frames_are_yielded_one_at_a_time(synthesizer):
    frames = synthesizer.frames("Привет!", speaker="ryan", language="russian", sampling=synthesizer.greedy(), max_frames=5)
    first = next(frames)
    assert first.shape == (16,) and first.dtype == torch.int64
    assert len(list(frames)) == 4


def test_repetition_penalty_changes_codes(synthesizer):
    """The penalty is applied (a wrong sign or a no-op would leave the codes equal)."""
    text = "The quick brown fox jumps over the lazy dog."
    a = synthesizer.synthesize(text, speaker="vivian", language="english", sampling=synthesizer.greedy(repetition_penalty=1.0), max_frames=30)
    b = synthesizer.synthesize(text, speaker="vivian", language="english", sampling=synthesizer.greedy(repetition_penalty=2.0), max_frames=30)
    assert not np.array_equal(a.codes, b.codes)


def assert_seeded_sampling_reproduces(synthesizer):
    kwargs = dict(speaker="serena", language="russian", max_frames=12)
    a = synthesizer.synthesize("Привет, мир!", seed=3, **kwargs)
    b = synthesizer.synthesize("Привет, мир!", seed=3, **kwargs)
    c = synthesizer.synthesize("Привет, мир!", seed=4, **kwargs)
    np.testing.assert_array_equal(a.codes, b.codes)
    assert not np.array_equal(a.codes, c.codes)
    assert a.codes.max() < 2048  # control tokens are never sampled into a frame


def test_sampling_is_reproducible_with_a_seed(synthesizer):
    assert_seeded_sampling_reproduces(synthesizer)


def test_eos_ends_generation(synthesizer, monkeypatch):
    """A talker whose EOS logit always wins stops after the two tokens EOS must wait for."""
    tc = synthesizer.config.talker
    head = synthesizer.talker.codec_head
    original = head.forward

    def eos_wins(x):
        logits = original(x)
        logits[..., tc.codec_eos_id] = 1e9
        return logits

    monkeypatch.setattr(head, "forward", eos_wins)
    result = synthesizer.synthesize("Привет!", speaker="ryan", language="russian", sampling=synthesizer.greedy(), max_frames=20)
    assert len(result.codes) == 2  # MIN_NEW_TOKENS: tokens 0 and 1 cannot be EOS, token 2 is


def test_default_frame_cap_grows_with_text(synthesizer):
    short = synthesizer.frame_cap(len(synthesizer.prompt_ids("Hi")))
    long = synthesizer.frame_cap(len(synthesizer.prompt_ids("Hi " * 50)))
    assert 0 < short < long
