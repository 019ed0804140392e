"""Long text -> pieces that each fit one model call: sentences, and over-long sentences at clause breaks.

Texts up to `max_chars` stay whole, so a short request is one call exactly as the official
package makes it (and its codes match). Longer texts are cut at sentence ends, pieces are
packed up to `max_chars`, and a sentence longer than that is cut at , ; : dashes, then spaces.
"""

from __future__ import annotations

import re

MAX_CHARS = 400

# A sentence ends at . ! ? … (and their runs, closing quotes/brackets) followed by space, or at a blank line.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…。！？])|(?<=[.!?…。！？][\"»”’)\]]))\s+|\n\s*\n")
_CLAUSE_END = re.compile(r"(?<=[,;:，；：])\s+|\s+(?=[—–-]\s)")


def _pack(parts: list[str], max_chars: int, joiner: str = " ") -> list[str]:
    pieces: list[str] = []
    current = ""
    for part in parts:
        if current and len(current) + len(joiner) + len(part) > max_chars:
            pieces.append(current)
            current = part
        else:
            current = f"{current}{joiner}{part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def _split_long(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    clauses = [c for c in _CLAUSE_END.split(sentence) if c.strip()]
    out: list[str] = []
    for clause in clauses:
        if len(clause) <= max_chars:
            out.append(clause)
        else:  # no clause break: cut between words
            out.extend(_pack(clause.split(), max_chars))
    return _pack(out, max_chars)


def split_text(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Pieces of `text` (whitespace-trimmed, none empty); a text of at most `max_chars` is one piece."""
    text = text.strip()
    if not text:
        return []
    if len(text) <= max_chars:
        return [text]
    sentences = [" ".join(s.split()) for s in _SENTENCE_END.split(text) if s and s.strip()]
    pieces: list[str] = []
    for sentence in sentences:
        pieces.extend(_split_long(sentence, max_chars))
    return _pack(pieces, max_chars)


def speakable(text: str) -> bool:
    """Whether `text` has anything to say: a letter or a digit (not only punctuation, symbols, emoji)."""
    return any(ch.isalnum() for ch in text)
