"""Where the commands get their text: an argument, `-`/piped stdin, or --file; always strict UTF-8."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Optional

from qwentts_cli.errors import UsageError


def _not_utf8(what: str, offset: int) -> UsageError:
    return UsageError(f"{what} is not UTF-8 text (bad byte at offset {offset}); convert it to UTF-8 (e.g. iconv -t UTF-8)")


def open_file(file: Path) -> BinaryIO:
    """--file opened for reading, or the UsageError that says why it cannot be."""
    try:
        return open(file, "rb")
    except FileNotFoundError:
        raise UsageError(f"--file {file}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"--file {file} is a folder; give a text file") from None
    except OSError as e:
        raise UsageError(f"--file {file}: {e.strerror}") from None


def read_text(text: Optional[str], file: Optional[Path]) -> str:
    """The whole text: the argument, `-` or no argument with piped stdin, or --file (`--file -`: stdin)."""
    if file is not None and str(file) == "-":
        if text is not None:
            raise UsageError("give the text either as an argument or with --file, not both")
        file, text = None, "-"
    if file is not None:
        if text is not None:
            raise UsageError("give the text either as an argument or with --file, not both")
        with open_file(file) as f:
            try:
                data = f.read()
            except OSError as e:
                raise UsageError(f"--file {file}: {e.strerror}") from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _not_utf8(f"--file {file}", e.start) from None
    if text is None or text == "-":
        _require_piped_stdin(text)
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _not_utf8("stdin", e.start) from None
    return checked_argument(text)


def checked_argument(text: str) -> str:
    """An argument as given, refused (as stdin would be) when its bytes were not UTF-8: Python hands
    those over as lone surrogates, which would reach the model as U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        offset = len(text[: e.start].encode("utf-8", "surrogateescape"))
        raise _not_utf8("the text argument", offset) from None
    return text


def stdin_lines(text: Optional[str]) -> Iterator[tuple[str, str]]:
    """(line, line ending) pairs from stdin as they arrive, so a command can work as a line filter."""
    _require_piped_stdin(text)
    offset = 0
    for raw in iter(sys.stdin.buffer.readline, b""):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _not_utf8("stdin", offset + e.start) from None
        offset += len(raw)
        body = line.rstrip("\r\n")
        yield body, line[len(body) :]


def _require_piped_stdin(text: Optional[str]) -> None:
    # `-` asks for stdin explicitly; with no argument at all, a terminal means the user forgot the text.
    if text is None and sys.stdin.isatty():
        raise UsageError("no text given; pass TEXT, --file FILE, or pipe text on stdin")
