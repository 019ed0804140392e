"""`qwentts bench` smoke test on the fixture: every field present, values sane (no timing thresholds)."""

from __future__ import annotations

import json

from helpers import run_cli

FIELDS = ("ttfa_s", "total_s", "rtf", "prefill_ms", "generate_ms_per_frame", "talker_ms_per_frame",
          "predictor_ms_per_frame", "codec_ms_per_frame")


def test_bench_json_on_fixture(model_dir):
    proc = run_cli("bench", "--model", str(model_dir), "--frames", "6", "--runs", "2", "--warmup", "1",
                   "--stream", "--chunk-frames", "2", "--json", "--threads", "1")
    assert proc.returncode == 0, proc.stderr.decode()
    report = json.loads(proc.stdout)
    assert report["implementation"] == "qwentts"
    assert report["device"] == "cpu" and report["dtype"] == "float32" and report["threads"] == 1
    assert report["mode"] == "stream" and report["fixed_frames"] == 6 and report["runs"] == 2
    assert report["load_s"] > 0 and report["speaker"] == "ryan"
    assert [r["text"] for r in report["results"]] == ["short", "medium", "long"]
    for r in report["results"]:
        assert r["frames"] == 6 and abs(r["audio_s"] - 0.48) < 1e-9
        for field in FIELDS:
            stats = r[field]
            assert 0 <= stats["min"] <= stats["median"] <= stats["max"], (field, stats)
        assert r["ttfa_s"]["median"] <= r["total_s"]["median"]
        assert r["generate_ms_per_frame"]["median"] > 0 and r["codec_ms_per_frame"]["median"] > 0
        assert r["peak_rss_mb"] > 50


def test_bench_table_and_bad_text_set(model_dir):
    proc = run_cli("bench", "--model", str(model_dir), "--frames", "2", "--runs", "1", "--warmup", "0", "--text", "Hi")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "custom" in proc.stdout.decode() and "RTF" in proc.stdout.decode()
    bad = run_cli("bench", "--model", str(model_dir), "--texts", "huge")
    assert bad.returncode == 2 and "unknown text set 'huge'" in bad.stderr.decode()


def test_compare_official_is_checked_before_the_benchmark(model_dir):
    # Without the official package installed the hint comes at once, before any model loads.
    import importlib.util

    if importlib.util.find_spec("qwen_tts") is not None:
        return  # installed here: nothing to refuse
    proc = run_cli("bench", "--model", str(model_dir), "--frames", "2", "--runs", "1", "--compare-official")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and proc.stdout == b""
    assert 'pip install --no-deps qwen-tts "transformers==4.57.3"' in err and "--compare-official" in err


def test_bench_batch_sizes(model_dir):
    from helpers import assert_clean_error, run_main

    run = run_main("bench", "--model", str(model_dir), "--batch", "1,3", "--frames", "3", "--runs", "1",
                   "--warmup", "0", "--texts", "short", "--json")
    assert run.returncode == 0, run.stderr.decode()
    report = json.loads(run.stdout)
    assert [b["batch"] for b in report["batches"]] == [1, 3] and report["results"] == []
    for b in report["batches"]:
        assert b["utterances"] == 2 * b["batch"] and b["frames"] == 3 * b["utterances"]
        for field in ("aggregate_rtf", "audio_s_per_s", "row_ms_per_frame", "ttfa_s", "codec_s"):
            stats = b[field]
            assert 0 < stats["min"] <= stats["median"] <= stats["max"], (field, stats)
        rtf, speed = b["aggregate_rtf"]["median"], b["audio_s_per_s"]["median"]
        assert abs(rtf * speed - 1) < 1e-3  # one is the other's inverse
    table = run_main("bench", "--model", str(model_dir), "--batch", "2", "--frames", "2", "--runs", "1",
                     "--warmup", "0", "--texts", "short")
    assert table.returncode == 0 and b"aggregate RTF" in table.stdout
    for bad in ("0", "1,x", ""):
        assert_clean_error(run_main("bench", "--model", str(model_dir), "--batch", bad), "--batch")
    assert_clean_error(run_main("bench", "--model", str(model_dir), "--batch", "2", "--compare-official"),
                       "--batch and --compare-official")
