"""The batched engine against the official codes: every fixture case, batched with the others.

Rows join as others finish (continuous batching), at different prompt lengths, speakers,
languages, text layouts, voices and instructions; each must come out with its golden codes
(greedy, float32), and seeded rows with the codes they get alone.
"""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import torch

from conftest import GOLDEN_CASES, golden_request, golden_wav, load_case
from test_cloning import BASE, CLONE_CASES, FIXTURES, INSTRUCT_CASES, case, golden, golden_voice, request_of


def run_batched(synth, utterances, batch):
    """[(text, request fields, seed)] -> the codes of each, generated `batch` at a time."""
    resolved = [(text, synth.resolve(**fields), seed) for text, fields, seed in utterances]
    out = {}
    for i, frames in synth.ordered_frames(resolved, batch):
        out[i] = torch.stack(list(frames)).numpy()
    return [out[i] for i in range(len(utterances))]


def micro_utterances(synth):
    return [(load_case(n)["text"], golden_request(load_case(n), synth.greedy), None) for n in GOLDEN_CASES]


@pytest.mark.parametrize("batch, order", [(1, 0), (3, 2), (8, 4)])
def test_golden_cases_batched_in_any_grouping_give_their_codes(synthesizer, batch, order):
    # Each case, two of them twice, shuffled: rows of different lengths join as others end.
    names = GOLDEN_CASES + GOLDEN_CASES[order % 4 :][:2]
    random.Random(order).shuffle(names)
    utterances = [(load_case(n)["text"], golden_request(load_case(n), synthesizer.greedy), None) for n in names]
    for name, codes in zip(names, run_batched(synthesizer, utterances, batch)):
        np.testing.assert_array_equal(codes, np.array(load_case(name)["codes"]), err_msg=f"{name} at batch {batch}")


def test_batched_codes_decode_to_the_golden_waveforms(synthesizer):
    for name, codes in zip(GOLDEN_CASES, run_batched(synthesizer, micro_utterances(synthesizer), 4)):
        audio = synthesizer.codec.decode(torch.from_numpy(codes)).numpy()
        expected = golden_wav(name)
        assert audio.shape == expected.shape and np.abs(audio - expected).max() < 1e-4


def test_cloned_voices_batched_give_their_codes():
    from qwentts_cli.runtime import Synthesizer

    base = Synthesizer.from_pretrained(str(BASE / "model"))
    names = CLONE_CASES + CLONE_CASES[::-1]
    utterances = [(case(BASE, n)["text"], dict(voice=golden_voice(base, n), **request_of(case(BASE, n), base)), None)
                  for n in names]
    for name, codes in zip(names, run_batched(base, utterances, 3)):
        np.testing.assert_array_equal(codes, np.array(case(BASE, name)["codes"]), err_msg=name)
    # And the waveform through synthesize(batch=...), which cuts the reference's share as alone.
    c = case(BASE, "icl_ru")
    result = base.synthesize([c["text"]], batch=2, voice=golden_voice(base, "icl_ru"), **request_of(c, base))
    expected = golden(BASE, "icl_ru", "wav").reshape(-1)
    assert result.audio.shape == expected.shape and np.abs(result.audio - expected).max() < 1e-4


@pytest.mark.parametrize("fixture", sorted({f for f, _ in INSTRUCT_CASES}))
def test_instructions_and_voice_design_batched_give_their_codes(fixture):
    from qwentts_cli.runtime import Synthesizer

    folder = FIXTURES / fixture
    synth = Synthesizer.from_pretrained(str(folder / "model"))
    names = [n for f, n in INSTRUCT_CASES if f == fixture] * 2
    utterances = [(case(folder, n)["text"], dict(speaker=case(folder, n).get("speaker"),
                                                  instruct=case(folder, n).get("instruct"),
                                                  **request_of(case(folder, n), synth)), None) for n in names]
    for name, codes in zip(names, run_batched(synth, utterances, 2)):
        np.testing.assert_array_equal(codes, np.array(case(folder, name)["codes"]), err_msg=name)


def test_seeded_rows_sample_what_they_sample_alone(synthesizer):
    """Per-row generators and settings: sampled rows (two settings) beside greedy ones."""
    s = synthesizer.sampling
    warm = dict(sampling=s, max_frames=8)
    hot = dict(sampling=type(s)(**{**s.__dict__, "temperature": 1.3, "top_k": 7, "subtalker_top_p": 0.8,
                                   "repetition_penalty": 1.2}), max_frames=8)
    texts = [load_case(n)["text"] for n in GOLDEN_CASES[:2]]
    utterances = []
    for i, text in enumerate(texts):
        utterances.append((text, dict(speaker="ryan", language="english", **warm), 100 + i))
        utterances.append((text, dict(speaker="ryan", language="russian", **hot), 200 + i))
        utterances.append((text, golden_request(load_case(GOLDEN_CASES[i]), synthesizer.greedy), None))
    alone = [synthesizer.synthesize(t, seed=seed, **f).codes for t, f, seed in utterances]
    assert not all(np.array_equal(alone[0], a) for a in alone[1:])  # the settings do differ
    for batch in (4,):
        for i, codes in enumerate(run_batched(synthesizer, utterances, batch)):
            np.testing.assert_array_equal(codes, alone[i], err_msg=f"utterance {i} at batch {batch}")


def test_a_long_text_batched_is_the_same_synthesis(synthesizer):
    """synthesize(pieces, batch=B): the same codes and samples as one piece after another, seeded
    per piece, with max_seconds cutting in the same place."""
    pieces = [load_case(n)["text"] for n in GOLDEN_CASES] + [load_case("ru_short")["text"]]
    for fields in (dict(seed=7, max_frames=8), dict(sampling=synthesizer.greedy(), max_frames=10, max_seconds=3.0)):
        one = synthesizer.synthesize(pieces, speaker="ryan", language="english", **fields)
        for batch in (3,):
            many = synthesizer.synthesize(pieces, speaker="ryan", language="english", batch=batch, **fields)
            np.testing.assert_array_equal(many.codes, one.codes)
            np.testing.assert_array_equal(many.audio, one.audio)


def test_the_guard_stops_a_batched_row_as_it_stops_it_alone(synthesizer):
    pieces = [load_case(n)["text"] for n in GOLDEN_CASES]
    fields = dict(speaker="ryan", language="english", sampling=synthesizer.greedy(), max_frames=40,
                  max_frames_per_token=0.5, ignore_eos=True)

    def run(batch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = synthesizer.synthesize(pieces, batch=batch, **fields)
        return result.codes, [str(w.message) for w in caught]

    codes, notes = run(1)
    assert len(notes) == len(pieces)  # every piece overran its allowance
    batched_codes, batched_notes = run(3)
    np.testing.assert_array_equal(batched_codes, codes)
    assert batched_notes == notes


def test_an_empty_piece_fails_where_it_fails_alone(synthesizer):
    from qwentts_cli.errors import EmptyText

    fixed = synthesizer.resolve(speaker="ryan", max_frames=5, ignore_eos=True, sampling=synthesizer.greedy())
    utterances = [(load_case("ru_short")["text"], fixed, None), ("...", fixed, None)]
    ordered = synthesizer.ordered_frames(utterances, 2)
    i, frames = next(ordered)
    assert i == 0 and len(list(frames)) == 5
    i, frames = next(ordered)
    with pytest.raises(EmptyText):
        list(frames)


def test_a_batch_of_zero_is_refused(synthesizer):
    from qwentts_cli.errors import UsageError

    from qwentts_cli.cli import option_name

    with pytest.raises(UsageError) as error:
        synthesizer.synthesize("Hello.", speaker="ryan", batch=0)
    assert error.value.render(option_name) == "--batch must be at least 1, not 0"


def test_a_piece_past_the_context_fails_alone(synthesizer):
    from qwentts_cli.errors import ContextExceeded

    context = synthesizer.config.talker.stack.max_position_embeddings
    greedy = synthesizer.greedy(repetition_penalty=1.0)
    ok = synthesizer.resolve(speaker="ryan", max_frames=4, sampling=greedy, ignore_eos=True)
    too_long = synthesizer.resolve(speaker="ryan", max_frames=context, sampling=greedy)
    utterances = [("Hello there.", ok, None), ("Hello there.", too_long, None), ("Hello again.", ok, None)]
    got = []
    for i, frames in synthesizer.ordered_frames(utterances, 3):
        try:
            got.append(len(list(frames)))
        except ContextExceeded:
            got.append("refused")
    assert got == [4, "refused", 4]


def test_every_newcomer_prefilled_at_once_gives_the_same_codes(synthesizer):
    """The server's engine prefills all waiting rows at one frame boundary."""
    from qwentts_cli.generate.schedule import Job, OrderedRows

    names = GOLDEN_CASES + GOLDEN_CASES[:2]
    requests = [synthesizer.resolve(**golden_request(load_case(n), synthesizer.greedy)) for n in names]
    jobs = [Job(lambda n=n, r=r: synthesizer.piece_row(load_case(n)["text"], r, None), tag=n)
            for n, r in zip(names, requests)]
    engine = synthesizer.batch_engine(4, prefills_per_step=4)
    for job, frames in OrderedRows(engine, jobs):
        np.testing.assert_array_equal(torch.stack(list(frames)).numpy(), np.array(load_case(job.tag)["codes"]))


def test_several_rows_step_packed_and_a_lone_row_plain(synthesizer):
    # float32 on the CPU: steps over several rows run on oneDNN-packed weights (the golden tests
    # above go through them); a row alone in its step keeps the plain products, the official ones.
    from qwentts_cli.generate.schedule import Job, OrderedRows
    from qwentts_cli.model import packed

    name = GOLDEN_CASES[1]
    request = synthesizer.resolve(**golden_request(load_case(name), synthesizer.greedy))
    engine = synthesizer.batch_engine(4)
    job = Job(lambda: synthesizer.piece_row(load_case(name)["text"], request, None), tag=name)
    got = [torch.stack(list(frames)).numpy() for _, frames in OrderedRows(engine, [job])]
    assert len(got) == 1
    np.testing.assert_array_equal(got[0], np.array(load_case(name)["codes"]))
    if packed.float32_available():
        assert engine.talker_many is not None and engine.talker_many.kind == 3
        assert engine.fused_many is not None and engine.fused_many.step.kind == 3
    assert engine.fused.step.kind == 0  # what a lone row runs
