"""Voice cloning, voice design and instructions against the official package (greedy, float32).

Base fixture: reference ids, prompt rows, codes and waveform for ICL (both text layouts, a
16 kHz reference) and x-vector-only cloning, one-shot and streamed; the same through a saved
voice and through the CLI. VoiceDesign and 1.7B CustomVoice fixtures: instruction ids, codes
and waveform.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import assert_clean_error, run_main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BASE = FIXTURES / "qwen3-tts-micro-base"
CLONE_CASES = ["icl_ru", "icl_en_streaming_text", "xvec_en", "icl_16k_streaming_long_text"]
INSTRUCT_CASES = [("qwen3-tts-micro-voicedesign", "design_ru"), ("qwen3-tts-micro-voicedesign", "design_en_streaming_text"),
                  ("qwen3-tts-micro-1.7b-customvoice", "cv_instruct_ru"),
                  ("qwen3-tts-micro-1.7b-customvoice", "cv_no_instruct_en"),
                  ("qwen3-tts-micro-1.7b-customvoice", "cv_instruct_dialect_streaming_text")]


def case(fixture: Path, name: str) -> dict:
    return json.loads((fixture / "golden" / name / "case.json").read_text(encoding="utf-8"))


def golden(fixture: Path, name: str, array: str) -> np.ndarray:
    return np.load(fixture / "golden" / name / f"{array}.npy")


def request_of(c: dict, synth) -> dict:
    return dict(language=c["language"], sampling=synth.greedy(repetition_penalty=c.get("repetition_penalty", 1.05)),
                max_frames=c["max_new_tokens"] - 1, streaming_text=not c.get("non_streaming_mode", True))


@pytest.fixture(scope="module")
def base():
    from qwentts_cli.runtime import Synthesizer

    return Synthesizer.from_pretrained(str(BASE / "model"))


def golden_voice(base, name: str):
    """The voice of a case made from the official intermediate tensors (x-vector and reference codes)."""
    from qwentts_cli.voices import Voice

    c = case(BASE, name)
    xvector = torch.from_numpy(golden(BASE, name, "xvector"))
    codes = None if c.get("x_vector_only_mode") else torch.tensor(c["ref_code"])
    return Voice(xvector, codes, c.get("ref_text"), base.voice_family)


@pytest.mark.parametrize("name", CLONE_CASES)
def test_reference_ids_and_prompt_rows_match_official(base, name):
    from qwentts_cli.generate.prompt import build_prompt
    from qwentts_cli.runtime import REF_TEMPLATE

    c = case(BASE, name)
    assert base.prompt_ids(c["text"]) == c["input_ids"]
    if "ref_ids" in c:
        assert base.tokenizer.encode(REF_TEMPLATE.format(text=c["ref_text"])) == c["ref_ids"]
    request = base.resolve(voice=golden_voice(base, name), **request_of(c, base))
    prompt = build_prompt(base.talker, base.config, torch.tensor([c["input_ids"]]), request.language_id, None,
                          request.streaming_text, None, base._voice_prompt(request.voice))
    # The same products as the official rows; the official ran its text projection over the same
    # token groups but as separate calls, which rounds some rows a few ulps apart (seen: 1e-6).
    np.testing.assert_allclose(prompt.embeds[0].numpy(), golden(BASE, name, "talker_prefill"), rtol=0, atol=1e-5)
    np.testing.assert_allclose(prompt.trailing_text[0].numpy(), golden(BASE, name, "trailing_text"), rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", CLONE_CASES)
def test_cloned_codes_and_waveform_match_official(base, name):
    c = case(BASE, name)
    voice = golden_voice(base, name)
    result = base.synthesize(c["text"], voice=voice, **request_of(c, base))
    np.testing.assert_array_equal(result.codes, np.array(c["codes"]))
    expected = golden(BASE, name, "wav").reshape(-1)
    assert result.audio.shape == expected.shape  # icl_ru: the official cut leaves one extra sample
    assert np.abs(result.audio - expected).max() < 1e-4
    # Streamed: the decoder primed with the reference codes, the same audio (it starts exactly at
    # the end of the reference: R * 1920 samples, where the official float cut may keep one more).
    chunks = list(base.stream(c["text"], voice=voice, chunk_frames=1, max_chunk_frames=4, **request_of(c, base)))
    streamed = np.concatenate([chunk.samples for chunk in chunks])
    assert len(streamed) == len(c["codes"]) * 1920
    assert np.abs(streamed - result.audio[-len(streamed):]).max() < 1e-4


def test_cloning_defaults_to_the_streaming_text_layout(base):
    assert base.resolve(voice=golden_voice(base, "xvec_en")).streaming_text is True


def test_a_saved_voice_gives_the_same_codes(base, tmp_path):
    from qwentts_cli.outputs import check_output
    from qwentts_cli.voices import load_voice, save_voice

    c = case(BASE, "icl_ru")
    path = tmp_path / "anna.voice"
    save_voice(golden_voice(base, "icl_ru"), check_output(str(path)))
    loaded = load_voice(path)
    assert loaded.mode == "icl" and loaded.ref_text == c["ref_text"] and loaded.family == base.voice_family
    result = base.synthesize(c["text"], voice=loaded, **request_of(c, base))
    np.testing.assert_array_equal(result.codes, np.array(c["codes"]))


@pytest.mark.parametrize("fixture, name", INSTRUCT_CASES)
def test_voice_design_and_instructions_match_official(fixture, name):
    from qwentts_cli.runtime import Synthesizer

    folder = FIXTURES / fixture
    synth = Synthesizer.from_pretrained(str(folder / "model"))
    c = case(folder, name)
    if c.get("instruct"):
        assert synth.instruct_ids(c["instruct"]) == c["instruct_ids"]
    result = synth.synthesize(c["text"], speaker=c.get("speaker"), instruct=c.get("instruct"), **request_of(c, synth))
    np.testing.assert_array_equal(result.codes, np.array(c["codes"]))
    expected = golden(folder, name, "wav").reshape(-1)
    assert result.audio.shape == expected.shape and np.abs(result.audio - expected).max() < 1e-4


def test_voice_design_needs_a_description(tmp_path):
    run = run_main("synth", "Hello.", "--model", str(FIXTURES / "qwen3-tts-micro-voicedesign" / "model"),
                   "-o", str(tmp_path / "o.wav"))
    assert_clean_error(run, "--instruct")


@pytest.mark.parametrize("args, needle", [
    (["--ref-audio", "{ref}"], "--ref-text"),
    (["--ref-text", "hi"], "goes with --ref-audio"),
    (["--ref-audio", "{tmp}/none.wav", "--ref-text", "hi"], "no reference audio"),
    (["--ref-audio", "{tmp}/short.wav", "--ref-text", "hi"], "at least"),
    (["--ref-audio", "{tmp}/silent.wav", "--ref-text", "hi"], "silent"),
    (["--ref-audio", "{tmp}/empty.wav", "--ref-text", "hi"], "empty"),
    (["--ref-audio", "{tmp}/noise.wav", "--ref-text", "hi"], "cannot read"),
    (["--voice", "{tmp}/none.voice"], "no voice file"),
    (["--voice", "{tmp}/bad.voice"], "not a qwentts voice file"),
    (["--voice", "../escape"], "no voice file"),
    (["--voice", "anna", "--ref-audio", "{ref}"], "one"),
    (["--speaker", "ryan"], "no built-in speakers"),
])
def test_bad_cloning_input_is_one_line(tmp_path, args, needle):
    sf.write(tmp_path / "short.wav", np.full(2400, 0.1, dtype=np.float32), 24000)
    sf.write(tmp_path / "silent.wav", np.zeros(48000, dtype=np.float32), 24000)
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 24000)
    (tmp_path / "noise.wav").write_bytes(b"RIFF not really a wave file")
    (tmp_path / "bad.voice").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    values = {"ref": str(BASE / "refs" / "ru_ref.wav"), "tmp": str(tmp_path)}
    out = tmp_path / "o.wav"
    run = run_main("synth", "Привет.", "--model", str(BASE / "model"), *(a.format(**values) for a in args),
                   "-o", str(out))
    assert_clean_error(run, needle)
    assert not out.exists()


def test_a_reference_with_a_custom_voice_model_is_refused(model_dir, tmp_path):
    run = run_main("synth", "Привет.", "--model", str(model_dir), "--ref-audio", str(BASE / "refs" / "ru_ref.wav"),
                   "--ref-text", "Привет!", "-o", str(tmp_path / "o.wav"))
    assert_clean_error(run, "do not clone voices", "--speaker")


def test_a_voice_from_another_checkpoint_names_both(base, tmp_path):
    from dataclasses import replace

    from qwentts_cli.outputs import check_output
    from qwentts_cli.voices import save_voice

    voice = golden_voice(base, "xvec_en")
    voice = replace(voice, family=replace(voice.family, fingerprint="0" * 64))
    save_voice(voice, check_output(str(tmp_path / "other.voice")))
    run = run_main("synth", "Hello.", "--model", str(BASE / "model"), "--voice", str(tmp_path / "other.voice"),
                   "-o", str(tmp_path / "o.wav"))
    line = assert_clean_error(run, "was made by", "000000000000", base.voice_family.fingerprint[:12])
    assert "create the voice again" in line


def cli_case_args(name: str) -> list[str]:
    c = case(BASE, name)
    args = ["synth", c["text"], "--model", str(BASE / "model"), "--language", c["language"], "--greedy",
            "--max-frames", str(c["max_new_tokens"] - 1), "--repetition-penalty", str(c.get("repetition_penalty", 1.05)),
            "--no-normalize", "--streaming-text" if not c["non_streaming_mode"] else "--no-streaming-text"]
    return args


@pytest.mark.parametrize("name", CLONE_CASES)
def test_cli_clones_from_the_reference_clip(name, tmp_path):
    c = case(BASE, name)
    clone = ["--ref-audio", str(BASE / c["ref_audio"])]
    clone += ["--x-vector-only"] if c.get("x_vector_only_mode") else ["--ref-text", c["ref_text"]]
    out, codes = tmp_path / "out.wav", tmp_path / "codes.npy"
    run = run_main(*cli_case_args(name), *clone, "--subtype", "float", "--dump-codes", str(codes), "-o", str(out))
    assert run.returncode == 0, run.stderr.decode()
    np.testing.assert_array_equal(np.load(codes), np.array(c["codes"]))
    audio, rate = sf.read(out, dtype="float32")
    expected = golden(BASE, name, "wav").reshape(-1)
    assert rate == 24000 and audio.shape == expected.shape and np.abs(audio - expected).max() < 1e-4
    streamed = run_main(*cli_case_args(name), *clone, "--stream", "--pcm", "f32le")
    assert streamed.returncode == 0, streamed.stderr.decode()
    samples = np.frombuffer(streamed.stdout, dtype="<f4")
    assert len(samples) == len(c["codes"]) * 1920 and np.abs(samples - expected[-len(samples):]).max() < 1e-4


def test_voice_create_then_synth_with_it(tmp_path, monkeypatch):
    monkeypatch.setenv("QWENTTS_VOICES", str(tmp_path / "voices"))
    c = case(BASE, "icl_ru")
    made = run_main("voice", "create", str(BASE / c["ref_audio"]), "--text", c["ref_text"], "--name", "anna",
                    "--model", str(BASE / "model"))
    assert made.returncode == 0, made.stderr.decode()
    assert (tmp_path / "voices" / "anna.voice").is_file() and "saved icl voice" in made.stderr.decode()
    again = run_main("voice", "create", str(BASE / c["ref_audio"]), "--text", c["ref_text"], "--name", "anna",
                     "--model", str(BASE / "model"))
    assert_clean_error(again, "--force")
    listed = run_main("voice", "list", "--json")
    (row,) = json.loads(listed.stdout)
    assert row["name"] == "anna" and row["mode"] == "icl" and row["seconds"] == len(c["ref_code"]) / 12.5
    codes = tmp_path / "codes.npy"
    run = run_main(*cli_case_args("icl_ru"), "--voice", "anna", "--dump-codes", str(codes), "-o", str(tmp_path / "o.wav"))
    assert run.returncode == 0, run.stderr.decode()
    np.testing.assert_array_equal(np.load(codes), np.array(c["codes"]))
    shown = json.loads(run_main("voice", "show", "anna").stdout)
    assert shown["ref_text"] == c["ref_text"] and shown["model_type"] == "base"
    assert run_main("voice", "rm", "anna").returncode == 0
    assert json.loads(run_main("voice", "list", "--json").stdout) == []
    assert_clean_error(run_main("voice", "rm", "anna"), "no saved voice")
    assert_clean_error(run_main("voice", "create", str(BASE / c["ref_audio"]), "--text", "x", "--name", "a/b",
                                "--model", str(BASE / "model")), "not a voice name")


@pytest.mark.parametrize("name", ["icl_ru", "xvec_en", "icl_16k_streaming_long_text"])
def test_create_voice_from_the_clip_gives_the_official_codes_and_embedding(base, name):
    c = case(BASE, name)
    voice = base.create_voice(BASE / c["ref_audio"], c.get("ref_text"), bool(c.get("x_vector_only_mode")))
    np.testing.assert_allclose(voice.xvector.numpy(), golden(BASE, name, "xvector"), rtol=0, atol=1e-5)
    if voice.ref_codes is not None:
        np.testing.assert_array_equal(voice.ref_codes.numpy(), np.array(c["ref_code"]))


def test_long_text_with_a_cloned_voice_streams_like_one_decode(base):
    # Several pieces, one reference: the decoder is primed once and its state carries across pieces.
    voice = golden_voice(base, "icl_ru")
    pieces = ["Первое предложение.", "Второе, чуть длиннее первого.", "Третье."]
    kwargs = dict(voice=voice, language="russian", sampling=base.greedy(), max_frames=5, seed=1)
    whole = base.synthesize(pieces, **kwargs)
    assert len(whole.codes) == 15
    streamed = np.concatenate([chunk.samples for chunk in base.stream(pieces, chunk_frames=2, max_chunk_frames=4,
                                                                       **kwargs)])
    assert len(streamed) == 15 * 1920 and np.abs(streamed - whole.audio[-len(streamed):]).max() < 1e-4


def test_a_truncated_voice_file_is_refused(base, tmp_path):
    from qwentts_cli.outputs import check_output
    from qwentts_cli.voices import VoiceError, load_voice, save_voice

    path = tmp_path / "anna.voice"
    save_voice(golden_voice(base, "icl_ru"), check_output(str(path)))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(VoiceError, match="damaged|not a qwentts voice"):
        load_voice(path)
