"""Pieces of text to speak, from a whole text or from a stream read as it arrives (no torch).

A `Piece` is what one model call speaks, and whether a paragraph ends after it (a blank
line in the input). A whole text is cut by `segment.split_text`: a short text stays one piece,
exactly as the official package speaks it. A live stream (`synth - --stream` under an LLM)
cannot wait for its end: each sentence leaves as soon as the segmenter sees it end, or once the
input has been idle for `flush_s` (a producer that pauses mid-thought), and the rest leaves when
the input closes. Bytes are decoded as UTF-8 incrementally; a bad byte is an error that names
its offset, as for the whole text.
"""

from __future__ import annotations

import codecs
import os
import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from qwentts_cli.text.segment import MAX_CHARS, split_text

# A sentence end inside the buffer: . ! ? … (and closing quotes/brackets), then whitespace.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…。！？])|(?<=[.!?…。！？][\"»”’)\]]))\s+")
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
DEFAULT_FLUSH_S = 0.3
READ_BYTES = 65536


class NotUTF8(ValueError):
    """Input bytes that are not UTF-8; `offset` is the first bad byte's."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset


@dataclass(frozen=True)
class Piece:
    text: str
    paragraph_before: bool = False  # a blank line comes before it in the input (not for the first piece)


def pieces_of_text(text: str, by_paragraph: bool = False) -> Iterator[Piece]:
    """The pieces of a whole text: segment.split_text's (a text of up to MAX_CHARS is one piece, as
    the official package speaks it). `by_paragraph` (for paragraph pauses) cuts a longer text at
    its blank lines first, so that no piece spans one."""
    if not by_paragraph or len(text.strip()) <= MAX_CHARS:
        yield from (Piece(p) for p in split_text(text))
        return
    paragraphs = [p for p in _PARAGRAPH.split(text) if p.strip()]
    for i, paragraph in enumerate(paragraphs):
        for k, part in enumerate(split_text(paragraph)):
            yield Piece(part, paragraph_before=i > 0 and k == 0)


def spoken_pieces(text: str, normalize: bool, language: str, by_paragraph: bool = False) -> list[Piece]:
    """The pieces the model speaks, one by one: the text normalized (unless asked not to), cut by
    `pieces_of_text`, and the pieces with nothing to say (only punctuation or symbols: "...", an
    emoji) left out. Empty when nothing is left; the caller words that error."""
    from qwentts_cli.text.segment import speakable

    if normalize:
        from qwentts_cli.text.normalize import normalize as normalize_text

        text = normalize_text(text, lang=language)
    return [piece for piece in pieces_of_text(text, by_paragraph) if speakable(piece.text)]


def pieces_of_stream(stream: BinaryIO, flush_s: float = DEFAULT_FLUSH_S) -> Iterator[Piece]:
    """Pieces as the text arrives on `stream` (a pipe, a file), read on a thread so that an idle
    input can be flushed. Raises NotUTF8 at a bad byte."""
    chunks: queue.Queue[bytes | None | BaseException] = queue.Queue()

    def read() -> None:
        # What is there (one read of the pipe), not a full buffer: a line leaves when written. On a
        # real file descriptor os.read, which takes no lock of the file object: a daemon thread
        # blocked inside a buffered read would abort the interpreter at exit.
        try:
            fd = stream.fileno()
            reader = lambda n: os.read(fd, n)  # noqa: E731
        except (AttributeError, OSError, ValueError):
            reader = getattr(stream, "read1", stream.read)
        try:
            while True:
                data = reader(READ_BYTES)
                chunks.put(data if data else None)
                if not data:
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            chunks.put(e)

    threading.Thread(target=read, name="qwentts-text-feed", daemon=True).start()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    segmenter = _Segmenter()
    buffer, offset, done = "", 0, False
    while not done:
        try:
            item = chunks.get(timeout=flush_s if buffer.strip() else None)
        except queue.Empty:
            item = b""  # idle: flush what there is
            idle = True
        else:
            idle = False
        if isinstance(item, BaseException):
            raise item
        if item is None:
            done = True
            item = b""
        try:
            buffer += decoder.decode(item, final=done)
        except UnicodeDecodeError as e:
            raise NotUTF8(offset + e.start) from None
        offset += len(item)
        ready, buffer = segmenter.complete(buffer, flush=done or idle)
        yield from ready


class _Segmenter:
    """Cuts a growing buffer into pieces, remembering the whitespace since the last piece (which can
    arrive a line at a time) to tell whether a blank line came before the next one."""

    def __init__(self) -> None:
        self.gap = ""
        self.first = True

    def complete(self, buffer: str, flush: bool) -> tuple[list[Piece], str]:
        """The pieces complete in `buffer`, and what is left of it (everything, when `flush`)."""
        out: list[Piece] = []
        while True:
            ends = [m for m in (_PARAGRAPH.search(buffer), _SENTENCE_END.search(buffer)) if m is not None]
            if not ends:
                break
            first = min(ends, key=lambda m: m.start())
            head, separator, buffer = buffer[: first.start()], buffer[first.start() : first.end()], buffer[first.end() :]
            out.extend(self._pieces(head))
            self.gap += separator
        if not buffer.strip():
            self.gap += buffer  # whitespace alone so far: part of the gap before the next piece
            buffer = ""
        elif flush:
            out.extend(self._pieces(buffer))
            buffer = ""
        return out, buffer

    def _pieces(self, text: str) -> list[Piece]:
        """One complete sentence (or flushed text) as pieces of at most MAX_CHARS."""
        lead = text[: len(text) - len(text.lstrip())]
        parts = split_text(text, MAX_CHARS)
        if not parts:
            self.gap += text
            return []
        before = not self.first and bool(re.search(r"\n[ \t]*\n", self.gap + lead))
        self.gap, self.first = "", False
        return [Piece(p, paragraph_before=before and i == 0) for i, p in enumerate(parts)]
