"""`qwentts normalize` and `qwentts tokenize` as commands: stdout data, stderr errors, filters, no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from test_cli_synth import REPO, assert_clean_error, run_cli


def test_normalize_argument():
    proc = run_cli("normalize", "100 рублей", "--lang", "ru")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode() == "сто рублей\n"
    assert proc.stderr == b""


def test_normalize_filters_stdin_line_by_line():
    text = "У меня 2 кошки.\n\nI have 3 cats.\r\nПросто текст\nlast 7"
    proc = run_cli("normalize", "--lang", "auto", stdin=text.encode())
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
    proc = run_cli("normalize", "-", "--lang", "en", stdin=b"5\n")
    assert proc.stdout.decode() == "five\n"


def test_normalize_stdin_streams_before_eof():
    # A filter answers each line before the input ends: feed one line, read one line back.
    env_path = str(REPO / "src")
    proc = subprocess.Popen(
        [sys.executable, "-m", "qwentts_cli", "normalize", "--lang", "en"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"PYTHONPATH": env_path},
    )
    try:
        proc.stdin.write(b"1\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"one\n"
        proc.stdin.write(b"2\n")
        proc.stdin.close()
        assert proc.stdout.read() == b"two\n"
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()


def test_normalize_bad_utf8_names_the_byte_offset():
    proc = run_cli("normalize", "--lang", "ru", stdin="абв\n".encode() + b"x\xffy\n")
    # The good first line was already written (a filter); the error names the offset in bytes.
    assert proc.returncode == 2
    assert proc.stdout.decode() == "абв\n"
    err = proc.stderr.decode().strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "offset 8" in err and "UTF-8" in err


@pytest.mark.parametrize("lang", ["de", "", "rus"])
def test_normalize_unknown_lang(lang):
    proc = run_cli("normalize", "5", "--lang", lang)
    assert_clean_error(proc, "--lang", "ru, en, auto")


def test_normalize_file(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("2 км", encoding="utf-8")
    proc = run_cli("normalize", "-f", str(path), "--lang", "ru")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().startswith("два")


def test_tokenize_prints_ids_on_one_line():
    from qwentts_cli.text.tokenizer import load_tokenizer

    proc = run_cli("tokenize", "Привет, мир")
    assert proc.returncode == 0, proc.stderr.decode()
    ids = [int(x) for x in proc.stdout.decode().split()]
    assert ids == load_tokenizer(None).encode("Привет, мир")
    assert load_tokenizer(None).decode(ids) == "Привет, мир"


def test_tokenize_chat_json_shows_the_prompt():
    proc = run_cli("tokenize", "Hello", "--chat", "--json")
    data = json.loads(proc.stdout)
    assert data["tokens"][:3] == ["<|im_start|>", "assistant", "\n"]
    assert data["tokens"][3] == "Hello"
    assert data["ids"][0] == 151644 and data["count"] == len(data["ids"]) == 9


def test_tokenize_tokens_lists_one_per_line():
    proc = run_cli("tokenize", "Hello world", "--tokens")
    rows = [line.split("\t") for line in proc.stdout.decode().splitlines()]
    assert [row[1] for row in rows] == ["'Hello'", "' world'"]
    assert rows[1][2] == "Ġworld"


def test_tokenize_stdin_drops_the_trailing_newline():
    piped = run_cli("tokenize", stdin=b"Hello\n")
    assert piped.stdout == run_cli("tokenize", "Hello").stdout


def test_tokenize_with_model_uses_its_tokenizer(model_dir):
    proc = run_cli("tokenize", "Привет", "--model", str(model_dir))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == run_cli("tokenize", "Привет").stdout


def test_tokenize_bad_model_dir(tmp_path):
    assert_clean_error(run_cli("tokenize", "x", "--model", str(tmp_path / "nope")), "nope")


def test_tokenize_empty_text():
    assert_clean_error(run_cli("tokenize", stdin=b"\n"), "empty")


@pytest.mark.parametrize(
    "args",
    [["--help"], ["normalize", "в 2024 году 5 кг", "--lang", "ru"], ["tokenize", "Привет"], ["normalize", "--help"]],
)
def test_text_commands_do_not_import_torch(args):
    # Run the CLI in-process in a fresh interpreter and look at what got imported.
    code = (
        "import sys; from qwentts_cli.cli import app\n"
        f"try:\n    app({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env={"PYTHONPATH": str(REPO / "src")}, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip().splitlines()[-1] == "HEAVY="


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
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert_clean_error(proc, needle)


@pytest.mark.parametrize("command, example", [("normalize", "qwentts normalize"), ("tokenize", "qwentts tokenize"),
                                              ("synth", "qwentts synth"), ("bench", "qwentts bench")])
def test_every_command_help_has_examples(command, example):
    proc = run_cli(command, "--help", env={"COLUMNS": "120"})
    assert proc.returncode == 0
    out = proc.stdout.decode()
    assert "Examples" in out and example in out
