"""The frame loop and its requests, in process on the micro checkpoint: laziness, sampling, EOS, caps."""

from __future__ import annotations

import numpy as np
import torch

from qwentts_cli.generate.sampling import MIN_NEW_TOKENS


def test_frames_are_made_one_at_a_time(synthesizer, monkeypatch):
    """The first frame comes out before the talker takes its second step: audio can start while
    the rest is still being computed."""
    steps = []
    original = type(synthesizer.talker).forward

    def counting(self, embeds, start):
        steps.append(start)
        return original(self, embeds, start)

    monkeypatch.setattr(type(synthesizer.talker), "forward", counting)
    frames = synthesizer.frames("Привет!", speaker="ryan", language="russian", sampling=synthesizer.greedy(),
                                max_frames=5, ignore_eos=True)
    assert steps == []  # nothing runs before the first frame is asked for
    first = next(frames)
    assert first.shape == (16,) and first.dtype == torch.int64
    assert steps == [0]  # the prefill only
    assert next(frames).shape == (16,)
    assert len(steps) == 2 and steps[1] > 0  # one talker step per further frame, at the next position
    assert len(list(frames)) == 3 and len(steps) == 5


def test_repetition_penalty_changes_codes(synthesizer):
    """The penalty is applied (a wrong sign or a no-op would leave the codes equal)."""
    text = "The quick brown fox jumps over the lazy dog."
    a = synthesizer.synthesize(text, speaker="vivian", language="english",
                               sampling=synthesizer.greedy(repetition_penalty=1.0), max_frames=30)
    b = synthesizer.synthesize(text, speaker="vivian", language="english",
                               sampling=synthesizer.greedy(repetition_penalty=2.0), max_frames=30)
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


def test_piece_i_is_sampled_with_seed_plus_i(synthesizer):
    pieces = ["Привет, мир!", "Как дела?"]
    both = synthesizer.synthesize(pieces, speaker="serena", language="russian", max_frames=6, seed=10)
    second = synthesizer.synthesize(pieces[1], speaker="serena", language="russian", max_frames=6, seed=11)
    np.testing.assert_array_equal(both.codes[-len(second.codes):], second.codes)


def test_eos_ends_generation(synthesizer, monkeypatch):
    """A talker whose EOS logit always wins stops after the tokens EOS must wait for."""
    tc = synthesizer.config.talker
    head = synthesizer.talker.codec_head
    original = head.forward

    def eos_wins(x):
        logits = original(x)
        logits[..., tc.codec_eos_id] = 1e9
        return logits

    monkeypatch.setattr(head, "forward", eos_wins)
    result = synthesizer.synthesize("Привет!", speaker="ryan", language="russian", sampling=synthesizer.greedy(),
                                    max_frames=20)
    assert len(result.codes) == MIN_NEW_TOKENS  # tokens 0 and 1 cannot be EOS, token 2 is
    forced = synthesizer.synthesize("Привет!", speaker="ryan", language="russian", sampling=synthesizer.greedy(),
                                    max_frames=7, ignore_eos=True)
    assert len(forced.codes) == 7  # benchmarks: EOS unreachable


def test_default_frame_cap_grows_with_text(synthesizer):
    short = synthesizer.frame_cap(len(synthesizer.prompt_ids("Hi")))
    long = synthesizer.frame_cap(len(synthesizer.prompt_ids("Hi " * 50)))
    assert 0 < short < long


def test_max_seconds_caps_all_pieces_together(synthesizer):
    result = synthesizer.synthesize(["Привет!", "Как дела?", "Хорошо."], language="russian",
                                    sampling=synthesizer.greedy(), max_frames=10, max_seconds=1.0)
    assert len(result.codes) == 12  # int(1.0 s * 12.5 frames/s)


def test_a_warm_up_changes_no_later_output(synthesizer):
    """warm_up (live input runs it while waiting for text) leaves nothing behind: the same codes and
    samples, greedy or seeded, as a synthesizer that never warmed up."""
    texts = ["Hello there, this is a test.", "Второе предложение."]
    greedy = synthesizer.resolve(sampling=synthesizer.greedy(), max_frames=12)
    seeded = synthesizer.resolve(seed=7, max_frames=12)
    before = [list(synthesizer.stream(texts, req)) for req in (greedy, seeded)]
    synthesizer.warm_up(seeded)
    synthesizer.warm_up(greedy)
    after = [list(synthesizer.stream(texts, req)) for req in (greedy, seeded)]
    for one, two in zip(before, after):
        assert len(one) == len(two) > 2
        for a, b in zip(one, two):
            assert np.array_equal(a.frames, b.frames) and np.array_equal(a.samples, b.samples)
