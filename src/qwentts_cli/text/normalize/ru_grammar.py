"""Russian agreement: the case and gender a number takes, from the preposition before it and the noun after it."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from qwentts_cli.text.normalize.ru_numbers import plural_category

# Cases a preposition may govern, the likelier first; the noun's ending picks among them.
# "по 5 рублей" is read as the distributive accusative (по пять), "по 3 улицам" as dative.
PREPOSITION_CASES: dict[str, str] = {
    **dict.fromkeys(
        "у от до около без для из изо после более менее свыше больше меньше кроме вокруг против среди "
        "порядка вместо возле вблизи мимо ради из-за из-под ниже выше вроде от-до".split(), "g"),
    **dict.fromkeys("к ко благодаря согласно навстречу".split(), "d"),
    **dict.fromkeys("про через сквозь спустя".split(), "a"),
    **dict.fromkeys("над надо перед передо между".split(), "i"),
    **dict.fromkeys("о об обо при".split(), "p"),
    "в": "ap", "во": "ap", "на": "ap", "с": "gi", "со": "gi", "за": "ai", "под": "ia", "по": "da",
}

# Words that sit between a number and its noun without being the noun: "от 5 до 10 лет".
FUNCTION_WORDS = frozenset("до и или либо по из на с в к а но же ли".split())

ADJECTIVE_ENDINGS = ("ыми", "ими", "ого", "его", "ому", "ему", "ых", "их", "ый", "ий", "ая", "яя",
                     "ое", "ее", "ые", "ие", "ую", "юю", "ым", "им")

# Feminine nouns in -ь and masculine nouns in -а/-я that endings alone would misread.
FEMININE_SOFT = frozenset(
    "ночь дверь вещь часть площадь область тетрадь лошадь мышь соль роль цель мысль жизнь смерть "
    "осень зима степень скорость мощность плотность глубина длина высота ширина кровать печь речь "
    "помощь новость должность единица ступень единиц".split())
MASCULINE_A = frozenset("мужчина мужчины папа папы дедушка дедушки юноша юноши дядя дяди судья судьи".split())


class Analysis(NamedTuple):
    case: str  # one of n g d a i p
    gender: str  # m f n, or '*' where the form does not show it
    plural: bool


def _a(spec: str) -> tuple[Analysis, ...]:
    """'gmP nfS' -> analyses: case, gender, S(ingular)/P(lural)."""
    return tuple(Analysis(t[0], t[1], t[2] == "P") for t in spec.split())


# Longest ending first. Each lists what a noun form with that ending can be.
_ENDINGS: tuple[tuple[str, tuple[Analysis, ...]], ...] = (
    ("ами", _a("i*P")), ("ями", _a("i*P")),
    ("ах", _a("p*P")), ("ях", _a("p*P")),
    ("ам", _a("d*P")), ("ям", _a("d*P")),
    ("ов", _a("g*P")), ("ев", _a("g*P")), ("ёв", _a("g*P")),
    ("ей", _a("g*P ifS")), ("ой", _a("ifS")), ("ёй", _a("ifS")),
    ("ом", _a("imS inS")), ("ем", _a("imS inS")), ("ём", _a("imS inS")),
    ("ью", _a("ifS")),
    ("мя", _a("nnS anS")),
    ("у", _a("dmS dnS afS")), ("ю", _a("dmS dnS afS")),
    # -а/-я is also the plural of neuter nouns (места, поля) and of some masculine ones (дома).
    ("а", _a("nfS gmS gnS n*P a*P")), ("я", _a("nfS gmS gnS n*P a*P")),
    ("ы", _a("gfS n*P a*P")), ("и", _a("gfS n*P a*P dfS pfS")),
    ("е", _a("p*S dfS nnS")),
    ("о", _a("nnS anS")), ("ё", _a("nnS anS")),
    ("ь", _a("nmS amS")),
)
_CONSONANT = _a("nmS amS g*P")


@lru_cache(maxsize=4096)
def analyse_noun(word: str) -> tuple[Analysis, ...]:
    """The forms a noun may be, by its ending: 'кошки' -> genitive singular feminine, nominative plural, ..."""
    w = word.lower()
    if w in FEMININE_SOFT:
        return _a("nfS afS")
    if w in MASCULINE_A:
        return _a("nmS gmS n*P")
    for ending, analyses in _ENDINGS:
        if w.endswith(ending):
            return analyses
    return _CONSONANT if w[-1:].isalpha() else ()


def looks_adjective(word: str) -> bool:
    return len(word) > 3 and word.lower().endswith(ADJECTIVE_ENDINGS)


def pick_noun(words: list[str]) -> str | None:
    """The noun among the words after a number: skip adjectives ('2 больших окна'); None at a function word."""
    for w in words[:3]:
        lw = w.lower()
        if lw in FUNCTION_WORDS or not any("\u0400" <= c <= "\u04ff" for c in lw):
            return None
        if not looks_adjective(lw):
            return lw
    return None


def expected_noun_form(category: str, case: str) -> tuple[str, bool]:
    """The (case, plural) a noun takes after a number of CLDR `category` in `case`: 2 кошки -> (g, False)."""
    if category == "other":
        return "g", False
    if case in "na":
        if category == "one":
            return case, False
        return ("g", False) if category == "few" else ("g", True)
    return case, category != "one"


class Agreement(NamedTuple):
    case: str
    gender: str


def candidate_cases(preposition: str | None) -> str:
    """Cases to try in order: the preposition's, or with none the nominative then the rest. Without a
    preposition the genitive is left out: a genitive plural noun ('5 книг') is what nominative 5 wants."""
    if preposition and preposition in PREPOSITION_CASES:
        return PREPOSITION_CASES[preposition]
    return "naidp"


def agree(n: int | float, preposition: str | None, noun: str | None) -> Agreement:
    """Case and gender for a number from the preposition before it and the noun after it.

    Every case the preposition allows is tried in turn; the first one under which the noun's
    ending is a form that may follow this number wins, and that form also tells the gender.
    With no noun the preposition's first case is used; with neither, nominative masculine.
    """
    cases = candidate_cases(preposition)
    if noun is None:
        return Agreement(cases[0], "m")
    category = plural_category(n)
    analyses = analyse_noun(noun)
    for case in cases:
        want_case, want_plural = expected_noun_form(category, case)
        for a in analyses:
            if a.case == want_case and a.plural == want_plural:
                return Agreement(case, _gender(a.gender, noun))
    return Agreement(cases[0], "m")


def _gender(gender: str, noun: str) -> str:
    if gender == "*":
        return "f" if noun.lower() in FEMININE_SOFT else "m"
    return gender


