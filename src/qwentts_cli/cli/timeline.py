"""Where each piece's audio lies in the output: the pauses between pieces and the subtitle cues.

Positions are counted in 24 kHz samples of the model's audio, pauses included (exact sample
counts: 24 per millisecond), and mapped to the output's rate only when a cue is written, the
way the resampler maps the audio itself (its stream is time-aligned): a cue boundary is then
within a sample of the audio written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from qwentts_cli.config import SAMPLE_RATE

SUBTITLE_FORMATS = (".srt", ".vtt")


@dataclass
class Cue:
    index: int  # the piece's number, from 1 (or from --start-at)
    text: str
    start: int  # 24 kHz samples
    end: int


@dataclass
class Timeline:
    sentence_pause: int = 0  # samples of silence between pieces
    paragraph_pause: int = 0  # ... before a piece that starts a paragraph (instead of the sentence pause)
    cues: list[Cue] = field(default_factory=list)
    position: int = 0  # samples placed so far
    first: int = 1  # the number of piece 0 (after --start-at)

    def pause_before(self, paragraph_before: bool) -> int:
        return self.paragraph_pause if paragraph_before else self.sentence_pause

    def place(self, index: int, text: str, samples: int) -> Cue:
        """Piece `index` (from 0): its audio of `samples` samples at the current position."""
        cue = Cue(index + self.first, text, self.position, self.position + samples)
        self.cues.append(cue)
        self.position += samples
        return cue

    def place_span(self, index: int, text: str, start: int) -> Cue:
        """Piece `index` (from 0), whose audio ran from `start` to the current position."""
        cue = Cue(index + self.first, text, start, self.position)
        self.cues.append(cue)
        return cue

    def add_pause(self, samples: int) -> None:
        self.position += samples


def to_output(samples: int, rate: int, shift: int = 0, length: int | None = None) -> int:
    """A 24 kHz position in output samples: resampled, less `shift` (trimmed from the front), clamped."""
    out = round((samples - shift) * rate / SAMPLE_RATE) if rate != SAMPLE_RATE else samples - shift
    out = max(0, out)
    return out if length is None else min(out, length)


def _clock(seconds: float, separator: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def cue_dict(cue: Cue, rate: int, shift: int = 0, length: int | None = None) -> dict:
    """A cue in the output's samples and seconds: what `--subtitles -` prints and a batch manifest holds."""
    start, end = (to_output(x, rate, shift, length) for x in (cue.start, cue.end))
    return {"index": cue.index, "start": round(start / rate, 6), "end": round(end / rate, 6),
            "start_sample": start, "end_sample": end, "text": cue.text}


def cue_json(cue: Cue, rate: int, shift: int = 0, length: int | None = None) -> str:
    return json.dumps(cue_dict(cue, rate, shift, length), ensure_ascii=False)


def subtitles(cues: list[Cue], kind: str, rate: int, shift: int = 0, length: int | None = None) -> str:
    """SubRip (.srt) or WebVTT (.vtt) text of the cues."""
    blocks = ["WEBVTT\n"] if kind == ".vtt" else []
    separator = "." if kind == ".vtt" else ","
    number = 0
    for cue in cues:
        start, end = (to_output(x, rate, shift, length) for x in (cue.start, cue.end))
        if end <= start:
            continue  # trimmed away
        number += 1
        timing = f"{_clock(start / rate, separator)} --> {_clock(end / rate, separator)}"
        blocks.append(f"{number}\n{timing}\n{cue.text}\n" if kind == ".srt" else f"{timing}\n{cue.text}\n")
    return "\n".join(blocks)
