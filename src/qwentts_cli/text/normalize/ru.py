"""Russian normalizer: numbers, dates, times, money, units, phones, addresses and abbreviations as spoken words."""

from __future__ import annotations

import re

from qwentts_cli.text.normalize import ru_abbreviations
from qwentts_cli.text.normalize.common import (
    address_speller,
    phone_reader,
    ends_sentence,
    loose_digits_reader,
    alternation,
    EMAIL_RE, GROUP_SEP, LOCAL_PHONE_RE, MINUS, PHONE_RE, RANGE_DASH, ROMAN_RE, SPACES, URL_RE, Rule, apply_rules, int_pattern,
    next_words, parse_int, prev_word, roman_to_int, split_decimal,
)
from qwentts_cli.text.normalize.ru_grammar import Analysis, agree, pick_noun
from qwentts_cli.text.normalize.ru_numbers import NOUNS, cardinal, digits, month_names, ordinal
from qwentts_cli.text.normalize.ru_units import (
    AMBIGUOUS_UNITS, CURRENCY_AFTER, CURRENCY_BEFORE, MULTIPLIERS, SUBUNIT, SUBUNIT_ABBR, UNITS,
)
from qwentts_cli.text.normalize.ru_words import (
    case_for_known_noun, choose_form, fraction, noun_forms_as_options, number, ordinal_words, quantity, suffix_forms,
)

INT = int_pattern(GROUP_SEP)
NUM = rf"(?:{INT})(?:[,.]\d+)?"  # Russian writes 3,5; a 3.5 copied from elsewhere reads the same
SP = f"[{SPACES}]"
B = r"(?<![\w.,\d])"  # a number starts here: not inside a word or another number
E = r"(?![\w]|[.,]\d)"  # ... and ends here


def _num(s: str) -> tuple[int, str | None]:
    s = s.replace(".", ",")
    return split_decimal(s, ",")


def _prep(m: re.Match, group: int | str = 0) -> str | None:
    return prev_word(m.string, m.start(group))


def _noun_after(m: re.Match) -> str | None:
    return pick_noun(next_words(m.string, m.end(), 3))


# ----------------------------------------------------------------------------------------------
# Addresses and phones: read before anything else takes their digits.

_ADDRESS_WORDS = {".": "точка", "@": "собака", "/": "слэш", ":": "двоеточие", "-": "дефис", "_": "нижнее подчёркивание",
                  "?": "вопросительный знак", "=": "равно", "&": "амперсанд", "#": "решётка", "+": "плюс", "%": "процент",
                  "~": "тильда"}


_address = address_speller(_ADDRESS_WORDS, digits)


# Russians read a phone number in the groups it is written in, each group as a number
# (a group with a leading zero digit by digit).
_phone = phone_reader("плюс", lambda g: digits(g) if g.startswith("0") and len(g) > 1 else cardinal(int(g)))


# ----------------------------------------------------------------------------------------------
# Dates and times.

_MONTHS_GEN, _ = month_names()
_MONTH_RE = "|".join(_MONTHS_GEN)
_YEAR_WORD = NOUNS["год"]


def _day_case(preposition: str | None) -> str:
    # "до 12 мая" (genitive), "к 5 июня" (dative), "на 5 мая" (accusative = nominative for neuter)
    return case_for_known_noun(preposition)


def _date_words(day: int, month: int, year: int | str | None, case: str) -> str:
    """A year of two digits is read as written ('86 -> восемьдесят шестого, 06 -> ноль шестого):
    the century is the writer's to say, and the reader says the digits they see."""
    words = f"{ordinal(day, case, 'n')} {_MONTHS_GEN[month - 1]}"
    if year is not None:
        zero = "ноль " if isinstance(year, str) and len(year) == 2 and year[0] == "0" else ""
        words += f" {zero}{ordinal(int(year), 'g')} года"
    return words


def _numeric_date(m: re.Match) -> str | None:
    day, month, year = int(m.group("d")), int(m.group("m")), m.group("y")
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return None
    return _date_words(day, month, int(year) if year else None, _day_case(_prep(m)))


def _short_date(m: re.Match) -> str | None:  # 01.02.03, 1/2/1990, 01-01-86: day, month, year
    day, month = int(m.group("d")), int(m.group("m"))
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return None
    return _date_words(day, month, m.group("y"), _day_case(_prep(m)))


_MONTH_ABBR = {"янв": 1, "фев": 2, "мар": 3, "апр": 4, "мая": 5, "май": 5, "июн": 6, "июл": 7, "авг": 8, "сен": 9,
               "окт": 10, "ноя": 11, "дек": 12}


def _abbreviated_month_date(m: re.Match) -> str | None:  # 03-фев-2002
    day, month = int(m.group("d")), _MONTH_ABBR[m.group("m").lower()[:3]]
    if not 1 <= day <= 31:
        return None
    return _date_words(day, month, m.group("y"), _day_case(_prep(m)))


def _written_date(m: re.Match) -> str:
    day = int(m.group("d"))
    month = _MONTHS_GEN.index(m.group("m").lower()) + 1
    year = m.group("y")
    return _date_words(day, month, int(year) if year else None, _day_case(_prep(m)))


def _time(m: re.Match) -> str | None:
    """13:05 -> тринадцать часов пять минут; 8:00 -> восемь часов; до 15:30 -> до пятнадцати часов
    тридцати минут: the words agree with the numbers and take the preposition's case."""
    h, mi, s = int(m.group("h")), int(m.group("m")), m.group("s")
    if h > 24 or mi > 59 or (s is not None and int(s) > 59):
        return None
    case = case_for_known_noun(_prep(m))
    parts = [quantity(h, None, "час", case)]
    if mi or (s is not None and int(s)):
        parts.append(quantity(mi, None, "минута", case))
    if s is not None and int(s):
        parts.append(quantity(int(s), None, "секунда", case))
    return " ".join(parts)


# ----------------------------------------------------------------------------------------------
# Years, centuries and ordinals.

_YEAR_FORMS = {"год": "n", "года": "g", "году": "p", "годом": "i", "годе": "p",
               "годы": "nP", "годов": "gP", "годам": "dP", "годами": "iP", "годах": "pP"}


_LOCATIVE = {("p", False, p) for p in ("в", "во", "на", None)}


def _year_form(word: str, preposition: str | None) -> tuple[str, bool]:
    """Case and number of the year noun: 'году' after к is dative; 'г.' takes the preposition's case."""
    if word in ("г.", "гг."):
        if preposition in ("в", "во", "на", "о", "об", "при"):
            case = "p"
        else:
            case = case_for_known_noun(preposition)
        return case, word == "гг."
    form = _YEAR_FORMS[word]
    case = form[0]
    if word == "году" and preposition in ("к", "ко", "по"):
        case = "d"
    return case, form.endswith("P")


# Forms that follow a year and hardly ever a count: "в 988 году", but "2 года" is a duration.
_YEAR_ONLY_FORMS = frozenset({"году", "годе", "г.", "гг."})


def _year(m: re.Match) -> str | None:
    if parse_int(m.group("y")) < 1000 and m.group("w").lower() not in _YEAR_ONLY_FORMS:
        return None  # "мне 2 года", "1 год": a count, read by the cardinal rule
    case, plural = _year_form(m.group("w").lower(), _prep(m))
    words = ordinal(parse_int(m.group("y")), case)
    if m.group("y2"):
        words += " — " + ordinal(parse_int(m.group("y2")), case)
    noun = m.group("w")
    if noun.endswith("."):
        # "в 1999 г." is "в ... году": the locative, which the paradigm's prepositional (о годе) is not
        noun = "году" if (case, plural, _prep(m)) in _LOCATIVE else _YEAR_WORD.form(case, plural)
    return f"{words} {noun}"


# A year with no "году" after it: "это было в 2020." -> в две тысячи двадцатом. Only where the
# sentence or clause ends after it (or "не", a conjunction or a pronoun follows), so that
# "в 2000 раз" stays a count.
# (Not after до/с/около/после: "от 1500 до 2000." is an amount more often than a year.)
_BARE_YEAR_CASES = {"в": "p", "во": "p", "о": "p", "об": "p", "к": "d"}
# Words that end the year's phrase as punctuation does: a conjunction ("в 2005 и в 1990") or a
# pronoun beginning the clause ("в 1990 он переехал"); but "в 2000 и более раз" is a count.
_YEAR_ENDS_BEFORE = "и|или|а|но|я|ты|он|она|оно|мы|вы|они"
_COUNT_GOES_ON = "более|менее|больше|меньше|свыше"


def _bare_year(m: re.Match) -> str | None:
    preposition = m.group("p").lower()
    year = parse_int(m.group("y"))
    if not 1000 <= year <= 2100:
        return None
    return f"{m.group('p')} {ordinal(year, _BARE_YEAR_CASES[preposition])}"


# A price or amount per unit: "100 руб./кг" -> сто рублей за килограмм, "1/кг" -> один на килограмм.
_PER_UNIT_ACC = {"кг": "килограмм", "г": "грамм", "л": "литр", "м": "метр", "м²": "квадратный метр",
                 "м2": "квадратный метр", "м³": "кубический метр", "м3": "кубический метр",
                 "км": "километр", "ч": "час", "час": "час", "шт": "штуку", "шт.": "штуку", "сут.": "сутки",
                 "мес.": "месяц", "год": "год", "чел.": "человека", "ночь": "ночь", "сутки": "сутки"}


def _per_unit(m: re.Match) -> str | None:
    unit_before = m.group("before").split()[-1].lstrip("0123456789")
    if f"{unit_before}/{m.group('u')}" in UNITS:
        return None  # км/ч, м/с: one unit, read by the quantity rule
    word = "за" if m.group("money") else "на"
    return f"{m.group('before')} {word} {_PER_UNIT_ACC[m.group('u')]}"


_CENTURY_ABBR = {"в.": False, "вв.": True}


def _century(m: re.Match) -> str | None:
    """'XXI век', 'в XIX веке', '19 в.', 'XIX–XX вв.': an ordinal agreeing with век."""
    first, second = _value(m.group("a")), _value(m.group("b")) if m.group("b") else None
    if first is None or (m.group("b") and second is None):
        return None
    noun = m.group("w")
    prep = _prep(m)
    if noun in _CENTURY_ABBR:
        case = "p" if prep in ("в", "во", "на", "о", "об", "при") else case_for_known_noun(prep)
        form = Analysis(case, "m", False)
        noun = NOUNS["век"].form(case, _CENTURY_ABBR[noun])
    else:
        form = choose_form(noun_forms_as_options(noun, "m"), prep, None)
        form = form._replace(plural=False)
    words = ordinal_words(first, form)
    if second is not None:
        words += " — " + ordinal_words(second, form)
    return f"{words} {noun}"


def _value(s: str) -> int | None:
    return int(s) if s.isdigit() else roman_to_int(s)


# A cardinal with its case ending after a hyphen: у 4-х студентов -> у четырёх, около 5-ти -> около
# пяти, с 2-мя -> с двумя. Which numbers take which ending (others, like 10-х, are ordinals).
_CARDINAL_ENDINGS = {"х": ("g", lambda n: 2 <= n <= 4), "ех": ("g", lambda n: n in (3, 4)),
                     "ёх": ("g", lambda n: n in (3, 4)), "ти": ("g", lambda n: n >= 5 and n % 10 in (0, 5, 6, 9)),
                     "ми": ("g", lambda n: n % 10 in (7, 8) and n < 100), "мя": ("i", lambda n: n in (2, 3)),
                     "ью": ("i", lambda n: n >= 5 and n % 10 in (0, 5, 6, 9))}


def _cardinal_ending(m: re.Match) -> str | None:
    n, ending = parse_int(m.group("n")), m.group("e").lower()
    case, fits = _CARDINAL_ENDINGS[ending]
    return cardinal(n, case) if fits(n) else None


# In a compound word the number is its genitive, written together (трёхлетний, двадцатипятилетие),
# except these parts: одно- (однолетний), девяносто-, сто- (столетний, стодвадцатилетний), тысяче-.
_COMPOUND_PARTS = {"одного": "одно", "девяноста": "девяносто", "ста": "сто", "тысячи": "тысяче"}


def _compound(m: re.Match) -> str:  # 3-летний -> трёхлетний, 5-процентный -> пятипроцентный
    words = cardinal(parse_int(m.group("n")), "g").split()
    return "".join(_COMPOUND_PARTS.get(w, w) for w in words) + m.group("w")


def _dotted_thousands(m: re.Match) -> str:  # 2.300 -> 2 300 (thin space): the rules after read it as a number
    return m.group(0).replace(".", "\u2009")


def _suffixed_ordinal(m: re.Match) -> str:
    n = parse_int(m.group("n"))
    options = suffix_forms(m.group("suf").lower())
    if n >= 1000 and n % 10 == 0:  # "в 1990-е", "1980-х": decades are plural
        options = sorted(options, key=lambda o: not o.plural)
    return ordinal_words(n, choose_form(options, _prep(m), _noun_after(m)))


# Nouns that take an ordinal after them: "глава IV" -> глава четвёртая; the stem gives the gender.
_NUMBERED_NOUNS = {"глав": "f", "том": "m", "част": "f", "раздел": "m", "книг": "f", "акт": "m", "сезон": "m",
                   "квартал": "m", "класс": "m", "категори": "f", "групп": "f", "степен": "f", "уровн": "m",
                   "уровень": "m", "этап": "m", "тур": "m", "съезд": "m", "созыв": "m", "тысячелети": "n"}
_NUMBERED_RE = "|".join(_NUMBERED_NOUNS)
_NUMBERED_LEMMAS = frozenset("глава том часть раздел книга акт сезон квартал класс категория группа степень уровень "
                             "этап тур съезд созыв тысячелетие".split())

# Rulers: male names whose oblique forms drop a vowel or add one; other names are read by ending.
_MALE_NAMES = frozenset("пётр петр иван николай александр павел алексей василий фёдор федор борис владимир михаил "
                        "дмитрий карл людовик генрих георг эдуард ричард вильгельм фридрих лев ярослав андрей "
                        "константин юрий иоанн григорий бенедикт франциск яков филипп олег игорь святослав "
                        "всеволод мстислав изяслав лжедмитрий иннокентий пий лев".split())
_MALE_OBLIQUE = {"а": "g", "я": "g", "у": "d", "ю": "d", "ом": "i", "ем": "i", "ём": "i", "е": "p"}
_FLEETING = {"петр": "пётр", "павл": "павел", "льв": "лев"}


_FEMALE_NAMES = frozenset("екатерина елизавета анна мария изабелла виктория александра софья евдокия".split())
_FEMALE_OBLIQUE = {"ы": "g", "и": "g", "е": "p", "у": "a", "ю": "a", "ой": "i", "ей": "i"}


def _ruler_form(name: str) -> Analysis | None:
    """The case and gender a known ruler's name shows ('Петра' -> genitive masculine); None for other words,
    so that 'Вариант I' stays as written."""
    low = name.lower()
    if low in _MALE_NAMES:
        return Analysis("n", "m", False)
    if low in _FEMALE_NAMES:
        return Analysis("n", "f", False)
    for ending, case in sorted(_MALE_OBLIQUE.items(), key=lambda kv: -len(kv[0])):
        stem = low[: -len(ending)]
        if low.endswith(ending) and (stem in _MALE_NAMES or stem + "й" in _MALE_NAMES or _FLEETING.get(stem) in _MALE_NAMES):
            return Analysis(case, "m", False)
    for ending, case in sorted(_FEMALE_OBLIQUE.items(), key=lambda kv: -len(kv[0])):
        stem = low[: -len(ending)]
        if low.endswith(ending) and (stem + "а" in _FEMALE_NAMES or stem + "я" in _FEMALE_NAMES):
            return Analysis(case, "f", False)
    return None


def _roman_after_noun(m: re.Match) -> str | None:
    value = roman_to_int(m.group("r"))
    if value is None:
        return None
    noun = m.group("w")
    stem = next(s for s in _NUMBERED_NOUNS if noun.lower().startswith(s))
    gender = _NUMBERED_NOUNS[stem]
    if noun.lower() in _NUMBERED_LEMMAS:  # 'том' is nominative, not an instrumental ending in -ом
        form = Analysis("n", gender, False)
    else:
        form = choose_form(noun_forms_as_options(noun, gender), _prep(m, "w"), None)
    return f"{noun} {ordinal_words(value, form)}"


def _roman_after_name(m: re.Match) -> str | None:
    value = roman_to_int(m.group("r"))
    form = _ruler_form(m.group("name"))
    if value is None or value > 40 or form is None:
        return None
    word = ordinal_words(value, form)
    return f"{m.group('name')} {word[:1].upper()}{word[1:]}"


# ----------------------------------------------------------------------------------------------
# Money, units and plain numbers.

_UNIT_RE = alternation(list(UNITS) + list(CURRENCY_AFTER) + list(SUBUNIT_ABBR))
_MULT_RE = alternation(MULTIPLIERS)
_UNIT_NOUNS = {**UNITS, **CURRENCY_AFTER, **SUBUNIT_ABBR}


def _money_or_unit(m: re.Match) -> str | None:
    unit = m.group("u")
    if unit in AMBIGUOUS_UNITS and re.match(rf"{SP}*[а-яё]", m.string[m.end():]):
        return None  # "5 с половиной", "в 5 В классе": not a unit
    spoken = _say_quantity(m, _UNIT_NOUNS[unit])
    # "... 760 мм рт. ст." at the end of a sentence: the abbreviation's dot is also the full stop.
    return spoken + "." if unit.endswith(".") and ends_sentence(m.string, m.end()) else spoken


def _money_before(m: re.Match) -> str:
    return _say_quantity(m, CURRENCY_BEFORE[m.group("cur")])


def _say_quantity(m: re.Match, noun_key: str) -> str:
    """'[5–]10 [млн] км' with agreement; '5,50 $' as dollars and cents."""
    case = case_for_known_noun(_prep(m))
    whole, frac = _num(m.group("n"))
    if m.group("neg"):
        whole = -whole
    start = ""
    if m.groupdict().get("n0"):
        w0, f0 = _num(m.group("n0"))
        start = number(w0, f0, case, NOUNS[noun_key].gender if not m.group("mult") else "m") + " — "
    mult = m.group("mult")
    if mult:
        mult_key = MULTIPLIERS[mult][0]
        return f"{start}{quantity(whole, frac, mult_key, case)} {NOUNS[noun_key].form('g', True)}"
    sub = SUBUNIT.get(noun_key)
    if sub and frac is not None and len(frac) == 2:
        cents = quantity(int(frac), None, sub, case) if int(frac) else ""
        return f"{start}{quantity(whole, None, noun_key, case)} {cents}".rstrip()
    return start + quantity(whole, frac, noun_key, case)


def _multiplied(m: re.Match) -> str:
    """'3 тыс. человек' -> три тысячи человек: the multiplier is the counted noun."""
    whole, frac = _num(m.group("n"))
    return quantity(whole, frac, MULTIPLIERS[m.group("mult")][0], case_for_known_noun(_prep(m)))


def _fraction(m: re.Match) -> str | None:
    num, den = int(m.group("a")), int(m.group("b"))
    if not (0 < num < den <= 100):
        return None
    return fraction(num, den, case_for_known_noun(_prep(m)))


def _agreeing_number(s: str, m: re.Match, noun: str | None, negative: bool = False) -> str:
    whole, frac = _num(s)
    if negative:
        whole = -whole
    if frac is not None:
        case = agree(2, _prep(m), None).case  # a decimal takes the genitive singular noun whatever the case
        return number(whole, frac, case)
    a = agree(abs(whole), _prep(m), noun)
    return number(whole, None, a.case, a.gender)


def _range(m: re.Match) -> str:
    noun = _noun_after(m)
    return f"{_agreeing_number(m.group('a'), m, noun)} — {_agreeing_number(m.group('b'), m, noun)}"


def _cardinal(m: re.Match) -> str:
    return _agreeing_number(m.group("n"), m, _noun_after(m), negative=bool(m.group("neg")))


_loose_digits = loose_digits_reader(cardinal, digits)


NEG = rf"(?P<neg>(?<![\w\d]){MINUS}(?=\d))?"
QUANTITY = rf"{B}(?:(?P<n0>{NUM}){SP}?{RANGE_DASH}{SP}?)?{NEG}(?P<n>{NUM})"

RULES = [
    Rule("email", EMAIL_RE, _address),
    Rule("url", URL_RE, _address),
    Rule("phone", PHONE_RE, _phone),
    Rule("local phone", LOCAL_PHONE_RE, _phone),
    # Latin identifiers with digits or underscores (file names, codes) read sign by sign, before
    # the number rules would take their digits apart (a-1.b3_c is no "a-один.b три_c").
    Rule("latin token", re.compile(r"(?<![\w.@/-])(?=[\w.-]*[A-Za-z])(?=[\w.-]*(?:\d|_))"
                                   r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+){2,}(?![\w@/-]|\.\w)|"
                                   r"(?<![\w.@/-])[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_.-]*[A-Za-z0-9](?![\w@/-])"),
         _address, needs=re.compile("[A-Za-z]")),  # sign by sign, as an address
    Rule("numeric date", re.compile(rf"{B}(?P<d>\d{{1,2}})\.(?P<m>\d{{1,2}})\.(?P<y>\d{{4}})(?:{SP}?г\.|{E})"),
         _numeric_date),
    Rule("iso date", re.compile(rf"{B}(?P<y>\d{{4}})-(?P<m>\d{{2}})-(?P<d>\d{{2}}){E}"), _numeric_date),
    Rule("short date", re.compile(
        rf"{B}(?P<d>\d{{1,2}})(?P<sep>[./])(?P<m>\d{{1,2}})(?P=sep)(?P<y>\d{{4}}|\d{{2}})(?:{SP}?г\.|{E})"),
         _short_date),
    Rule("dashed date", re.compile(rf"{B}(?P<d>\d{{2}})-(?P<m>\d{{2}})-(?P<y>\d{{4}}|\d{{2}}){E}"), _short_date),
    Rule("abbreviated month date", re.compile(
        rf"{B}(?P<d>\d{{1,2}})-(?P<m>янв|фев|мар|апр|мая|май|июн|июл|авг|сент|сен|окт|нояб|ноя|дек)\.?-"
        rf"(?P<y>\d{{4}}|\d{{2}}){E}", re.IGNORECASE), _abbreviated_month_date),
    Rule("written date", re.compile(
        rf"{B}(?P<d>\d{{1,2}}){SP}(?P<m>{_MONTH_RE})(?:{SP}(?P<y>\d{{1,4}})(?:{SP}?(?:г\.|года)(?!\w))?)?(?!\w)",
        re.IGNORECASE), _written_date),
    Rule("time", re.compile(rf"{B}(?P<h>\d{{1,2}}):(?P<m>\d{{2}})(?::(?P<s>\d{{2}}))?{E}"), _time),
    Rule("year", re.compile(
        rf"{B}(?P<y>\d{{1,4}})(?:{SP}?{RANGE_DASH}{SP}?(?P<y2>\d{{1,4}}))?{SP}?"
        rf"(?P<w>годами|годах|годам|годов|годом|годе|году|года|годы|год|гг\.|г\.)(?!\w)"), _year),
    Rule("bare year", re.compile(
        rf"(?<![\w])(?P<p>[Вв]о?|[Оо]б?|[Кк]){SP}(?P<y>\d{{4}})"
        rf"(?={SP}*(?:[.,;:!?)…]|$)|{SP}(?:не|{_YEAR_ENDS_BEFORE})(?!\w)(?!{SP}(?:{_COUNT_GOES_ON})(?!\w)))"),
        _bare_year),
    Rule("century", re.compile(
        rf"(?<![\w.,])(?P<a>{ROMAN_RE}|\d{{1,2}})(?:{SP}?{RANGE_DASH}{SP}?(?P<b>{ROMAN_RE}|\d{{1,2}}))?{SP}"
        r"(?P<w>век[а-я]*|столети[а-я]+|тысячелети[а-я]+|вв\.|в\.)(?!\w)"), _century),
    Rule("roman after noun", re.compile(
        rf"(?<!\w)(?P<w>(?:{_NUMBERED_RE})[а-я]*){SP}(?P<r>{ROMAN_RE})(?!\w)", re.IGNORECASE), _roman_after_noun),
    Rule("roman after name", re.compile(rf"(?<!\w)(?P<name>[А-ЯЁ][а-яё]+){SP}(?P<r>[IVXL]+)(?![\w])"),
         _roman_after_name),
    # A number joined to a word of four letters or more by a hyphen is the first part of a
    # compound (3-летний, 10-кратный, 2-комнатная); shorter endings are cases and ordinals (below).
    Rule("compound", re.compile(r"(?<![\w.,])(?P<n>[1-9]\d{0,2}|1000)[-\u2010\u2011](?P<w>[а-яё]{4,})(?![\w-])"),
         _compound, needs=re.compile("[-\u2010\u2011]")),
    Rule("cardinal ending", re.compile(r"(?<![\w.,])(?P<n>\d{1,3})-(?P<e>х|ех|ёх|ти|ми|мя|ью)(?![\w])",
                                       re.IGNORECASE), _cardinal_ending),
    Rule("suffixed ordinal", re.compile(
        rf"{B}(?P<n>\d+){RANGE_DASH}(?P<suf>ыми|ими|ого|его|ому|ему|ый|ий|ой|ая|яя|ое|ее|ые|ие|ую|юю|ым|им|ых|их|"
        r"го|му|ми|й|я|е|ю|м|х)(?!\w)"), _suffixed_ordinal),
    Rule("per unit", re.compile(
        rf"(?P<before>{B}\d+(?:{SP}?(?:кг|г|л|м|км|мг|мл))?|(?P<money>руб\.|коп\.|₽|\$|€|долл\.))"
        rf"/(?P<u>{'|'.join(map(re.escape, _PER_UNIT_ACC))})"
        r"(?![\w])"), _per_unit, needs=re.compile("/")),
    # A dot between groups of three digits is a thousands separator in Russian text (its
    # decimal mark is a comma): 2.300 человек -> две тысячи триста человек.
    Rule("dotted thousands", re.compile(rf"{B}\d{{1,3}}(?:\.\d{{3}})+(?![\w]|[.,]\d)"), _dotted_thousands),
    Rule("money before", re.compile(
        rf"(?<![\w])(?P<cur>[$€£¥₽₹]){SP}?{NEG}(?P<n>{NUM})(?:{SP}?(?P<mult>{_MULT_RE}))?(?![\w])"),
         _money_before),
    Rule("quantity", re.compile(
        rf"{QUANTITY}(?:{SP}?(?P<mult>{_MULT_RE}))?{SP}?(?P<u>{_UNIT_RE})(?![\w])"), _money_or_unit),
    Rule("multiplier", re.compile(rf"{B}(?P<n>{NUM}){SP}?(?P<mult>{_MULT_RE})(?![\w])"), _multiplied),
    *ru_abbreviations.RULES,
    Rule("fraction", re.compile(rf"{B}(?P<a>\d{{1,3}})/(?P<b>\d{{1,3}}){E}"), _fraction),
    Rule("range", re.compile(rf"{B}(?P<a>{NUM}){SP}?{RANGE_DASH}{SP}?(?P<b>{NUM}){E}"), _range),
    Rule("cardinal", re.compile(rf"{B}{NEG}(?P<n>{NUM}){E}"), _cardinal),
    # Units with a superscript are never words: "один м²", "цена за м²" -> квадратный метр.
    Rule("lone square unit", re.compile(r"(?<![\w\d])(?P<u>км²|м²|см²|мм²|км³|м³|см³)(?![\w\d])"),
         lambda m: UNITS[m.group("u")] if m.group("u") in UNITS else None, needs=re.compile("[²³]")),
    # The signs alone, not after a number (those are units above): "знак %" -> знак процент.
    Rule("lone sign", re.compile(r"(?<![\w\d%°$€£¥#@§])(?P<s>[%°$€£¥#@§])(?![\w\d])"),
         lambda m: _LONE_SIGNS[m.group("s")], needs=re.compile("[%°$€£¥#@§]")),
    Rule("dollar abbreviation", re.compile(r"(?<=доллар)(?P<e>а|ов|)\.(?=\s?США)"), lambda m: m.group("e"),
         needs=re.compile("США")),
    Rule("loose digits", re.compile(r"\d+"), _loose_digits),
]


_LONE_SIGNS = {"%": "процент", "°": "градус", "$": "доллар", "€": "евро", "£": "фунт", "¥": "иена", "#": "решётка",
               "@": "собака", "§": "параграф"}


def normalize_ru(text: str) -> str:
    """The spoken form of Russian `text`; text without numbers, symbols or abbreviations comes back as is."""
    return apply_rules(text, RULES)
