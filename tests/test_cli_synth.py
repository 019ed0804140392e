"""`qwentts synth` end to end, and the bad-input catalogue: one stderr line, non-zero exit, no partial file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import load_case

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "QWENTTS_MODEL"}
    full_env.update(PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "qwentts_cli", *args], input=stdin, capture_output=True, env=full_env, timeout=300
    )


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode != 0, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert proc.stdout == b""
    return lines[0]


def copy_model(model_dir: Path, dest: Path) -> Path:
    """A writable copy of the checkpoint (big unchanged files are symlinked)."""
    dest.mkdir()
    for item in model_dir.iterdir():
        target = dest / item.name
        if item.is_dir():
            shutil.copytree(item, target)
        elif item.suffix == ".safetensors" or item.name in ("vocab.json", "merges.txt"):
            target.symlink_to(item)
        else:
            shutil.copy(item, target)
    return dest


def test_synth_golden_case_end_to_end(model_dir, fixture_dir, tmp_path):
    case = load_case("en_medium")
    out, codes = tmp_path / "out.wav", tmp_path / "codes.npy"
    proc = run_cli(
        "synth", case["text"], "--model", str(model_dir), "--speaker", case["speaker"], "--language", case["language"],
        "--greedy", "--max-frames", str(case["max_new_tokens"] - 1), "--repetition-penalty", "1.05",
        "--no-normalize", "--subtype", "float", "--dump-codes", str(codes), "-o", str(out),
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""
    np.testing.assert_array_equal(np.load(codes), np.array(case["codes"]))
    audio, sr = sf.read(out, dtype="float32")
    info = sf.info(out)
    assert sr == 24000 and info.subtype == "FLOAT"
    expected = np.load(fixture_dir / "golden" / "en_medium" / "wav.npy")
    assert audio.shape == expected.shape and np.abs(audio - expected).max() < 1e-4


def test_synth_streaming_text_layout_from_stdin(model_dir, tmp_path):
    case = load_case("ru_streaming_text")
    codes = tmp_path / "codes.npy"
    proc = run_cli(
        "synth", "-", "--model", str(model_dir), "--speaker", case["speaker"], "--language", case["language"],
        "--greedy", "--max-frames", str(case["max_new_tokens"] - 1), "--streaming-text", "--no-normalize",
        "--dump-codes", str(codes), "-o", str(tmp_path / "out.wav"), stdin=case["text"].encode(),
    )
    assert proc.returncode == 0, proc.stderr.decode()
    np.testing.assert_array_equal(np.load(codes), np.array(case["codes"]))
    assert sf.info(tmp_path / "out.wav").subtype == "PCM_16"


def test_info_lists_speakers_and_languages(model_dir):
    proc = run_cli("info", "--model", str(model_dir), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    data = json.loads(proc.stdout)
    assert data["type"] == "custom_voice"
    assert "ryan" in data["speakers"] and "dylan" in data["speakers"]
    assert data["languages"][0] == "auto" and "russian" in data["languages"]
    assert not any("dialect" in lang for lang in data["languages"])


# --- bad input -------------------------------------------------------------------------------


def test_missing_model_directory(tmp_path):
    out = tmp_path / "out.wav"
    proc = run_cli("synth", "hello", "--model", str(tmp_path / "nope"), "-o", str(out))
    assert_clean_error(proc, "no model directory")
    assert not out.exists()


def test_repo_id_not_in_cache_says_what_to_run(tmp_path):
    proc = run_cli("synth", "hello", "--model", "Qwen/Not-A-Model", "-o", str(tmp_path / "o.wav"),
                   env={"HF_HOME": str(tmp_path / "hf")})
    assert_clean_error(proc, "qwentts download Qwen/Not-A-Model")


def test_missing_weights_file(model_dir, tmp_path):
    bad = copy_model(model_dir, tmp_path / "m")
    (bad / "model.safetensors").unlink()
    assert_clean_error(run_cli("synth", "hello", "--model", str(bad), "-o", str(tmp_path / "o.wav")), "model.safetensors")
    assert not (tmp_path / "o.wav").exists()


def test_truncated_safetensors(model_dir, tmp_path):
    bad = copy_model(model_dir, tmp_path / "m")
    (bad / "model.safetensors").unlink()
    data = (model_dir / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    assert_clean_error(run_cli("synth", "hello", "--model", str(bad), "-o", str(tmp_path / "o.wav")), "corrupt")


def test_tensor_with_wrong_shape(model_dir, tmp_path):
    bad = copy_model(model_dir, tmp_path / "m")
    cfg = json.loads((bad / "config.json").read_text())
    cfg["talker_config"]["intermediate_size"] += 8
    (bad / "config.json").write_text(json.dumps(cfg))
    assert_clean_error(run_cli("synth", "hello", "--model", str(bad), "-o", str(tmp_path / "o.wav")), "mlp.gate_proj.weight", "shape")


def test_unsupported_config(model_dir, tmp_path):
    bad = copy_model(model_dir, tmp_path / "m")
    cfg = json.loads((bad / "config.json").read_text())
    cfg["tokenizer_type"] = "qwen3_tts_tokenizer_25hz"
    (bad / "config.json").write_text(json.dumps(cfg))
    assert_clean_error(run_cli("synth", "hello", "--model", str(bad), "-o", str(tmp_path / "o.wav")), "not supported")


def test_unknown_speaker_lists_valid_ones(model_dir, tmp_path):
    line = assert_clean_error(run_cli("synth", "hello", "--model", str(model_dir), "--speaker", "bob", "-o", str(tmp_path / "o.wav")))
    assert "bob" in line and "ryan" in line and "vivian" in line
    assert not (tmp_path / "o.wav").exists()


def test_unknown_language_lists_valid_ones(model_dir, tmp_path):
    line = assert_clean_error(run_cli("synth", "hello", "--model", str(model_dir), "--language", "klingon", "-o", str(tmp_path / "o.wav")))
    assert "klingon" in line and "russian" in line and "english" in line


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text(model_dir, tmp_path, text):
    assert_clean_error(run_cli("synth", text, "--model", str(model_dir), "-o", str(tmp_path / "o.wav")), "empty")


def test_unwritable_output_is_checked_before_the_model_loads(tmp_path):
    # The model does not exist either: the output error must come first.
    proc = run_cli("synth", "hello", "--model", str(tmp_path / "nope"), "-o", str(tmp_path / "no" / "such" / "dir.wav"))
    assert_clean_error(proc, "does not exist")


def test_unknown_output_format(model_dir, tmp_path):
    assert_clean_error(run_cli("synth", "hello", "--model", str(model_dir), "-o", str(tmp_path / "o.mp4")), ".wav")


def test_text_longer_than_context(model_dir, tmp_path):
    small = copy_model(model_dir, tmp_path / "m")
    cfg = json.loads((small / "config.json").read_text())
    cfg["talker_config"]["max_position_embeddings"] = 64
    (small / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "o.wav"
    assert_clean_error(run_cli("synth", "word " * 80, "--model", str(small), "--no-normalize", "-o", str(out)), "too long")
    assert not out.exists()


def test_base_model_without_reference_voice(model_dir, tmp_path):
    base = copy_model(model_dir, tmp_path / "m")
    cfg = json.loads((base / "config.json").read_text())
    cfg["tts_model_type"] = "base"
    (base / "config.json").write_text(json.dumps(cfg))
    assert_clean_error(run_cli("synth", "hello", "--model", str(base), "-o", str(tmp_path / "o.wav")), "voice cloning is not supported yet")


def test_existing_output_survives_a_failed_run(model_dir, tmp_path):
    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    assert_clean_error(run_cli("synth", "hello", "--model", str(model_dir), "--speaker", "bob", "-o", str(out)))
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]
