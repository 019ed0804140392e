"""`qwentts synth` and `info` in process, through `main()`: outputs, and bad input as one stderr line,
a non-zero exit, and no file touched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_clean_error, copy_model, run_main

LONG_TWO_PIECES = "Hi. " + "word " * 90  # "Hi." alone, then pieces of ~400 characters


def edit_config(model: Path, **talker: object) -> None:
    cfg = json.loads((model / "config.json").read_text())
    cfg["talker_config"].update(talker)
    (model / "config.json").write_text(json.dumps(cfg))


def test_info_lists_speakers_and_languages(model_dir):
    run = run_main("info", "--model", str(model_dir), "--json")
    assert run.returncode == 0, run.stderr.decode()
    data = json.loads(run.stdout)
    assert data["type"] == "custom_voice"
    assert "ryan" in data["speakers"] and "dylan" in data["speakers"]
    assert data["languages"][0] == "auto" and "russian" in data["languages"]
    assert not any("dialect" in lang for lang in data["languages"])
    assert data["parameters"]["talker"] > 0 and data["parameters"]["codec"] > 0


def test_missing_model_directory(tmp_path):
    out = tmp_path / "out.wav"
    assert_clean_error(run_main("synth", "hello", "--model", str(tmp_path / "nope"), "-o", str(out)),
                       "no model directory", "--model DIR")
    assert not out.exists()


def test_repo_id_not_in_cache_says_what_to_run(tmp_path):
    assert_clean_error(run_main("synth", "hello", "--model", "Qwen/Not-A-Model", "-o", str(tmp_path / "o.wav")),
                       "qwentts download Qwen/Not-A-Model")


def test_missing_weights_file(model_dir, tmp_path):
    bad = copy_model(model_dir, tmp_path / "m")
    (bad / "model.safetensors").unlink()
    assert_clean_error(run_main("synth", "hello", "--model", str(bad), "-o", str(tmp_path / "o.wav")), "model.safetensors")
    assert not (tmp_path / "o.wav").exists()


def test_truncated_safetensors(model_dir, tmp_path):
    bad = copy_model(model_dir, tmp_path / "m")
    (bad / "model.safetensors").unlink()
    data = (model_dir / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    assert_clean_error(run_main("synth", "hello", "--model", str(bad), "-o", str(tmp_path / "o.wav")), "corrupt")


def test_tensor_with_wrong_shape(model_dir, tmp_path):
    bad = copy_model(model_dir, tmp_path / "m")
    cfg = json.loads((bad / "config.json").read_text())
    edit_config(bad, intermediate_size=cfg["talker_config"]["intermediate_size"] + 8)
    assert_clean_error(run_main("synth", "hello", "--model", str(bad), "-o", str(tmp_path / "o.wav")),
                       "mlp.gate_proj.weight", "shape")


def test_unsupported_config(model_dir, tmp_path):
    bad = copy_model(model_dir, tmp_path / "m")
    cfg = json.loads((bad / "config.json").read_text())
    cfg["tokenizer_type"] = "qwen3_tts_tokenizer_25hz"
    (bad / "config.json").write_text(json.dumps(cfg))
    assert_clean_error(run_main("synth", "hello", "--model", str(bad), "-o", str(tmp_path / "o.wav")), "not supported")


def test_unknown_speaker_lists_valid_ones(model_dir, tmp_path):
    line = assert_clean_error(run_main("synth", "hello", "--model", str(model_dir), "--speaker", "bob",
                                       "-o", str(tmp_path / "o.wav")), "--speaker")
    assert "bob" in line and "ryan" in line and "vivian" in line
    assert not (tmp_path / "o.wav").exists()


def test_unknown_language_lists_valid_ones(model_dir, tmp_path):
    line = assert_clean_error(run_main("synth", "hello", "--model", str(model_dir), "--language", "klingon",
                                       "-o", str(tmp_path / "o.wav")), "--language")
    assert "klingon" in line and "russian" in line and "english" in line


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text(model_dir, tmp_path, text):
    assert_clean_error(run_main("synth", text, "--model", str(model_dir), "-o", str(tmp_path / "o.wav")), "empty")


def test_unwritable_output_is_checked_before_the_model_loads(tmp_path):
    # The model does not exist either: the output error must come first.
    run = run_main("synth", "hello", "--model", str(tmp_path / "nope"), "-o", str(tmp_path / "no" / "such" / "dir.wav"))
    assert_clean_error(run, "does not exist")


def test_unknown_output_format(model_dir, tmp_path):
    assert_clean_error(run_main("synth", "hello", "--model", str(model_dir), "-o", str(tmp_path / "o.mp4")), ".wav")


def test_bad_options_are_one_line_naming_the_option(model_dir, tmp_path):
    out = str(tmp_path / "o.wav")
    assert_clean_error(run_main("synth", "x", "--max-frames", "0", "-o", out), "--max-frames")
    assert_clean_error(run_main("synth", "x", "--bogus"), "--bogus")
    assert_clean_error(run_main("synth", "x", "--model", str(model_dir), "--device", "tpu", "-o", out), "--device", "tpu")
    assert_clean_error(run_main("synth", "x", "--model", str(model_dir), "--dtype", "int3", "-o", out), "--dtype")
    assert_clean_error(run_main("synth", "x", "--model", str(model_dir), "--subtype", "float", "-o",
                                str(tmp_path / "o.ogg")), "--subtype")
    assert_clean_error(run_main("nosuch"), "nosuch")
    assert list(tmp_path.iterdir()) == []


def test_text_longer_than_context(model_dir, tmp_path):
    small = copy_model(model_dir, tmp_path / "m")
    edit_config(small, max_position_embeddings=64)
    out = tmp_path / "o.wav"
    assert_clean_error(run_main("synth", "word " * 80, "--model", str(small), "--no-normalize", "-o", str(out)),
                       "too long")
    assert not out.exists()


def test_base_model_without_reference_voice(model_dir, tmp_path):
    base = copy_model(model_dir, tmp_path / "m")
    cfg = json.loads((base / "config.json").read_text())
    cfg["tts_model_type"] = "base"
    (base / "config.json").write_text(json.dumps(cfg))
    assert_clean_error(run_main("synth", "hello", "--model", str(base), "-o", str(tmp_path / "o.wav")),
                       "Base models clone a voice", "--ref-audio", "--voice")


def test_a_stream_that_fails_midway_leaves_the_existing_file(model_dir, tmp_path):
    """The stream's temporary WAV already holds the first piece's audio when the second piece
    fails (too long): the existing file stays as it was, and no temporary file is left."""
    small = copy_model(model_dir, tmp_path / "m")
    edit_config(small, max_position_embeddings=64)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "keep.wav"
    out.write_bytes(b"precious")
    run = run_main("synth", LONG_TWO_PIECES, "--model", str(small), "--no-normalize", "--greedy", "--max-frames", "4",
                   "--stream", "-o", str(out), "--verbose")
    err = run.stderr.decode()
    assert run.returncode == 2 and "too long" in err and "Traceback" not in err
    assert err.splitlines()[0] == "[1] Hi."  # --verbose numbers the pieces: the first one was spoken
    assert out.read_bytes() == b"precious"
    assert [p.name for p in out_dir.iterdir()] == ["keep.wav"]


def test_a_failed_write_leaves_the_existing_file(model_dir, tmp_path, monkeypatch):
    """A write that fails half way (a full disk) removes its temporary file; the old file stays."""
    import soundfile

    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    real_write = soundfile.SoundFile.write

    def half_then_fail(self, data):
        real_write(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(soundfile.SoundFile, "write", half_then_fail)  # audio.blocks_writer writes through it
    run = run_main("synth", "Hello there.", "--model", str(model_dir), "--greedy", "--max-frames", "4", "-o", str(out))
    assert_clean_error(run, str(out), "no space left")
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]


def test_a_sharded_checkpoint_loads_and_its_errors_name_the_shard(model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    sharded = copy_model(model_dir, tmp_path / "m")
    (sharded / "model.safetensors").unlink()
    tensors = load_file(str(model_dir / "model.safetensors"))
    names = sorted(tensors)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    for shard, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, str(sharded / shard))
    index = {"metadata": {}, "weight_map": {k: shard for shard, keys in shards.items() for k in keys}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))

    args = ["Hello there.", "--language", "english", "--greedy", "--max-frames", "4", "--no-normalize"]
    one = run_main("synth", *args, "--model", str(model_dir), "--dump-codes", str(tmp_path / "a.npy"), "-o", str(tmp_path / "a.wav"))
    two = run_main("synth", *args, "--model", str(sharded), "--dump-codes", str(tmp_path / "b.npy"), "-o", str(tmp_path / "b.wav"))
    assert one.returncode == 0 and two.returncode == 0, two.stderr.decode()
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))

    # A tensor of the wrong shape is named with the shard that holds it; a missing one with the index.
    bad = "talker.model.layers.0.mlp.down_proj.weight"
    shard = next(s for s, keys in shards.items() if bad in keys)
    part = load_file(str(sharded / shard))
    part[bad] = part[bad][:, :-1].contiguous()
    save_file(part, str(sharded / shard))
    line = assert_clean_error(run_main("synth", *args, "--model", str(sharded), "-o", str(tmp_path / "c.wav")),
                              shard, "down_proj")
    assert "model.safetensors:" not in line and "model.safetensors " not in line
    del part[bad]
    save_file(part, str(sharded / shard))
    assert_clean_error(run_main("synth", *args, "--model", str(sharded), "-o", str(tmp_path / "c.wav")),
                       "model.safetensors.index.json is missing tensor", "down_proj")


def test_instruct_on_the_0_6b_custom_voice_model_is_a_warning(model_dir, tmp_path):
    run = run_main("synth", "Hello there.", "--model", str(model_dir), "--language", "english", "--greedy",
                   "--max-frames", "2", "--instruct", "whisper", "-o", str(tmp_path / "o.wav"))
    assert run.returncode == 0, run.stderr.decode()
    assert run.stderr.decode() == "warning: this custom_voice 0.6B model ignores --instruct (as the official package does)\n"


def test_info_says_0_6b(model_dir):
    run = run_main("info", "--model", str(model_dir))
    assert run.returncode == 0 and "type:       custom_voice (0.6B)" in run.stdout.decode()


def test_no_arguments_prints_the_help():
    run = run_main()
    assert run.returncode == 0 and run.stderr == b""
    assert "Usage:" in run.stdout.decode() and "synth" in run.stdout.decode()


def test_codes_to_stdout_and_audio_to_a_file(model_dir, tmp_path):
    run = run_main("synth", "Hello there.", "--model", str(model_dir), "--language", "english", "--greedy",
                   "--max-frames", "3", "--dump-codes", "-", "-o", str(tmp_path / "o.wav"))
    assert run.returncode == 0, run.stderr.decode()
    import io

    codes = np.load(io.BytesIO(run.stdout))
    assert codes.shape == (3, 16) and codes.dtype == np.int64


def test_audio_to_a_device_without_an_extension_is_wav(model_dir):
    run = run_main("synth", "Hello there.", "--model", str(model_dir), "--language", "english", "--greedy",
                   "--max-frames", "2", "-o", "/dev/null")
    assert run.returncode == 0 and run.stderr == b"", run.stderr.decode()


def test_an_output_naming_an_input_is_refused(model_dir, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("Hello there.", encoding="utf-8")
    run = run_main("synth", "--model", str(model_dir), "-f", str(text), "--dump-codes", str(text),
                   "-o", str(tmp_path / "o.wav"))
    assert_clean_error(run, "is an input of this run")
    assert text.read_text(encoding="utf-8") == "Hello there."


def test_file_dash_reads_stdin_like_no_argument(model_dir, tmp_path):
    # `-f -` is stdin, as `-` and no argument are: the same codes as the text given as an argument.
    for name, args, stdin in (("arg", ["Hello there."], b""), ("dash", ["-f", "-"], b"Hello there.\n")):
        run = run_main("synth", *args, "--model", str(model_dir), "-o", str(tmp_path / f"{name}.wav"), "--greedy",
                       "--dump-codes", str(tmp_path / f"{name}.npy"), stdin=stdin)
        assert run.returncode == 0, run.stderr
    assert np.array_equal(np.load(tmp_path / "arg.npy"), np.load(tmp_path / "dash.npy"))
    both = run_main("synth", "Hi.", "-f", "-", "--model", str(model_dir), "-o", str(tmp_path / "x.wav"))
    assert both.returncode != 0 and b"not both" in both.stderr and not (tmp_path / "x.wav").exists()
