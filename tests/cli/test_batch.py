"""`qwentts batch`: one file per item, the golden codes, a manifest, bad items kept apart, resuming."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from conftest import GOLDEN_CASES, golden_wav, load_case
from helpers import assert_clean_error, run_main

BASE = Path(__file__).resolve().parents[1] / "fixtures" / "qwen3-tts-micro-base"


def golden_item(name: str) -> dict:
    case = load_case(name)
    return {"id": name, "text": case["text"], "speaker": case["speaker"], "language": case["language"],
            "max_frames": case["max_new_tokens"] - 1, "repetition_penalty": case.get("repetition_penalty", 1.05),
            "streaming_text": not case.get("non_streaming_mode", True)}


def manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def write_jsonl(path: Path, items: list) -> Path:
    path.write_text("".join((item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)) + "\n"
                            for item in items), encoding="utf-8")
    return path


def test_every_golden_case_in_one_batch(model_dir, tmp_path):
    items = write_jsonl(tmp_path / "cases.jsonl", [golden_item(name) for name in GOLDEN_CASES])
    out = tmp_path / "out"
    run = run_main("batch", str(items), "--out-dir", str(out), "--model", str(model_dir), "--greedy", "--no-normalize",
                   "--subtype", "float", "--dump-codes")
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout == b""
    for name in GOLDEN_CASES:
        case = load_case(name)
        np.testing.assert_array_equal(np.load(out / f"{name}.codes.npy"), np.array(case["codes"]))
        audio, rate = sf.read(out / f"{name}.wav", dtype="float32")
        expected = golden_wav(name)
        assert rate == 24000 and audio.shape == expected.shape and np.abs(audio - expected).max() < 1e-4
    entries = manifest(out)
    assert [e["id"] for e in entries] == GOLDEN_CASES and {e["status"] for e in entries} == {"ok"}
    assert all(e["frames"] == len(load_case(e["id"])["codes"]) for e in entries)


def test_every_free_slot_is_filled_at_once(model_dir, tmp_path, monkeypatch):
    """A job of files prefills all its newcomers at one frame boundary (fewer, fuller steps), and
    its files are still the golden ones (the test above runs through the same engine)."""
    from qwentts_cli.runtime import Synthesizer

    engines = []
    original = Synthesizer.batch_engine

    def recorded(self, slots, times=None, prefills_per_step=1):
        engines.append((slots, prefills_per_step))
        return original(self, slots, times, prefills_per_step)

    monkeypatch.setattr(Synthesizer, "batch_engine", recorded)
    items = write_jsonl(tmp_path / "cases.jsonl", [golden_item(name) for name in GOLDEN_CASES[:3]])
    run = run_main("batch", str(items), "--out-dir", str(tmp_path / "out"), "--model", str(model_dir), "--greedy",
                   "--no-normalize", "--batch", "3", "--dump-codes")
    assert run.returncode == 0, run.stderr.decode()
    assert engines == [(3, 3)]
    for name in GOLDEN_CASES[:3]:
        np.testing.assert_array_equal(np.load(tmp_path / "out" / f"{name}.codes.npy"), np.array(load_case(name)["codes"]))


def test_bad_items_are_recorded_and_the_rest_run(model_dir, tmp_path):
    items = write_jsonl(tmp_path / "items.jsonl", [
        {"id": "good", "text": "Hello there.", "language": "english", "max_frames": 3},
        "{not json",
        {"id": "bob", "text": "Hi", "speaker": "bob"},
        {"id": "empty", "text": "   "},
        {"id": "typed", "text": "Hi", "seed": "seven"},
        {"id": "odd", "text": "Hi", "colour": "red"},
    ])
    out = tmp_path / "out"
    run = run_main("batch", str(items), "--out-dir", str(out), "--model", str(model_dir), "--greedy")
    assert run.returncode == 1
    entries = {e["line"]: e for e in manifest(out)}
    assert entries[1]["status"] == "ok" and (out / "good.wav").is_file()
    assert [entries[n]["status"] for n in (2, 3, 4, 5, 6)] == ["error"] * 5
    assert "line 2 is not valid JSON" in entries[2]["error"] and "--speaker 'bob'" in entries[3]["error"]
    assert "empty" in entries[4]["error"] and "'seed'" in entries[5]["error"] and "'colour'" in entries[6]["error"]
    assert sorted(p.name for p in out.iterdir()) == ["good.wav", "manifest.jsonl"]
    assert "Traceback" not in run.stderr.decode()


def test_a_rerun_skips_what_is_done_and_redoes_what_changed(model_dir, tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("Первая строка.\nВторая строка.\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["batch", str(path), "--out-dir", str(out), "--model", str(model_dir), "--greedy", "--max-frames", "3"]
    assert run_main(*args).returncode == 0
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")}
    assert sorted(first) == ["0001.wav", "0002.wav"]
    again = run_main(*args)
    assert again.returncode == 0 and [e["status"] for e in manifest(out)] == ["skipped", "skipped"]
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")} == first  # untouched
    path.write_text("Первая строка.\nДругая строка.\n", encoding="utf-8")
    changed = run_main(*args)
    assert changed.returncode == 0 and [e["status"] for e in manifest(out)] == ["skipped", "ok"]
    assert (out / "0002.wav").stat().st_mtime_ns != first["0002.wav"]


def test_csv_and_stdin_inputs(model_dir, tmp_path):
    csv_path = tmp_path / "items.csv"
    csv_path.write_text("id,text,language,max_frames\nx,Hello there.,english,2\ny,Привет!,russian,3\n", encoding="utf-8")
    assert run_main("batch", str(csv_path), "--out-dir", str(tmp_path / "a"), "--model", str(model_dir),
                    "--greedy").returncode == 0
    assert [e["frames"] for e in manifest(tmp_path / "a")] == [2, 3]
    run = run_main("batch", "-", "--out-dir", str(tmp_path / "b"), "--model", str(model_dir), "--greedy",
                   "--max-frames", "2", "--format", "flac", stdin="Один.\nДва.\n".encode())
    assert run.returncode == 0, run.stderr.decode()
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["0001.flac", "0002.flac", "manifest.jsonl"]


def test_cloned_items(tmp_path):
    case = json.loads((BASE / "golden" / "icl_ru" / "case.json").read_text(encoding="utf-8"))
    item = {"id": "anna", "text": case["text"], "language": case["language"], "ref_audio": str(BASE / case["ref_audio"]),
            "ref_text": case["ref_text"], "max_frames": case["max_new_tokens"] - 1, "streaming_text": False}
    items = write_jsonl(tmp_path / "items.jsonl", [item])
    out = tmp_path / "out"
    run = run_main("batch", str(items), "--out-dir", str(out), "--model", str(BASE / "model"), "--greedy",
                   "--no-normalize", "--dump-codes")
    assert run.returncode == 0, run.stderr.decode()
    np.testing.assert_array_equal(np.load(out / "anna.codes.npy"), np.array(case["codes"]))


def test_batch_input_refused_up_front(model_dir, tmp_path):
    dup = write_jsonl(tmp_path / "dup.jsonl", [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])
    assert_clean_error(run_main("batch", str(dup), "--out-dir", str(tmp_path / "o"), "--model", str(model_dir)),
                       "same id 'a'")
    assert not (tmp_path / "o").exists()
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    ok = write_jsonl(tmp_path / "ok.jsonl", [{"id": "a", "text": "x"}])
    # The folder is checked before the (missing) model: its error comes first.
    assert_clean_error(run_main("batch", str(ok), "--out-dir", str(blocker), "--model", str(tmp_path / "nope")),
                       "is a file, not a folder")
    assert_clean_error(run_main("batch", str(tmp_path / "none.jsonl"), "--out-dir", str(tmp_path / "o")),
                       "no batch input file")
    assert_clean_error(run_main("batch", str(ok), "--out-dir", str(tmp_path / "o"), "--format", "mp4"), "--format")


def test_two_items_writing_one_file_and_a_byte_order_mark(model_dir, tmp_path):
    clash = write_jsonl(tmp_path / "clash.jsonl", [{"id": "a", "text": "x"}, {"id": "b", "text": "y", "file": "A.wav"}])
    assert_clean_error(run_main("batch", str(clash), "--out-dir", str(tmp_path / "o"), "--model", str(model_dir)),
                       "would both write")
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes("\ufeff".encode() + json.dumps({"id": "a", "text": "Hello there.", "language": "english",
                                                   "max_frames": 2}).encode() + b"\n")
    run = run_main("batch", str(bom), "--out-dir", str(tmp_path / "p"), "--model", str(model_dir), "--greedy")
    assert run.returncode == 0, run.stderr.decode()
    assert [e["id"] for e in manifest(tmp_path / "p")] == ["a"]


def test_an_interrupted_rerun_keeps_what_the_first_run_finished(model_dir, tmp_path, monkeypatch):
    path = tmp_path / "lines.txt"
    path.write_text("Один.\nДва.\nТри.\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["batch", str(path), "--out-dir", str(out), "--model", str(model_dir), "--greedy", "--max-frames", "2"]
    assert run_main(*args).returncode == 0
    path.write_text("Раз.\nДва.\nТри.\n", encoding="utf-8")  # the first item changes: it is redone first

    from qwentts_cli.cli import speak as speak_module
    from qwentts_cli.cli.signals import Interrupted

    def interrupted(*a, **k):
        raise Interrupted(130)

    monkeypatch.setattr(speak_module, "speak", interrupted)
    assert run_main(*args).returncode == 130
    assert [e["id"] for e in manifest(out)] == ["0001", "0002", "0003"]  # items 2 and 3 not forgotten
    monkeypatch.undo()
    assert run_main(*args).returncode == 0
    assert [e["status"] for e in manifest(out)] == ["ok", "skipped", "skipped"]


def test_batch_sizes_give_the_same_files(model_dir, tmp_path):
    """Items of several sentences, seeded, with different settings, a bad item among them:
    --batch 1 and 3 write the same bytes and the same manifest lines."""
    # Pieces are packed up to 400 characters: this is three or more.
    long_text = " ".join(["The quick brown fox jumps over the lazy dog.", "Привет, как у тебя дела сегодня?",
                          "Hello there, how are you doing today?"] * 8)
    items = write_jsonl(tmp_path / "items.jsonl", [
        {"id": "seeded", "text": long_text, "seed": 5, "max_frames": 6},
        {"id": "bob", "text": "Hi", "speaker": "bob"},
        {"id": "penalized", "text": long_text, "seed": 11, "max_frames": 8, "repetition_penalty": 1.3},
        {"id": "short", "text": "Hello there.", "language": "english", "seed": 9, "max_frames": 4},
    ])
    outs = {}
    for size in ("1", "3"):
        out = tmp_path / f"out{size}"
        run = run_main("batch", str(items), "--out-dir", str(out), "--model", str(model_dir), "--batch", size,
                       "--dump-codes")
        assert run.returncode == 1 and b"item bob (line 2)" in run.stderr, run.stderr.decode()
        outs[size] = out
    for name in ("seeded.wav", "penalized.wav", "short.wav", "seeded.codes.npy", "penalized.codes.npy"):
        assert (outs["1"] / name).read_bytes() == (outs["3"] / name).read_bytes(), name
    assert manifest(outs["1"]) == manifest(outs["3"])
    assert [e["status"] for e in manifest(outs["3"])] == ["ok", "error", "ok", "ok"]
    entry = next(e for e in manifest(outs["3"]) if e["id"] == "seeded")
    assert entry["frames"] == np.load(outs["3"] / "seeded.codes.npy").shape[0] > 6  # more than one piece's cap


def test_a_batch_of_zero_is_one_line(model_dir, tmp_path):
    items = write_jsonl(tmp_path / "items.jsonl", [{"id": "a", "text": "Hi"}])
    run = run_main("batch", str(items), "--out-dir", str(tmp_path / "o"), "--model", str(model_dir), "--batch", "0")
    assert_clean_error(run, "--batch must be at least 1")
    assert not (tmp_path / "o").exists()


def test_subtitle_cues_go_into_the_manifest(model_dir, tmp_path):
    """--subtitles: each line holds one cue per piece, in the file's samples; asking for them later
    redoes the items made without them."""
    long_text = " ".join(f"Предложение номер {i} в длинном тексте, который режется на части." for i in range(12))
    path = write_jsonl(tmp_path / "items.jsonl", [{"id": "short", "text": "Привет, мир."},
                                                    {"id": "long", "text": long_text}])
    out = tmp_path / "out"
    args = ["batch", str(path), "--out-dir", str(out), "--model", str(model_dir), "--greedy", "--max-frames", "4",
            "--language", "russian"]
    assert run_main(*args).returncode == 0
    assert all("cues" not in e for e in manifest(out))
    run = run_main(*args, "--subtitles")
    assert run.returncode == 0, run.stderr.decode()
    entries = {e["id"]: e for e in manifest(out)}
    assert [e["status"] for e in entries.values()] == ["ok", "ok"]  # redone: the cues were not there
    for entry in entries.values():
        cues, samples = entry["cues"], sf.info(out / entry["file"]).frames
        assert [c["index"] for c in cues] == list(range(1, len(cues) + 1))
        assert cues[0]["start_sample"] == 0 and cues[-1]["end_sample"] == samples
        assert all(a["end_sample"] == b["start_sample"] for a, b in zip(cues, cues[1:]))  # no pauses asked for
        assert all(c["end_sample"] - c["start_sample"] == 4 * 1920 for c in cues)  # each piece: its 4 frames
    assert len(entries["short"]["cues"]) == 1 and len(entries["long"]["cues"]) > 1
    assert entries["short"]["cues"][0]["text"] == "Привет, мир."
