"""Long-form and live text: speaking from a pipe as text arrives, pauses, subtitles, resuming, the run-on guard."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import GOLDEN_CASES, golden_request, load_case
from helpers import assert_clean_error, cli_env, run_cli, run_main

SENTENCES = [f"Предложение номер {i} о том, как устроена модель синтеза речи." for i in range(1, 15)]
# Over 400 characters: cut into pieces (the first paragraph into two); a blank line makes a paragraph.
BOOK = " ".join(SENTENCES[:8]) + "\n\n" + " ".join(SENTENCES[8:])
COMMON = ["--greedy", "--max-frames", "3", "--no-normalize", "--language", "russian"]


def read_exactly(proc, n: int, timeout: float = 120) -> bytes:
    """n bytes of the process's stdout, or fewer if the time runs out (a failure, not a hang)."""
    data, fd = b"", proc.stdout.fileno()
    while len(data) < n:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            break
        chunk = os.read(fd, n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_a_sentence_from_a_pipe_is_spoken_before_the_next_arrives(model_dir):
    """Live input: all of the first sentence's audio arrives while the producer still holds the
    second (5 frames: chunks of 1, 2, then the last 2 when the sentence ends)."""
    cmd = [sys.executable, "-m", "qwentts_cli", "synth", "-", "--model", str(model_dir), "--greedy", "--max-frames", "5",
           "--no-normalize", "--language", "russian", "--stream", "--pcm", "f32le"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    try:
        proc.stdin.write("Первое предложение. ".encode())  # complete: a sentence end and a space
        proc.stdin.flush()
        assert len(read_exactly(proc, 5 * 1920 * 4)) == 5 * 1920 * 4
        proc.stdin.write("Второе предложение, без точки".encode())  # left open: the close ends it
        proc.stdin.close()
        rest = read_exactly(proc, 10 * 1920 * 4, timeout=60)
        proc.wait(timeout=60)
        err = proc.stderr.read()
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    assert len(rest) == 5 * 1920 * 4  # the second sentence, spoken once stdin closed


def test_an_idle_pipe_is_flushed(model_dir):
    # No sentence end: what came is spoken once the input has been idle for --flush-ms.
    cmd = [sys.executable, "-m", "qwentts_cli", "synth", "-", "--model", str(model_dir), *COMMON,
           "--stream", "--pcm", "f32le", "--flush-ms", "200"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    try:
        proc.stdin.write("Думаю".encode())
        proc.stdin.flush()
        assert len(read_exactly(proc, 3 * 1920 * 4)) == 3 * 1920 * 4  # spoken although the pipe is still open
        proc.stdin.close()
        read_exactly(proc, 1 << 20, timeout=60)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0


def cues_on_stderr(stderr: bytes) -> list[dict]:
    return [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]


@pytest.mark.parametrize("stream", [False, True])
def test_subtitle_cues_are_the_pieces_sample_offsets_with_exact_pauses(model_dir, tmp_path, stream):
    out = tmp_path / "book.wav"
    codes = tmp_path / "codes.npy"
    args = ["synth", BOOK, "--model", str(model_dir), *COMMON, "--subtype", "float", "--sentence-pause", "125",
            "--paragraph-pause", "500", "--subtitles", "-", "--dump-codes", str(codes), "-o", str(out)]
    run = run_main(*args, *(["--stream"] if stream else []))
    assert run.returncode == 0, run.stderr.decode()
    cues = cues_on_stderr(run.stderr)
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 24000 and len(cues) >= 3
    frames = len(np.load(codes))
    assert sum(c["end_sample"] - c["start_sample"] for c in cues) == frames * 1920  # every frame in a cue
    assert cues[0]["start_sample"] == 0 and cues[-1]["end_sample"] == len(audio)
    gaps = [b["start_sample"] - a["end_sample"] for a, b in zip(cues, cues[1:])]
    assert sorted(set(gaps)) == [125 * 24, 500 * 24]  # exact sample counts; one paragraph break
    assert gaps.count(500 * 24) == 1
    for a, b in zip(cues, cues[1:]):  # the pauses are silence, and the pieces are not
        assert not audio[a["end_sample"] : b["start_sample"]].any()
        assert np.abs(audio[b["start_sample"] : b["start_sample"] + 1920]).max() > 0
    for c in cues:
        assert c["start"] == round(c["start_sample"] / 24000, 6) and c["text"]


def test_subtitle_files_and_resampling(model_dir, tmp_path):
    srt, vtt = tmp_path / "book.srt", tmp_path / "book.vtt"
    base = ["synth", BOOK, "--model", str(model_dir), *COMMON, "--sentence-pause", "250", "--sample-rate", "16000"]
    one = run_main(*base, "--subtitles", str(srt), "-o", str(tmp_path / "a.wav"))
    two = run_main(*base, "--subtitles", "-", "--stream", "-o", str(tmp_path / "b.wav"))
    assert one.returncode == 0 and two.returncode == 0, one.stderr.decode() + two.stderr.decode()
    cues = cues_on_stderr(two.stderr)
    blocks = srt.read_text(encoding="utf-8").strip().split("\n\n")
    assert len(blocks) == len(cues)
    for block, cue in zip(blocks, cues):
        number, timing, text = block.split("\n", 2)
        start, end = re.fullmatch(r"(\S+) --> (\S+)", timing).groups()
        assert (int(number), text) == (cue["index"], cue["text"])
        assert start == _clock(cue["start"], ",") and end == _clock(cue["end"], ",")
    info = sf.info(tmp_path / "b.wav")
    assert info.samplerate == 16000 and abs(cues[-1]["end_sample"] - info.frames) <= 1  # in output samples
    assert run_main(*base, "--subtitles", str(vtt), "-o", str(tmp_path / "c.wav")).returncode == 0
    assert vtt.read_text(encoding="utf-8").startswith("WEBVTT\n\n00:00:00.000 --> ")


def _clock(seconds: float, separator: str) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{separator}{ms % 1000:03d}"


def test_start_at_resumes_with_the_same_seeds(model_dir, tmp_path):
    args = ["synth", BOOK, "--model", str(model_dir), "--max-frames", "3", "--no-normalize", "--language", "russian",
            "--seed", "5"]
    assert run_main(*args, "--dump-codes", str(tmp_path / "a.npy"), "-o", str(tmp_path / "a.wav")).returncode == 0
    assert run_main(*args, "--start-at", "2", "--dump-codes", str(tmp_path / "b.npy"),
                    "-o", str(tmp_path / "b.wav")).returncode == 0
    whole, resumed = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    np.testing.assert_array_equal(resumed, whole[3:])  # piece 2 on, sampled as in the whole run


def test_json_cues_follow_the_trim(model_dir, tmp_path):
    run = run_main("synth", BOOK, "--model", str(model_dir), *COMMON, "--sentence-pause", "200", "--trim-silence",
                   "--subtitles", "-", "-o", str(tmp_path / "t.wav"))
    assert run.returncode == 0, run.stderr.decode()
    cues = cues_on_stderr(run.stderr)
    frames = sf.info(tmp_path / "t.wav").frames
    assert all(0 <= c["start_sample"] <= c["end_sample"] <= frames for c in cues)


def test_start_at_resumes_at_a_piece(model_dir, tmp_path):
    whole = run_main("synth", BOOK, "--model", str(model_dir), *COMMON, "--subtitles", "-", "-o", str(tmp_path / "a.wav"))
    later = run_main("synth", BOOK, "--model", str(model_dir), *COMMON, "--subtitles", "-", "--start-at", "2",
                     "-o", str(tmp_path / "b.wav"))
    first, resumed = cues_on_stderr(whole.stderr), cues_on_stderr(later.stderr)
    assert [c["text"] for c in resumed] == [c["text"] for c in first[1:]]
    assert [c["index"] for c in resumed] == [c["index"] for c in first[1:]]  # numbered as in the whole run
    assert_clean_error(run_main("synth", BOOK, "--model", str(model_dir), *COMMON, "--start-at", "99",
                                "-o", str(tmp_path / "c.wav")), "--start-at")


def test_bad_subtitle_options(model_dir, tmp_path):
    assert_clean_error(run_main("synth", "Привет.", "--model", str(model_dir), "--subtitles", str(tmp_path / "x.txt"),
                                "-o", str(tmp_path / "o.wav")), ".srt")
    assert_clean_error(run_main("synth", "Привет.", "--model", str(model_dir), "--subtitles", str(tmp_path / "o.wav"),
                                "-o", str(tmp_path / "o.wav")), "--subtitles")
    assert list(tmp_path.iterdir()) == []


def test_the_guard_stops_a_piece_that_never_ends(synthesizer):
    """The random fixture never says EOS: with no cap but the guard, a piece stops at its allowance."""
    from qwentts_cli.errors import QwenTTSWarning
    from qwentts_cli.generate.guard import GUARD_BASE_FRAMES
    from qwentts_cli.generate.prompt import text_token_count

    text = "Привет, мир!"
    tokens = text_token_count(len(synthesizer.prompt_ids(text)))
    with pytest.warns(QwenTTSWarning, match="piece 1 ran on"):
        result = synthesizer.synthesize(text, language="russian", sampling=synthesizer.greedy(), max_frames=400,
                                        max_frames_per_token=4)
    assert len(result.codes) == GUARD_BASE_FRAMES + 4 * tokens
    # The next piece goes on: two pieces, both stopped, one warning each.
    with pytest.warns(QwenTTSWarning) as record:
        both = synthesizer.synthesize([text, text], language="russian", sampling=synthesizer.greedy(),
                                      max_frames=400, max_frames_per_token=4)
    assert [str(w.message).split(" ran on")[0] for w in record] == ["piece 1", "piece 2"]
    assert len(both.codes) == 2 * (GUARD_BASE_FRAMES + 4 * tokens)


def test_the_guard_sees_a_loop_and_not_speech():
    import torch

    from qwentts_cli.generate.guard import LOOP_FRAMES, RunOnGuard

    guard = RunOnGuard(text_tokens=100, per_token=6)
    pattern = [torch.tensor([5, 7] + [0] * 14), torch.tensor([9, 1] + [0] * 14)]
    reasons = [guard.check(pattern[i % 2]) for i in range(LOOP_FRAMES)]
    assert reasons[:-1] == [None] * (LOOP_FRAMES - 1) and "2-frame pattern" in reasons[-1]
    speech = RunOnGuard(text_tokens=100, per_token=6)
    g = torch.Generator().manual_seed(0)
    assert all(speech.check(torch.randint(0, 2048, (16,), generator=g)) is None for _ in range(300))


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_the_guard_cuts_no_golden_case(synthesizer, name):
    case = load_case(name)
    result = synthesizer.synthesize(case["text"], max_frames_per_token=6, **golden_request(case, synthesizer.greedy))
    np.testing.assert_array_equal(result.codes, np.array(case["codes"]))


def test_synth_batch_sizes_write_the_same_file(model_dir, tmp_path):
    """A text of several sentences: --batch 1 (one after another) and --batch 3 write the same WAV,
    the same codes and the same subtitles, seeded or greedy."""
    text = tmp_path / "book.txt"
    text.write_text(" ".join(load_case(n)["text"] for n in GOLDEN_CASES * 6), encoding="utf-8")  # 3+ pieces
    for extra in (["--seed", "3"], ["--greedy"]):
        outputs = []
        for size in ("1", "3"):
            out, codes, srt = tmp_path / f"o{size}.wav", tmp_path / f"c{size}.npy", tmp_path / f"s{size}.srt"
            run = run_main("synth", "-f", str(text), "--model", str(model_dir), "--max-frames", "7", "--batch", size,
                           "-o", str(out), "--dump-codes", str(codes), "--subtitles", str(srt), *extra)
            assert run.returncode == 0, run.stderr.decode()
            outputs.append((out.read_bytes(), codes.read_bytes(), srt.read_bytes()))
        assert outputs[0] == outputs[1]
        assert outputs[0][2].count(b" --> ") >= 3  # several pieces, each a cue


def test_synth_batch_refusals(model_dir, tmp_path):
    run = run_main("synth", "Hi.", "--model", str(model_dir), "--batch", "0", "-o", str(tmp_path / "o.wav"))
    assert_clean_error(run, "--batch must be at least 1, not 0")
    run = run_cli("synth", "--stream", "--model", str(model_dir), "--batch", "2", stdin=b"Hello.\n")
    assert_clean_error(run, "live input is spoken as it comes")


def test_a_long_file_is_written_a_segment_at_a_time(model_dir, tmp_path, monkeypatch):
    """Without --stream the file is the official one-shot decode of all the codes, laid out with the
    pauses (then trimmed and resampled), but written a codec segment at a time: no write holds
    more than one segment's audio."""
    import soundfile
    import soxr
    import torch

    from qwentts_cli.audio import trim_silence
    from qwentts_cli.model.codec import Segmentation
    from qwentts_cli.runtime import Synthesizer

    load = Synthesizer.load.__func__
    synths = []

    def small_segments(cls, *args, **kwargs):  # 12-frame segments: this short book spans several
        synth = load(cls, *args, **kwargs)
        synth.codec.segmentation = Segmentation(frames=12, context=3)
        synths.append(synth)
        return synth

    monkeypatch.setattr(Synthesizer, "load", classmethod(small_segments))
    real_write, writes = soundfile.SoundFile.write, []

    def spy(self, data):
        writes.append(len(data))
        return real_write(self, data)

    monkeypatch.setattr(soundfile.SoundFile, "write", spy)
    codes = tmp_path / "codes.npy"
    args = ["synth", BOOK, "--model", str(model_dir), "--greedy", "--max-frames", "16", "--no-normalize",
            "--language", "russian", "--subtype", "float", "--paragraph-pause", "500"]
    run = run_main(*args, "--subtitles", "-", "--dump-codes", str(codes), "-o", str(tmp_path / "a.wav"))
    assert run.returncode == 0, run.stderr.decode()
    frames = np.load(codes)
    assert len(frames) > 3 * 12 and len(writes) > 3 and max(writes) <= 12 * 1920
    # The same audio made whole, in memory: one decode, the pause spliced in where the cues show it.
    whole = synths[0].codec.decode(torch.from_numpy(frames)).numpy()
    cues = cues_on_stderr(run.stderr)
    gaps = [b["start_sample"] - a["end_sample"] for a, b in zip(cues, cues[1:])]
    split = cues[gaps.index(500 * 24)]["end_sample"]
    laid_out = np.concatenate((whole[:split], np.zeros(500 * 24, dtype=np.float32), whole[split:]))
    assert np.array_equal(sf.read(tmp_path / "a.wav", dtype="float32")[0], laid_out)

    writes.clear()
    run = run_main(*args, "--trim-silence", "--sample-rate", "16000", "-o", str(tmp_path / "b.wav"))
    assert run.returncode == 0, run.stderr.decode()
    assert len(writes) > 3 and max(writes) <= 12 * 1920
    expected = soxr.resample(trim_silence(laid_out, 24000), 24000, 16000, quality="HQ")
    got, rate = sf.read(tmp_path / "b.wav", dtype="float32")
    assert rate == 16000 and len(got) == len(expected)
    assert np.abs(got - expected).max() < 1e-6  # soxr in blocks; measured equal, the bound is for other CPUs


def test_the_progress_bar_follows_the_decode_of_a_file():
    # A book's decode, after all its frames, takes minutes: the bar counts its seconds of audio.
    from qwentts_cli.cli.progress import Progress

    bar = Progress(True, 2)
    try:
        bar.update(0, 5)
        bar.update(2, 0)
        task = bar.bar.tasks[0]
        assert (task.description, task.completed, task.total) == ("speaking piece", 2, 2)
        bar.decoding(3.2, 12.6)
        bar.decoding(7.9, 12.6)
        assert (task.description, task.completed, task.total) == ("decoding audio s", 8, 13)
    finally:
        bar.close()


@pytest.mark.parametrize("batch", ["1", "4"])
def test_the_guard_names_pieces_as_numbered_after_start_at(model_dir, tmp_path, batch):
    # The fixture never says EOS: every piece runs on. Resumed at piece 3, the warnings say 3..7,
    # the numbers --verbose and the progress show, not the call's own 1..5.
    paragraphs = [f"Абзац номер {w}, в котором есть несколько слов для проверки работы."
                  for w in ("один", "два", "три", "четыре", "пять", "шесть", "семь")]
    run = run_main("synth", "\n\n".join(paragraphs), "--model", str(model_dir), "--greedy", "--no-normalize",
                   "--language", "russian", "--max-frames-per-token", "1", "--paragraph-pause", "10",
                   "--start-at", "3", "--batch", batch, "-o", str(tmp_path / "out.wav"))
    assert run.returncode == 0, run.stderr.decode()
    numbers = re.findall(r"^warning: piece (\d+) ran on", run.stderr.decode(), re.MULTILINE)
    assert numbers == ["3", "4", "5", "6", "7"]
