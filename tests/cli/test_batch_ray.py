"""`qwentts batch --ray local`: the same job on a local Ray instance (2 CPUs, 2 workers), same
files, same manifest, resume; and an address that cannot be reached."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURE, GOLDEN_CASES, load_case
from helpers import assert_clean_error, run_cli, run_main
from test_batch import golden_item, manifest, write_jsonl

pytest.importorskip("ray")


def test_a_ray_job_gives_the_golden_files_and_resumes(model_dir, tmp_path):
    items = write_jsonl(tmp_path / "cases.jsonl", [golden_item(name) for name in GOLDEN_CASES]
                        + [{"id": "bob", "text": "Hi", "speaker": "bob"}])
    out = tmp_path / "out"
    args = ["batch", str(items), "--out-dir", str(out), "--model", str(model_dir), "--greedy", "--no-normalize",
            "--subtype", "float", "--dump-codes", "--ray", "local", "--workers", "2", "--batch", "2"]
    run = run_cli(*args)
    assert run.returncode == 1, run.stderr.decode()  # bob is not a speaker
    assert run.stdout == b"" and b"item bob (line 5)" in run.stderr and b"Traceback" not in run.stderr
    for name in GOLDEN_CASES:
        np.testing.assert_array_equal(np.load(out / f"{name}.codes.npy"), np.array(load_case(name)["codes"]))
        audio, _ = sf.read(out / f"{name}.wav", dtype="float32")
        expected = np.load(FIXTURE / "golden" / name / "wav.npy").reshape(-1)
        assert audio.shape == expected.shape and np.abs(audio - expected).max() < 1e-4
    entries = {e["id"]: e for e in manifest(out)}
    assert {k: e["status"] for k, e in entries.items()} == {**{n: "ok" for n in GOLDEN_CASES}, "bob": "error"}
    assert all(entries[n]["frames"] == len(load_case(n)["codes"]) for n in GOLDEN_CASES)
    # A rerun skips what is done: the driver decides, no worker starts, the files are not touched.
    stamps = {n: (out / f"{n}.wav").stat().st_mtime_ns for n in GOLDEN_CASES}
    write_jsonl(items, [golden_item(name) for name in GOLDEN_CASES])
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr.decode()
    assert [e["status"] for e in manifest(out)] == ["skipped"] * len(GOLDEN_CASES)
    assert {n: (out / f"{n}.wav").stat().st_mtime_ns for n in GOLDEN_CASES} == stamps


def test_an_unreachable_ray_address_is_one_line_within_seconds(model_dir, tmp_path):
    items = write_jsonl(tmp_path / "items.jsonl", [{"id": "a", "text": "Hi"}])
    start = time.monotonic()
    run = run_main("batch", str(items), "--out-dir", str(tmp_path / "o"), "--model", str(model_dir),
                   "--ray", "127.0.0.1:1")
    assert_clean_error(run, "cannot reach the Ray cluster at 127.0.0.1:1")
    assert time.monotonic() - start < 10 and not (tmp_path / "o").exists()
    assert_clean_error(run_main("batch", str(items), "--out-dir", str(tmp_path / "o"), "--ray", "nowhere"),
                       "HOST:PORT")
    assert_clean_error(run_main("batch", str(items), "--out-dir", str(tmp_path / "o"), "--workers", "2"),
                       "--workers goes with --ray")
