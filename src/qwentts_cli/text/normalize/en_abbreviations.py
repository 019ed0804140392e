"""English abbreviations written out: Dr., Mr., St., etc., e.g., No. 5."""

from __future__ import annotations

from qwentts_cli.text.normalize.common import abbreviation_rule

_BEFORE_NAME = r"(?=[ \u00a0]?[A-Z])"
_BEFORE_NUMBER = r"(?=[ \u00a0]?\d)"

RULES = [
    abbreviation_rule("e.g.", "for example"),
    abbreviation_rule("i.e.", "that is"),
    abbreviation_rule("etc.", "et cetera", may_end=True),
    abbreviation_rule("vs.", "versus"),
    abbreviation_rule("vs", "versus"),
    abbreviation_rule("approx.", "approximately"),
    abbreviation_rule("Mr.", "Mister"),
    abbreviation_rule("Mrs.", "Missus"),
    abbreviation_rule("Ms.", "Miz"),
    abbreviation_rule("Prof.", "Professor"),
    abbreviation_rule("Jr.", "Junior", may_end=True),
    abbreviation_rule("Sr.", "Senior", may_end=True),
    abbreviation_rule("Inc.", "Incorporated", may_end=True),
    abbreviation_rule("Ltd.", "Limited", may_end=True),
    abbreviation_rule("No.", "number", after=_BEFORE_NUMBER),
    abbreviation_rule("Nos.", "numbers", after=_BEFORE_NUMBER),
    abbreviation_rule("p.", "page", after=_BEFORE_NUMBER),
    abbreviation_rule("pp.", "pages", after=_BEFORE_NUMBER),
    abbreviation_rule("Fig.", "Figure", after=_BEFORE_NUMBER),
    abbreviation_rule("#", "number", after=_BEFORE_NUMBER),
    # Saint before a name ("St. Louis"), Street otherwise ("Baker St. is closed").
    abbreviation_rule("St.", "Saint", after=_BEFORE_NAME),
    abbreviation_rule("St.", "Street", may_end=True),
    abbreviation_rule("Dr.", "Doctor"),
    abbreviation_rule("Ave.", "Avenue", may_end=True),
    abbreviation_rule("Mt.", "Mount", after=_BEFORE_NAME),
]
