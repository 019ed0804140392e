"""`qwentts normalize` and `qwentts tokenize`: the text front-end on its own, without torch.

Both print data only on stdout, so they compose with other tools:

    qwentts normalize --lang ru < book.txt > book.spoken.txt
    qwentts normalize "в 2024 году" --lang ru | qwentts tokenize --tokens
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from qwentts_cli.cli.input import read_text, stdin_lines
from qwentts_cli.errors import StdoutClosed, UsageError


def normalize_command(
    text: Optional[str] = typer.Argument(None, help="Text to normalize; `-` or nothing reads stdin line by line."),
    lang: str = typer.Option("auto", "--lang", "-l", help="ru, en, or auto (by script, per sentence)."),
    file: Optional[Path] = typer.Option(None, "-f", "--file", help="Normalize this UTF-8 file instead."),
) -> None:
    """Print the spoken form of TEXT: numbers, dates, money, units, abbreviations as words.

    With no TEXT (or `-`) it reads stdin and writes one line per input line, as it goes,
    so it works as a filter over a file. --lang auto picks Russian or English by script,
    per sentence.

    Examples:

      qwentts normalize "100 рублей" --lang ru

      qwentts normalize 'On May 5, 2024 it cost $5.50' --lang en

      qwentts normalize --lang ru < book.txt > book.spoken.txt
    """
    from qwentts_cli.text.normalize import LANGS, normalize, resolve_lang

    code = resolve_lang(lang)
    if code is None:
        raise UsageError(f"unknown --lang {lang!r}; use one of: {', '.join(LANGS)}")
    if file is not None or (text is not None and text != "-"):
        typer.echo(normalize(read_text(text, file), code))
        return
    out = sys.stdout
    try:
        for line, ending in stdin_lines(text):
            # Flush per line: a filter in a pipeline should not hold a book in its buffer.
            out.write(normalize(line, code) + ending)
            out.flush()
    except BrokenPipeError:
        raise StdoutClosed() from None


def tokenize_command(
    text: Optional[str] = typer.Argument(None, help="Text to tokenize; `-` or nothing reads stdin."),
    file: Optional[Path] = typer.Option(None, "-f", "--file", help="Tokenize this UTF-8 file instead."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Use this checkpoint's tokenizer (directory or HF repo id)."),
    chat: bool = typer.Option(False, "--chat", help="Wrap TEXT in the assistant prompt synth feeds the model."),
    tokens: bool = typer.Option(False, "--tokens", "-t", help="One token per line: id, then the token as text."),
    as_json: bool = typer.Option(False, "--json", help="Print {\"ids\": [...], \"tokens\": [...]} as JSON."),
) -> None:
    """Print the Qwen3-TTS text token ids of TEXT (or of stdin).

    The tokenizer is the one shipped with qwentts (the same files as every Qwen3-TTS
    checkpoint), or the one of --model. --chat shows the full prompt synth feeds the
    model; nothing is normalized (pipe through `qwentts normalize` for that).

    Examples:

      qwentts tokenize "Привет"

      qwentts tokenize "Привет" --tokens

      qwentts tokenize "Hello" --chat --json
    """
    from qwentts_cli.text.tokenizer import load_tokenizer

    if tokens and as_json:
        raise UsageError("--tokens and --json are two output formats; pick one")
    body = read_text(text, file)
    if text is None or text == "-" or file is not None:
        body = body.rstrip("\r\n")  # the newline `echo` adds is not part of the text
    if not body and not chat:
        raise UsageError("the text is empty; give some text to tokenize")
    model_dir = None
    if model is not None:
        from qwentts_cli.load.checkpoint import resolve_model_dir

        model_dir = resolve_model_dir(model)
    tokenizer = load_tokenizer(model_dir)
    ids = tokenizer.chat_prompt_ids(body) if chat else tokenizer.encode(body)
    if as_json:
        pieces = [tokenizer.decode([i]) for i in ids]
        typer.echo(json.dumps({"ids": ids, "tokens": pieces, "count": len(ids)}, ensure_ascii=False))
    elif tokens:
        # Decoded per token, so Cyrillic reads as text; a token holding part of a UTF-8
        # character shows the replacement character, and the byte-level form is given too.
        for token_id, raw in zip(ids, tokenizer.tokens(ids)):
            typer.echo(f"{token_id}\t{tokenizer.decode([token_id])!r}\t{raw}")
    else:
        typer.echo(" ".join(str(i) for i in ids))
