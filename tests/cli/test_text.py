"""`qwentts normalize` and `qwentts tokenize` as commands, in process: stdout data, stderr errors, filters.

(Their subprocess checks, a filter that answers before EOF and no torch import, are in test_process.py.)
"""

from __future__ import annotations

import json
import shutil

import pytest

from helpers import assert_clean_error, run_main


def test_normalize_argument():
    proc = run_main("normalize", "100 рублей", "--lang", "ru")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode() == "сто рублей\n"
    assert proc.stderr == b""


def test_normalize_filters_stdin_line_by_line():
    text = "У меня 2 кошки.\n\nI have 3 cats.\r\nПросто текст\nlast 7"
    proc = run_main("normalize", "--lang", "auto", stdin=text.encode())
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    lines = out.split("\n")
    assert len(lines) == len(text.split("\n"))  # one line out per line in, endings kept
    assert lines[0] == "У меня две кошки."
    assert lines[1] == ""
    assert lines[2] == "I have three cats.\r"
    assert lines[3] == "Просто текст"
    assert lines[4] == "last seven"  # no newline added where the input had none


def test_normalize_dash_reads_stdin():
    proc = run_main("normalize", "-", "--lang", "en", stdin=b"5\n")
    assert proc.stdout.decode() == "five\n"


def test_normalize_bad_utf8_names_the_byte_offset():
    proc = run_main("normalize", "--lang", "ru", stdin="абв\n".encode() + b"x\xffy\n")
    # The good first line was already written (a filter); the error names the offset in bytes.
    assert proc.returncode == 2
    assert proc.stdout.decode() == "абв\n"
    err = proc.stderr.decode().strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "offset 8" in err and "UTF-8" in err


@pytest.mark.parametrize("lang", ["de", "", "rus"])
def test_normalize_unknown_lang(lang):
    proc = run_main("normalize", "5", "--lang", lang)
    assert_clean_error(proc, "--lang", "ru, en, auto")


def test_normalize_file(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("2 км", encoding="utf-8")
    proc = run_main("normalize", "-f", str(path), "--lang", "ru")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().startswith("два")


def test_tokenize_prints_ids_on_one_line():
    from qwentts_cli.text.tokenizer import load_tokenizer

    proc = run_main("tokenize", "Привет, мир")
    assert proc.returncode == 0, proc.stderr.decode()
    ids = [int(x) for x in proc.stdout.decode().split()]
    assert ids == load_tokenizer(None).encode("Привет, мир")
    assert load_tokenizer(None).decode(ids) == "Привет, мир"


def test_tokenize_chat_json_shows_the_prompt():
    proc = run_main("tokenize", "Hello", "--chat", "--json")
    data = json.loads(proc.stdout)
    assert data["tokens"][:3] == ["<|im_start|>", "assistant", "\n"]
    assert data["tokens"][3] == "Hello"
    assert data["ids"][0] == 151644 and data["count"] == len(data["ids"]) == 9


def test_tokenize_tokens_lists_one_per_line():
    proc = run_main("tokenize", "Hello world", "--tokens")
    rows = [line.split("\t") for line in proc.stdout.decode().splitlines()]
    assert [row[1] for row in rows] == ["'Hello'", "' world'"]
    assert rows[1][2] == "Ġworld"


def test_tokenize_stdin_drops_the_trailing_newline():
    piped = run_main("tokenize", stdin=b"Hello\n")
    assert piped.stdout == run_main("tokenize", "Hello").stdout


def test_tokenize_with_model_uses_its_tokenizer(model_dir, tmp_path):
    # A checkpoint whose tokenizer lacks the merges after the first 1000: "Привет" splits into more
    # tokens with it than with the shipped one, so ignoring --model would show.
    model = tmp_path / "m"
    (model / "speech_tokenizer").mkdir(parents=True)
    for name in ("config.json", "speech_tokenizer/config.json", "vocab.json", "tokenizer_config.json"):
        shutil.copy(model_dir / name, model / name)
    merges = (model_dir / "merges.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    (model / "merges.txt").write_text("".join(merges[:1001]), encoding="utf-8")
    shipped = run_main("tokenize", "Привет")
    own = run_main("tokenize", "Привет", "--model", str(model))
    assert own.returncode == 0, own.stderr.decode()
    assert shipped.stdout == b"53645 26991 8178\n"
    assert len(own.stdout.split()) > 3
    assert run_main("tokenize", "Привет", "--model", str(model_dir)).stdout == shipped.stdout


def test_tokenize_bad_model_dir(tmp_path):
    assert_clean_error(run_main("tokenize", "x", "--model", str(tmp_path / "nope")), "nope")


def test_tokenize_empty_text():
    assert_clean_error(run_main("tokenize", stdin=b"\n"), "empty")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["synth", "--bogus"], "--bogus"),
        (["normalize", "5", "--lang"], "--lang"),
        (["synth", "x", "--max-frames", "0"], "--max-frames"),
        (["nosuch"], "nosuch"),
    ],
)
def test_bad_options_are_one_line(args, needle):
    proc = run_main(*args)
    assert proc.returncode == 2
    assert_clean_error(proc, needle)


@pytest.mark.parametrize("command, example", [("normalize", "qwentts normalize"), ("tokenize", "qwentts tokenize"),
                                              ("synth", "qwentts synth"), ("bench", "qwentts bench")])
def test_every_command_help_has_examples(command, example, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    proc = run_main(command, "--help")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    assert "Examples" in out and example in out
