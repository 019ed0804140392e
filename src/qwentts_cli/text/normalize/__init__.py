"""Text normalization: numbers, dates, money, units and abbreviations written out as spoken words.

    normalize("В 2024 году 5 кошек", lang="ru") -> "В две тысячи двадцать четвёртом году пять кошек"

The official qwen-tts package feeds raw text to the model, which then reads digits in the wrong
language or garbles long numbers. Pure Python (num2words, babel, re): importing this never
imports torch, so `qwentts normalize` starts instantly.
"""

from __future__ import annotations

import re

LANGS = ("ru", "en", "auto")

# synth passes its --language here: model language names map to the normalizer they need;
# a language without a normalizer (chinese, japanese, ...) leaves the text as it is.
_ALIASES = {"ru": "ru", "russian": "ru", "en": "en", "english": "en", "auto": "auto"}

# A sentence ends at . ! ? … (or a newline) followed by space; the split keeps the separators.
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])(\s+)|(\n+)")


def resolve_lang(lang: str | None) -> str | None:
    """'ru', 'en' or 'auto' for a normalizer language or a model language name; None: leave text alone."""
    if lang is None:
        return "auto"
    return _ALIASES.get(lang.strip().lower())


_WORD = re.compile(r"[^\W\d_]+")
_ROMAN = re.compile(r"[IVXLCDM]+")


def script_of(text: str) -> str | None:
    """'ru' when Cyrillic words outnumber Latin ones (ties too), 'en' for the reverse, None with neither.

    Words, not letters, and not Roman numerals or one-letter symbols: "XIX–XX вв." and
    "25 °C" are Russian or neutral, not English.
    """
    cyr = lat = 0
    for word in _WORD.findall(text):
        if len(word) < 2 or _ROMAN.fullmatch(word):
            continue
        if any("\u0400" <= c <= "\u04ff" for c in word):
            cyr += 1
        elif word.isascii():
            lat += 1
    if cyr == 0 and lat == 0:
        return None
    return "ru" if cyr >= lat else "en"


def normalize(text: str, lang: str | None = "auto") -> str:
    """The spoken form of `text`. `lang`: ru, en, auto (by script per sentence) or a model language name."""
    code = resolve_lang(lang)
    if code is None:
        return text
    if code != "auto":
        return _normalize_one(text, code)
    # By sentence, so that a Russian paragraph quoting an English sentence reads both right.
    # Neighbouring sentences of one script are normalized together (rules see across "г. " or
    # "Dr. "); a sentence with no letters ("2024.") joins the run it sits in.
    runs: list[tuple[str, list[str]]] = []
    for part in _SENTENCE_SPLIT.split(text):
        if not part:
            continue
        code_here = None if part.isspace() else script_of(part)
        if runs and (code_here is None or code_here == runs[-1][0]):
            runs[-1][1].append(part)  # a sentence without words follows the one before it
        else:
            runs.append((code_here or script_of(text) or "en", [part]))
    return "".join(_normalize_one("".join(parts), run_code) for run_code, parts in runs)


def _normalize_one(text: str, code: str) -> str:
    if code == "ru":
        from qwentts_cli.text.normalize.ru import normalize_ru

        return normalize_ru(text)
    from qwentts_cli.text.normalize.en import normalize_en

    return normalize_en(text)


def preload(lang: str | None = "auto") -> None:
    """Import (and so compile) the rules `normalize(..., lang)` will use, 25-60 ms each: a live
    stream does it before the text comes rather than when its first sentence is waiting."""
    code = resolve_lang(lang)
    for one in ("ru", "en") if code == "auto" else (() if code is None else (code,)):
        _normalize_one("1.", one)
