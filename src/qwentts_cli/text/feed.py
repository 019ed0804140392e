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
    paragraph_end: bool = False  # a blank line follows it in the input


def pieces_of_text(text: str) -> Iterator[Piece]:
    """The pieces of a whole text. Up to MAX_CHARS it is one piece (as the official package speaks
    it); a longer one is cut into paragraphs, then each by segment.split_text, so that no piece
    spans a paragraph break."""
    if len(text.strip()) <= MAX_CHARS:
        yield from (Piece(p) for p in split_text(text))
        return
    paragraphs = [p for p in _PARAGRAPH.split(text) if p.strip()]
    for i, paragraph in enumerate(paragraphs):
        parts = split_text(paragraph)
        for k, part in enumerate(parts):
            yield Piece(part, paragraph_end=k == len(parts) - 1 and i + 1 < len(paragraphs))


def pieces_of_stream(stream: BinaryIO, flush_s: float = DEFAULT_FLUSH_S) -> Iterator[Piece]:
    """Pieces as the text arrives on `stream` (a pipe, a file), read on a thread so that an idle
    input can be flushed. Raises NotUTF8 at a bad byte."""
    chunks: queue.Queue[bytes | None | BaseException] = queue.Queue()

    def read() -> None:
        # read1: what is there (one read of the pipe), not a full buffer: a line leaves when written.
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
        ready, buffer = _complete(buffer, flush=done or idle)
        yield from ready


def _complete(buffer: str, flush: bool) -> tuple[list[Piece], str]:
    """The pieces complete in `buffer`, and what is left of it (everything, when `flush`)."""
    out: list[Piece] = []
    while True:
        paragraph = _PARAGRAPH.search(buffer)
        sentence = _SENTENCE_END.search(buffer)
        ends = [m for m in (paragraph, sentence) if m is not None]
        if not ends:
            break
        first = min(ends, key=lambda m: m.start())
        head, buffer = buffer[: first.start()], buffer[first.end() :]
        out.extend(_pieces(head, paragraph_end=first is paragraph))
    if flush and buffer.strip():
        out.extend(_pieces(buffer, paragraph_end=False))
        buffer = ""
    return out, buffer


def _pieces(text: str, paragraph_end: bool) -> list[Piece]:
    """One complete sentence (or flushed text) as pieces of at most MAX_CHARS."""
    parts = split_text(text, MAX_CHARS)
    return [Piece(p, paragraph_end=paragraph_end and i == len(parts) - 1) for i, p in enumerate(parts)]
