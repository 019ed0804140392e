"""Russian number phrases: decimals, fractions, quantities with their noun, regnal and century ordinals."""

from __future__ import annotations

from functools import lru_cache

from qwentts_cli.text.normalize.ru_grammar import PREPOSITION_CASES, Analysis, analyse_noun, candidate_cases
from qwentts_cli.text.normalize.ru_numbers import NOUNS, cardinal, ordinal, plural_category

# "целая" behaves as a feminine adjective after the whole part: одна целая, две целых, о трёх целых.
_WHOLE_SG = dict(zip("ngdaip", "целая целой целой целую целой целой".split()))
_WHOLE_PL = dict(zip("ngdaip", "целых целых целым целых целыми целых".split()))


def _gender_for_num2words(gender: str) -> str:
    return gender if gender in ("m", "f", "n") else "m"


def number(whole: int, frac: str | None, case: str = "n", gender: str = "m") -> str:
    """An integer or a decimal ('3', '5' -> три целых пять десятых) in `case`."""
    if frac is None:
        return cardinal(whole, case, _gender_for_num2words(gender))
    sign = "минус " if whole < 0 else ""
    whole = abs(whole)
    whole_word = (_WHOLE_SG if plural_category(whole) == "one" else _WHOLE_PL)[case]
    return f"{sign}{cardinal(whole, case, 'f')} {whole_word} {fraction(int(frac), 10 ** len(frac), case)}"


@lru_cache(maxsize=2048)
def fraction(numerator: int, denominator: int, case: str = "n") -> str:
    """'одна вторая', 'три четвёртых', 'пяти десятых' (genitive)."""
    head = cardinal(numerator, case, "f")
    if plural_category(numerator) == "one":
        tail = ordinal(denominator, case, "f")
    elif case in "na":
        tail = ordinal(denominator, "g", "f", plural=True)
    else:
        tail = ordinal(denominator, case, "f", plural=True)
    return f"{head} {tail}"


def category_of(whole: int, frac: str | None) -> str:
    return "other" if frac is not None else plural_category(abs(whole))


def quantity(whole: int, frac: str | None, noun_key: str, case: str) -> str:
    """A number with its unit noun agreeing: (5, None, 'километр', 'n') -> 'пять километров'."""
    noun = NOUNS[noun_key]
    return f"{number(whole, frac, case, noun.gender)} {noun.after(category_of(whole, frac), case)}"


def case_for_known_noun(preposition: str | None) -> str:
    """Case after a preposition when we write the noun ourselves, so nothing in the text can decide:
    the preposition's first case, with в/на read as the accusative ('на 5 км')."""
    if preposition is None or preposition not in PREPOSITION_CASES:
        return "n"
    return candidate_cases(preposition)[0]


# ----------------------------------------------------------------------------------------------
# Ordinals whose form is shown by a suffix (1-й, 2-го) or by the noun after them.

_SUFFIX_FORMS: dict[str, str] = {
    "й": "nmS amS gfS dfS ifS pfS", "я": "nfS", "е": "nnS anS pmS pnS n*P a*P", "ю": "afS",
    "го": "gmS gnS", "му": "dmS dnS", "м": "pmS pnS imS inS d*P", "х": "g*P p*P", "ми": "i*P",
}
_LONG_SUFFIX = {"ый": "й", "ий": "й", "ой": "й", "ая": "я", "яя": "я", "ое": "е", "ее": "е", "ые": "е",
                "ие": "е", "ую": "ю", "юю": "ю", "ого": "го", "его": "го", "ому": "му", "ему": "му",
                "ым": "м", "им": "м", "ых": "х", "их": "х", "ыми": "ми", "ими": "ми"}


def suffix_forms(suffix: str) -> list[Analysis]:
    key = _LONG_SUFFIX.get(suffix, suffix)
    return [Analysis(t[0], t[1], t[2] == "P") for t in _SUFFIX_FORMS[key].split()]


def _compatible(a: Analysis, b: Analysis) -> bool:
    return a.case == b.case and a.plural == b.plural and (a.gender == b.gender or "*" in (a.gender, b.gender))


def choose_form(options: list[Analysis], preposition: str | None, noun: str | None) -> Analysis:
    """The option that agrees with the noun and the preposition; failing both, the noun; then the first."""
    cases = candidate_cases(preposition) if preposition else None
    noun_forms = analyse_noun(noun) if noun else ()
    fits_prep = [o for o in options if cases is None or o.case in cases]
    for pool in (fits_prep, options):
        for o in pool:
            if any(_compatible(o, nf) for nf in noun_forms):
                return _concrete(o, noun_forms)
    return _concrete((fits_prep or options)[0], ())


def _concrete(option: Analysis, noun_forms) -> Analysis:
    if option.gender != "*":
        return option
    for nf in noun_forms:
        if nf.case == option.case and nf.plural == option.plural and nf.gender != "*":
            return option._replace(gender=nf.gender)
    return option._replace(gender="m")


def ordinal_words(n: int, form: Analysis) -> str:
    return ordinal(n, form.case, _gender_for_num2words(form.gender), plural=form.plural)


# The same options for any adjective agreeing with a noun: a noun's possible forms become the
# ordinal's, with the gender taken from `gender` where the ending does not show it.
def noun_forms_as_options(noun: str, gender: str) -> list[Analysis]:
    return [a if a.gender != "*" else a._replace(gender=gender) for a in analyse_noun(noun)] or [
        Analysis("n", gender, False)]
