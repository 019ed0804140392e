"""English normalizer: numbers, years, dates, times, money, units, phones, addresses and abbreviations as words."""

from __future__ import annotations

import re
from functools import lru_cache

from num2words import num2words

from qwentts_cli.text.normalize import en_abbreviations
from qwentts_cli.text.normalize.common import (
    address_speller,
    phone_reader,
    loose_digits_reader,
    alternation,
    EMAIL_RE, LOCAL_PHONE_RE, MINUS, PHONE_RE, RANGE_DASH, ROMAN_RE, SPACES, URL_RE, Rule, apply_rules, int_pattern, next_words,
    ends_sentence, needs, parse_int, prev_word, roman_to_int, split_decimal,
)
from qwentts_cli.text.normalize.en_units import (
    AMBIGUOUS_UNITS, CURRENCY_AFTER, CURRENCY_BEFORE, GLUED_MULTIPLIERS, MULTIPLIERS, PER_PERIOD, UNITS, Currency,
)

SP = f"[{SPACES}]"
INT = int_pattern(f"[,{SPACES[1:]}]")  # 1,000,000 or 1 000 000 with a thin or no-break space
NUM = rf"(?:{INT})(?:\.\d+)?"
B = r"(?<![\w.,\d])"
E = r"(?![\w]|[.,]\d)"
# Not after a unit sign either: the dash of 2%-10% is a range's.
NEG = rf"(?P<neg>(?<![\w\d%°]){MINUS}(?=\d))?"
MAX_WORDS = 10**21  # beyond the quintillions a number is read digit by digit
DIGIT_NAMES = "zero one two three four five six seven eight nine".split()

MONTHS = ("January February March April May June July August September October November December").split()
_MONTH_ABBR = {m[:3].lower(): i for i, m in enumerate(MONTHS)} | {"sept": 8}
# The same in lower case and capitals too (jan 3, AUG 14), spelled out: a case-sensitive pattern
# is tried much faster than an IGNORECASE one at every position of a long text.
_MONTH_ANY_CASE = "(?:" + "|".join(
    form for name in ("January February March April May June July August September October November December "
                      "Sept Jan Feb Mar Apr Jun Jul Aug Sep Oct Nov Dec").split()
    for form in dict.fromkeys((name, name.lower(), name.upper()))) + r")\.?"


# ----------------------------------------------------------------------------------------------
# Number words. American style: no "and" inside numbers (one hundred one, two thousand five).


@lru_cache(maxsize=8192)
def cardinal(n: int) -> str:
    if abs(n) >= MAX_WORDS:
        return ("minus " if n < 0 else "") + digits(str(abs(n)))
    return num2words(n, lang="en").replace(" and ", " ").replace(",", "")


@lru_cache(maxsize=4096)
def ordinal(n: int) -> str:
    if n >= MAX_WORDS:
        return digits(str(n))
    return num2words(n, lang="en", to="ordinal").replace(" and ", " ").replace(",", "")


@lru_cache(maxsize=4096)
def year(n: int) -> str:
    """'nineteen ninety-nine', 'two thousand five', 'nineteen oh five', 'twenty twenty-four'."""
    if not 1000 <= n <= 9999:
        return cardinal(n)
    return num2words(n, lang="en", to="year").replace(" and ", " ").replace("oh-", "oh ")


def digits(s: str) -> str:
    return " ".join(DIGIT_NAMES[int(c)] for c in s if "0" <= c <= "9")  # not ² or other Unicode digits


def number(s: str) -> str:
    """'1,000' -> 'one thousand'; '3.05' -> 'three point zero five'."""
    whole, frac = split_decimal(s, ".")
    words = cardinal(whole)
    return f"{words} point {digits(frac)}" if frac is not None else words


def is_one(s: str) -> bool:
    return s == "1"


# ----------------------------------------------------------------------------------------------
# Addresses and phones.

_ADDRESS_WORDS = {".": "dot", "@": "at", "/": "slash", ":": "colon", "-": "dash", "_": "underscore",
                  "?": "question mark", "=": "equals", "&": "ampersand", "#": "hash", "+": "plus", "%": "percent",
                  "~": "tilde"}


_address = address_speller(_ADDRESS_WORDS, digits)


# English reads phone numbers digit by digit, pausing between the written groups.
_phone = phone_reader("plus", digits)


# ----------------------------------------------------------------------------------------------
# Dates and times.


def _month_index(s: str) -> int:
    return _MONTH_ABBR[s.rstrip(".").lower()[:4] if s.lower().startswith("sept") else s.rstrip(".").lower()[:3]]


def _date(day: int, month: int, year_: str | None, day_first: bool = False) -> str | None:
    """'May twelfth, twenty twenty-four', or with `day_first` 'the twelfth of May, ...' (as written).

    A two-digit year is read as written ('98 -> ninety-eight, 05 -> oh five): the century is the
    writer's to say, and a listener hears the same digits they would read.
    """
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return None
    words = f"the {ordinal(day)} of {MONTHS[month - 1]}" if day_first else f"{MONTHS[month - 1]} {ordinal(day)}"
    if not year_:
        return words
    return f"{words}, {year(int(year_)) if len(year_) == 4 else two_digit_year(year_)}"


def two_digit_year(y: str) -> str:  # 98 -> ninety-eight, 05 -> oh five, 00 -> oh oh
    return f"oh {DIGIT_NAMES[int(y[1])] if y[1] != '0' else 'oh'}" if y[0] == "0" else cardinal(int(y))


def _dotted_date(m: re.Match) -> str | None:  # European 12.05.2024 -> the twelfth of May, ...
    a, b = int(m.group("a")), int(m.group("b"))
    if b > 12 >= a:  # 01.15.2020 can only be month first
        return _date(b, a, m.group("y"))
    return _date(a, b, m.group("y"), day_first=True)


def _slashed_date(m: re.Match) -> str | None:  # US 05/12/2024 and 05-12-2024; 15/01/2020 can only be day first
    a, b = int(m.group("a")), int(m.group("b"))
    if a > 12 >= b:
        return _date(a, b, m.group("y"), day_first=True)
    return _date(b, a, m.group("y"))


def _iso_date(m: re.Match) -> str | None:
    return _date(int(m.group("d")), int(m.group("m")), m.group("y"))


# Month names that are also words in lower case ("you may 5 times", "march 5 miles"): a date
# only when capitalized.
_WORD_MONTHS = frozenset({"may", "march", "mar"})


def _month_day(m: re.Match) -> str:  # May 5, 2024; jan 3; AUG 14 2021; Jan-15-2020
    if m.group("m").rstrip(".") in _WORD_MONTHS:
        return m.group(0)
    return _date(int(m.group("d")), _month_index(m.group("m")) + 1, m.group("y")) or m.group(0)


def _day_month(m: re.Match) -> str | None:  # 14 March 2019, 25 july 2012, 3rd of Sept.
    # "you may" and "march" are words in lower case: a date only with the year after them.
    if m.group("m").rstrip(".") in _WORD_MONTHS and not m.group("y"):
        return None
    if not 1 <= int(m.group("d")) <= 31:
        return None
    article = "" if prev_word(m.string, m.start()) == "the" else "the "
    words = f"{article}{ordinal(int(m.group('d')))} of {MONTHS[_month_index(m.group('m'))]}"
    return f"{words}, {year(int(m.group('y')))}" if m.group("y") else words


def _clock_minutes(mi: int) -> str:  # 5 -> oh five, 30 -> thirty
    return f"oh {cardinal(mi)}" if mi < 10 else cardinal(mi)


def _time(m: re.Match) -> str | None:
    h, mi, ampm = int(m.group("h")), int(m.group("m")), m.group("ampm")
    if h > 24 or mi > 59:
        return None
    if mi == 0:
        # 24-hour times on the hour are "fifteen hundred"; 12-hour ones "ten o'clock" / "ten a m".
        minutes = "" if ampm else (" hundred" if h > 12 or h == 0 else " o'clock")
    else:
        minutes = " " + _clock_minutes(mi)
    if m.group("s") and not ampm:
        # h:mm:ss is a duration or a timestamp: hours, minutes and seconds (issue 15).
        sec = int(m.group("s"))
        if sec > 59:
            return None
        parts = [f"{cardinal(n)} {unit}{'' if n == 1 else 's'}" for n, unit in ((h, "hour"), (mi, "minute"),
                                                                                    (sec, "second")) if n]
        return " ".join(parts) or "zero seconds"
    words = cardinal(h) + minutes
    if m.group("s"):
        words += " and " + cardinal(int(m.group("s"))) + " seconds"
    if ampm:
        words += " " + _say_ampm(ampm)
    return words


# ----------------------------------------------------------------------------------------------
# Years, ordinals, Roman numerals.

_YEAR_BEFORE = frozenset("in since by from until till to of before after during circa around through early late mid "
                         "year summer winter spring autumn fall".split() + [m.lower() for m in MONTHS])
_PLURAL_NOUNS = frozenset("people men women children persons times".split())


def _looks_like_year(m: re.Match) -> bool:
    n = int(m.group("n"))
    if not 1100 <= n <= 2099:
        return False
    if prev_word(m.string, m.start()) in _YEAR_BEFORE:
        return True
    after = next_words(m.string, m.end(), 1)
    # "2024 apples" counts things; "2024 was", "in 2024." and "2024-" name a year.
    if after and (after[0].lower() in _PLURAL_NOUNS or (after[0].endswith("s") and len(after[0]) > 3
                                                        and after[0].lower() not in ("was", "has", "this"))):
        return False
    return not re.match(rf"{SP}?(?:{alternation(UNITS)})(?!\w)", m.string[m.end():])


def _year_or_cardinal(m: re.Match) -> str | None:
    if m.group("neg") or not _looks_like_year(m):
        return None
    return year(int(m.group("n")))


def _decade(m: re.Match) -> str:  # 1990s -> nineteen nineties
    words = year(int(m.group("n")))
    return (words[:-1] + "ies") if words.endswith("y") else words + "s"


def _say_ampm(ampm: str) -> str:
    return " ".join(c for c in ampm.lower() if c.isalpha())


def _hour_ampm(m: re.Match) -> str | None:  # 7 pm
    h = int(m.group("h"))
    return f"{cardinal(h)} {_say_ampm(m.group('ampm'))}" if 1 <= h <= 12 else None


def _suffixed_ordinal(m: re.Match) -> str:
    return ordinal(parse_int(m.group("n")))


_NUMBERED_NOUNS = ("chapter part volume vol book act scene war section phase type class level stage round episode "
                   "season appendix grade article title unit series psalm canto").split()
_REGNAL_NAMES = frozenset(
    "Henry Louis Elizabeth Charles George Edward William Richard John James Mary Anne Victoria Peter Catherine "
    "Nicholas Alexander Ivan Paul Pius Benedict Leo Gregory Innocent Francis Frederick Philip Ferdinand Alfonso "
    "Victor Napoleon Clement Urban Boniface Gustav Gustavus Christian Olaf Harald Haakon Ludwig Otto Rudolf "
    "Wilhelm Constantine Justinian Ramesses Ramses Thutmose Amenhotep Darius Xerxes Ptolemy Antiochus Sixtus "
    "Martin Innocent Stephen Hadrian Adrian Celestine Felix Julius Eugene Sergius Karl Carlos Juan Manuel Pedro "
    "Afonso Sancho Malcolm David Robert Duncan Alfred Harold Canute Cnut".split())


def _roman_numbered(m: re.Match) -> str | None:
    value = roman_to_int(m.group("r"))
    return None if value is None else f"{m.group('w')} {cardinal(value)}"


def _roman_regnal(m: re.Match) -> str | None:
    value = roman_to_int(m.group("r"))
    if value is None or m.group("name") not in _REGNAL_NAMES:
        return None
    return f"{m.group('name')} the {ordinal(value)}"


# ----------------------------------------------------------------------------------------------
# Money, units, plain numbers.


def _money(amount: str, mult: str | None, currency: Currency, neg: bool) -> str:
    sign = "minus " if neg else ""
    if mult:
        return f"{sign}{number(amount)} {MULTIPLIERS.get(mult) or GLUED_MULTIPLIERS[mult]} {currency.name.many}"
    whole, frac = split_decimal(amount, ".")
    # $20.5 is twenty dollars fifty; $20.500 and $2.000 are cents written with idle zeros.
    if frac is not None and len(frac) > 2 and not frac[2:].strip("0"):
        frac = frac[:2]
    if frac is not None and len(frac) == 1:
        frac += "0"
    if frac is not None and len(frac) == 2 and currency.cents is not None:
        cents = int(frac)
        main = f"{cardinal(whole)} {currency.name.after(whole == 1)}"
        if not cents:
            return sign + main
        tail = f"{cardinal(cents)} {currency.cents.after(cents == 1)}"
        return sign + (tail if whole == 0 else f"{main} and {tail}")
    return f"{sign}{number(amount)} {currency.name.after(is_one(amount))}"


def _money_before(m: re.Match) -> str:  # $5, $3.5m, £2 billion, $15/mo
    mult = m.group("mult") or m.group("gm")
    words = _money(m.group("n"), mult, CURRENCY_BEFORE[m.group("cur")], bool(m.group("neg")))
    per = m.group("per")
    return f"{words} per {PER_PERIOD[per.lower()]}" if per else words


def _cents_only(m: re.Match) -> str:  # $.99 -> ninety-nine cents; $.506 -> point five zero six dollars
    currency = CURRENCY_BEFORE[m.group("cur")]
    if len(m.group("c")) != 2:
        return f"point {digits(m.group('c'))} {currency.name.many}"
    cents = int(m.group("c"))
    unit = currency.cents or currency.name
    return f"{cardinal(cents)} {unit.after(cents == 1)}"


def _money_range(m: re.Match) -> str:  # $5-$10 -> five dollars to ten dollars
    currency = CURRENCY_BEFORE[m.group("cur")]
    return f"{_money(m.group('a'), None, currency, False)} to {_money(m.group('b'), None, currency, False)}"


def _money_after(m: re.Match) -> str:
    return _money(m.group("n"), m.group("mult"), CURRENCY_AFTER[m.group("cur")], bool(m.group("neg")))


def _unit(m: re.Match) -> str | None:
    unit = m.group("u")
    if unit in AMBIGUOUS_UNITS and re.match(rf"{SP}*[A-Za-z]", m.string[m.end():]):
        return None  # "5 m away" reads fine, but "5 A grade", "3 s and" must not become units
    sign = "minus " if m.group("neg") else ""
    start = ""
    if m.group("n0"):  # 5-10 km; 2%-10% says its unit twice, as written
        start = f"{number(m.group('n0'))} {UNITS[unit].many + ' ' if m.group('u0') else ''}to "
    scale = f" {m.group('scale')}" if m.group("scale") else ""  # 100 million kg
    singular = is_one(m.group("n")) and not m.group("n0") and not scale
    return f"{sign}{start}{number(m.group('n'))}{scale} {UNITS[unit].after(singular)}"


_FRACTION_NAMES = {2: ("half", "halves"), 4: ("quarter", "quarters")}


def _fraction(m: re.Match) -> str | None:
    num, den = int(m.group("a")), int(m.group("b"))
    # Proper fractions, and improper ones that cannot be a month/day date (22/3, not 11/5 or 24/7).
    if not (0 < num < den <= 100 or (12 < num < 100 and 2 <= den <= 10 and num != 24)):
        return None
    return _fraction_words(num, den)


def _fraction_names(den: int) -> tuple[str, str]:  # 2 -> (half, halves), 8 -> (eighth, eighths)
    return _FRACTION_NAMES.get(den) or (ordinal(den), ordinal(den) + "s")


def _fraction_words(num: int, den: int) -> str:  # 1/2 -> one half, 5/2 -> five halves, 3/8 -> three eighths
    one, many = _fraction_names(den)
    return f"{cardinal(num)} {one if num == 1 else many}"


def _range(m: re.Match) -> str:
    return f"{number(m.group('a'))} to {number(m.group('b'))}"


def _year_range(m: re.Match) -> str | None:
    a, b = int(m.group("a")), int(m.group("b"))
    if not (1100 <= a < b <= 2099):
        return None
    return f"{year(a)} to {year(b)}"


def _cardinal(m: re.Match) -> str:
    n = m.group("n")
    if n[0] == "0" and n[1:2].isdigit():
        return digits(n)  # 004, 0063: a code's digits, which a number reading would drop
    return ("minus " if m.group("neg") else "") + number(n)


_loose_digits = loose_digits_reader(cardinal, digits)


def _us_phone(m: re.Match) -> str:  # 555-123-4567, 1-800-555-0199, 555.123.4567
    return ", ".join(digits(g) for g in re.findall(r"\d+", m.group(0)))


# Toll-free area codes; 800 is said as a number ("one eight hundred"), the others digit by digit.
_TOLL_FREE = "800|888|877|866|855|844|833"


def _vanity_phone(m: re.Match) -> str:  # 1-800-FLOWERS -> one, eight hundred, flowers; 1-800-GO-2-HAUL
    area = m.group("area")
    parts = (["one"] if m.group("one") else []) + ["eight hundred" if area == "800" else digits(area)]
    word = " ".join(digits(p) if p.isdigit() else p.lower() for p in m.group("word").split("-"))
    return ", ".join(parts + [word])


def _digit_groups(m: re.Match) -> str | None:  # 111-11-1111, 123-123-5678-1 -> group by group, digit by digit
    groups = m.group(0).split("-")
    if sum(map(len, groups)) < 7:
        return ", ".join(cardinal(int(g)) for g in groups)  # 1-2-3, a count or a score
    return ", ".join(digits(g) for g in groups)


def _ip_address(m: re.Match) -> str | None:  # 192.168.0.10 -> one nine two dot one six eight dot zero dot one zero
    octets = m.group(0).split(".")
    if any(int(o) > 255 for o in octets):
        return None
    return " dot ".join(digits(o) for o in octets)


_DECADE_WORDS = {2: "twenties", 3: "thirties", 4: "forties", 5: "fifties", 6: "sixties", 7: "seventies",
                 8: "eighties", 9: "nineties"}


_DECADE_CONTEXT = re.compile(r"(?:(?<!\w)(?:mid|early|late)-|(?<!\w)(?:the|mid|early|late) )$", re.IGNORECASE)


def _short_decade(m: re.Match) -> str | None:  # '90s, mid-80s, the 70s -> nineties, mid-eighties, the seventies
    if not m.group("apos") and not _DECADE_CONTEXT.search(m.string, max(0, m.start() - 8), m.start()):
        return None  # a bare "90s" elsewhere may be seconds or degrees: left to the unit rules
    return _DECADE_WORDS[int(m.group("n")[0])]


def _time_range(m: re.Match) -> str | None:  # 9am-5pm, 9:30 a.m.–5 p.m. -> nine a m to five p m
    sides = []
    for h, mm, ampm in ((m.group("h1"), m.group("m1"), m.group("ap1") or m.group("ap2")),
                        (m.group("h2"), m.group("m2"), m.group("ap2"))):
        hour = int(h)
        if not 1 <= hour <= 12 or (mm is not None and int(mm) > 59):
            return None
        minutes = "" if mm is None or int(mm) == 0 else " " + _clock_minutes(int(mm))
        sides.append(f"{cardinal(hour)}{minutes} {_say_ampm(ampm)}")
    return " to ".join(sides)


def _mixed_fraction(m: re.Match) -> str | None:  # 2 1/2 -> two and a half; 3 5/2 -> three and five halves
    num, den = int(m.group("a")), int(m.group("b"))
    if not (0 < num and 2 <= den <= 16):
        return None
    part = f"a {_fraction_names(den)[0]}" if num == 1 else _fraction_words(num, den)
    words = f"{number(m.group('w'))} and {part}"
    if m.groupdict().get("u"):  # 4 1/2 lbs -> four and a half pounds
        words += " " + UNITS[m.group("u")].many
    return words


def _decade_range(m: re.Match) -> str:  # 1960s-70s -> nineteen sixties to seventies; 1960s-1980s: both whole
    if m.group("c"):
        words = year(int(m.group("c") + m.group("b")))
        return f"{_decade(m)} to {(words[:-1] + 'ies') if words.endswith('y') else words + 's'}"
    return f"{_decade(m)} to {_DECADE_WORDS[int(m.group('b')[0])]}"


def _short_quarter(m: re.Match) -> str:  # 3Q24 -> the third quarter of twenty-four
    article = "" if prev_word(m.string, m.start()) == "the" else "the "
    return f"{article}{ordinal(int(m.group('q')))} quarter of {two_digit_year(m.group('y'))}"


def _digits_in_context(m: re.Match) -> str:  # card ending in 4242 -> four two four two; order #45 -> number
    ctx = m.group("ctx")
    if ctx.endswith("#"):
        ctx = ctx[:-1] + "number "
    return ctx + digits(m.group("n"))


def _serial(m: re.Match) -> str:  # ab1234 -> a b one two three four
    letters = m.group("l")
    said = " ".join(letters) if len(letters) <= 3 else letters
    return f"{said} {digits(m.group('d'))}"


_TIME_ZONES = ("UTC GMT EST EDT CST CDT MST MDT PST PDT AKST AKDT HST CET CEST EET EEST WET BST IST JST KST MSK "
               "AEST AEDT").split()


def _per_units(m: re.Match) -> str:  # 5 cc/s -> five cc per second; 3 kg/m3 -> three kilograms per cubic meter
    n = m.group("n")
    return f"{number(n)} {UNITS[m.group('u')].after(is_one(n))} per {UNITS[m.group('v')].one}"


_STREET_TYPES = {"St": "Street", "Ave": "Avenue", "Blvd": "Boulevard", "Rd": "Road", "Ln": "Lane", "Ct": "Court",
                 "Pl": "Place", "Expy": "Expressway", "Pkwy": "Parkway", "Hwy": "Highway", "Dr": "Drive"}
_DIRECTIONS = {"N": "North", "S": "South", "E": "East", "W": "West", "NE": "Northeast", "NW": "Northwest",
               "SE": "Southeast", "SW": "Southwest"}


# An ordinal already in words ("fifth", "twenty-first"): a street's name ("W 5th Ave" by then).
_ORDINAL_WORD = (r"(?:[a-z]+-)?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
                 r"[a-z]+teenth|[a-z]+ieth)")


def _street(m: re.Match) -> str:  # 100 W 5th Ave -> West fifth Avenue; N Main St -> North Main Street
    direction = _DIRECTIONS[m.group("dir")] + " " if m.group("dir") else ""
    return f"{direction}{m.group('name')} {_STREET_TYPES[m.group('type')]}"


_LOWER_STREET_TYPES = {"st": "Street", "ave": "Avenue", "blvd": "Boulevard", "rd": "Road", "hwy": "Highway",
                       "expy": "Expressway", "pkwy": "Parkway"}


def _street_address(m: re.Match) -> str:  # 1428 Elm St. -> fourteen twenty-eight Elm Street.
    n = m.group("n")
    number_words = digits(n) if n[0] == "0" else paired(int(n))
    direction = _DIRECTIONS[m.group("dir")] + " " if m.group("dir") else ""
    kind = _STREET_TYPES.get(m.group("type")) or _LOWER_STREET_TYPES[m.group("type")]
    # The dot of "St." ends the sentence when a capital follows ("1428 Elm St. It was"): after a
    # house number and a street name, "St." is a street, never the "Saint" of "St. Louis".
    end = "." if m.group("dot") and ends_sentence(m.string, m.end()) else ""
    return f"{number_words} {direction}{m.group('name')} {kind}{end}"


def _quarter(m: re.Match) -> str:  # Q3 2024 -> Q three twenty twenty-four
    return f"Q {cardinal(int(m.group('q')))} {year(int(m.group('y')))}"


_AMPM = r"(?P<ampm>[ap]\.?m\.?(?!\w))"
_CUR_BEFORE = alternation(CURRENCY_BEFORE)
_MULT = rf"(?:{SP}?(?P<mult>{alternation(MULTIPLIERS)})(?!\w))?"
# After a currency sign a glued letter is a multiplier too ($3.5m), and a slash a period ($15/mo).
_MULT_BEFORE = rf"(?:{SP}?(?P<mult>{alternation(MULTIPLIERS)})(?!\w)|(?P<gm>{alternation(GLUED_MULTIPLIERS)})(?![\w/]))?"
_PER = rf"(?:/(?P<per>{alternation(PER_PERIOD)})(?!\w))?"


_US_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California", "CO": "Colorado",
    "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho",
    "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York", "NC": "North Carolina",
    "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas",
    "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington", "WV": "West Virginia",
    "WI": "Wisconsin", "WY": "Wyoming", "DC": "D C",
}


# Codes that are also words or titles after a name ("Fine, OK", "Smith, MD", "Jones, PA"): a
# state only with a ZIP code after it.
_AMBIGUOUS_STATES = frozenset("OK IN OR ME HI MD PA DC DE CO ID OH LA MA AL GA SC".split())


def _city_state(m: re.Match) -> str | None:  # Austin, TX 78701 -> Austin, Texas seven eight seven zero one
    if m.group("st") in _AMBIGUOUS_STATES and not m.group("zip"):
        return None
    words = f"{m.group('city')}, {_US_STATES[m.group('st')]}"
    if m.group("zip"):
        words += m.group("comma") + " " + digits(m.group("zip")) + (f" {digits(m.group('zip4'))}" if m.group("zip4") else "")
    return words


_EQUATION_OPS = {"+": "plus", "-": "minus", "−": "minus", "*": "times", "×": "times", "÷": "divided by", "=": "equals"}


def _equation(m: re.Match) -> str:  # 3+4=7 -> three plus four equals seven
    parts = re.split(r"\s*([-+*×÷=−])\s*", m.group(0))
    return " ".join(number(p) if i % 2 == 0 else _EQUATION_OPS[p] for i, p in enumerate(parts))


def _algebra(m: re.Match) -> str:  # x - 1 = y -> x minus one equals y (variables are single letters)
    parts = re.split(rf"{SP}*([-+*×÷=−]){SP}*", m.group(0))
    return " ".join(_EQUATION_OPS[p] if i % 2 else (number(p) if p[0].isdigit() else p) for i, p in enumerate(parts))


def _era(m: re.Match) -> str:  # 44 BC -> forty-four B C; 340 A.D -> three forty A D; 1066 AD -> ten sixty-six A D
    n = int(m.group("n"))
    words = year(n) if 1000 <= n <= 2099 else paired(n) if 100 <= n <= 999 else cardinal(n)
    return f"{words} {' '.join(c for c in m.group('era') if c.isalpha())}"


def paired(n: int) -> str:
    """A year or a house number read in pairs: 340 -> three forty, 708 -> seven oh eight,
    1428 -> fourteen twenty-eight, 800 -> eight hundred; 5 digits one by one."""
    if n < 100:
        return cardinal(n)
    if n < 1000:
        rest = n % 100
        return cardinal(n) if rest == 0 else f"{cardinal(n // 100)} {_clock_minutes(rest)}"
    if n < 10000:
        return year(n)
    return digits(str(n))


def _per_unit(m: re.Match) -> str:  # 12/kg -> twelve per kilogram
    return f"{number(m.group('n'))} per {UNITS[m.group('u')].one}"


def _times(m: re.Match) -> str:  # 2x4 -> two by four; 25 x 7 m -> twenty-five by seven meters; 4.5x -> four point five times
    b = m.group("b") or m.group("b2")
    if b:
        words = f"{number(m.group('a'))} by {number(b)}"
        return words + (f" {UNITS[m.group('u')].many}" if m.group("u") else "")
    return f"{number(m.group('a'))} times"


def _year_short_range(m: re.Match) -> str | None:  # 1960-80 -> nineteen sixty to eighty
    a, b = int(m.group("a")), int(m.group("b"))
    if not 1100 <= a <= 2099 or b <= a % 100:
        return None
    return f"{year(a)} to {cardinal(b)}"

# Pairs said as they are written, with the slash unspoken ("and or"): the rest of word/word is
# read with "slash" (upgrade/update, read/write).
_SILENT_SLASH = frozenset("and/or either/or he/she she/he him/her her/him his/her her/his his/hers".split())


def _word_slash(m: re.Match) -> str | None:  # upgrade/update -> upgrade slash update; out/logs/ too
    if m.group(0).lower() in _SILENT_SLASH or re.search(r"\d[ \u00a0]?$", m.string[max(0, m.start() - 2):m.start()]):
        return None  # "5 mg/dl" is a unit, left to the unit rules
    if re.match(r"\.\w", m.string[m.end():m.end() + 2]):
        return None  # docs/notes.md: a relative file name, left as written
    return " slash ".join(m.group(0).split("/")).strip()


_SIGN_WORDS = {"$": "dollar", "€": "euro", "£": "pound", "¥": "yen", "₩": "won", "₽": "ruble", "%": "percent",
               "#": "hash", "@": "at", "§": "section", "/": "slash"}


def _signs(m: re.Match) -> str | None:  # "or %" -> or percent; test$ -> test dollar; 14/ -> fourteen slash
    run = m.group(0)
    if run[0] == "#" and re.match(r"#+ ", m.string[m.start():]) and (m.start() == 0 or m.string[m.start() - 1] == "\n"):
        return None  # a Markdown heading's marks are not read
    if run == "/" and (re.match(r"/[a-z]{1,3}/", m.string[m.start():]) or re.search(r"/[a-z]{1,3}/$", m.string[:m.end()])):
        return None  # the /r/ sound: a phoneme between slashes
    words = " ".join(_SIGN_WORDS[c] for c in run)
    before, after = m.string[m.start() - 1:m.start()], m.string[m.end():m.end() + 1]
    # Set apart from a letter, digit or quote beside it, and from the next sign's word after it.
    lead = " " if _touches(before) else ""
    trail = " " if _touches(after) or (after != "" and after in _SIGN_WORDS) else ""
    return lead + words + trail


def _touches(c: str) -> bool:  # a neighbour a sign's word must not run into ("" is the text's edge)
    return c != "" and (c.isalnum() or c in "`'\"")


_AP1 = r"(?P<ap1>[ap]\.?m\.?(?!\w))"
_AP2 = r"(?P<ap2>[ap]\.?m\.?(?!\w))"

RULES = [
    Rule("email", EMAIL_RE, _address),
    Rule("url", URL_RE, _address),
    # A file path from the root, the home or the current folder, two parts at least (/usr/local/bin,
    # ~/notes.txt is one part and stays): read like an address. Not a/b, km/h or 1/2 (no leading slash).
    Rule("file path", re.compile(r"(?<![\w./~:-])(?:~|\.{1,2})?/[A-Za-z_][\w.-]*(?:/[\w.-]+)+/?(?![\w/])"), _address,
         needs=needs("/")),
    Rule("word slash", re.compile(r"(?<![\w/.~-])[a-z]{2,}(?:/[a-z_]{2,})+/?(?![\w/])"), _word_slash, needs=needs("/")),
    Rule("phone", PHONE_RE, _phone),
    # A number spelled as a word (1-800-FLOWERS): the word in capitals, read as a word.
    Rule("vanity phone", re.compile(rf"(?<![\w+.,/-])(?:(?P<one>1)-)?(?P<area>{_TOLL_FREE})-"
                                    r"(?P<word>(?:[A-Z0-9]+-)*[A-Z]{2,}(?:-[A-Z0-9]+)*)(?![\w-])"), _vanity_phone,
         needs=needs("-")),
    # After the generic phone (+1 555-010-9999 is its), before the ranges, which would read
    # 555-123-4567 as a subtraction.
    Rule("us phone", re.compile(r"(?<![\w+.,/-])(?:1-)?\d{3}([-.])\d{3}\1\d{4}(?![\w-]|[.,]\d)"), _us_phone),
    Rule("ip address", re.compile(r"(?<![\w.,\d])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|[.,]\d)"), _ip_address, needs=needs('.')),
    Rule("local phone", LOCAL_PHONE_RE, _phone),
    Rule("dotted date", re.compile(rf"{B}(?P<a>\d{{1,2}})\.(?P<b>\d{{1,2}})\.(?P<y>\d{{4}}){E}"), _dotted_date),
    Rule("slashed date", re.compile(rf"{B}(?P<a>\d{{1,2}})(?P<sep>[/-])(?P<b>\d{{1,2}})(?P=sep)(?P<y>\d{{4}}){E}"),
         _slashed_date),
    Rule("iso date", re.compile(rf"{B}(?P<y>\d{{4}})-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}}){E}"), _iso_date),
    # Three or more dashed groups of digits, 7 digits at least: an ID or a phone written its own way
    # (SSN 111-11-1111), never a chain of subtractions or ranges. After the dashed dates.
    Rule("digit groups", re.compile(r"(?<![\w+.,/-])\d{1,4}(?:-\d{1,4}){2,}(?![\w-]|[.,]\d)"), _digit_groups,
         needs=needs("-")),
    Rule("month day", re.compile(
        rf"(?<!\w)(?P<m>{_MONTH_ANY_CASE})(?:{SP}|-)(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?!\w)"
        rf"(?:(?:,?{SP}|-)(?P<y>\d{{4}}){E})?"),
         _month_day),
    Rule("day month", re.compile(
        rf"{B}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?{SP}(?:of{SP})?(?P<m>{_MONTH_ANY_CASE})(?:,?{SP}(?P<y>\d{{4}}){E})?(?!\w)"),
         _day_month),
    Rule("time range", re.compile(
        rf"{B}(?P<h1>\d{{1,2}})(?::(?P<m1>\d{{2}}))?{SP}?{_AP1}?{SP}?{RANGE_DASH}{SP}?"
        rf"(?P<h2>\d{{1,2}})(?::(?P<m2>\d{{2}}))?{SP}?{_AP2}", re.IGNORECASE), _time_range, needs=needs('apAP')),
    Rule("time", re.compile(rf"{B}(?P<h>\d{{1,2}}):(?P<m>\d{{2}})(?::(?P<s>\d{{2}}))?(?:{SP}?{_AMPM})?{E}",
                            re.IGNORECASE), _time),
    # 1.59 p.m.: a dot between hour and minutes, told from a decimal by the a.m./p.m. after it
    # (an empty `s` group: _time asks for the seconds).
    Rule("dotted time", re.compile(rf"{B}(?P<h>\d{{1,2}})\.(?P<m>[0-5]\d){SP}?{_AMPM}(?P<s>)", re.IGNORECASE),
         _time, needs=needs("apAP")),
    Rule("hour am", re.compile(rf"{B}(?P<h>\d{{1,2}}){SP}?{_AMPM}", re.IGNORECASE), _hour_ampm),
    Rule("decade range", re.compile(rf"{B}(?P<n>1\d\d0|20\d0)'?s{RANGE_DASH}['\u2019]?(?P<c>1\d|20)?(?P<b>[2-9]0)'?s(?!\w)"),
         _decade_range, needs=needs('s')),
    Rule("decade", re.compile(rf"{B}(?P<n>1\d\d0|20\d0)'?s(?!\w)"), _decade),
    # '90s always; a bare 90s only after mid-/early-/late- or "the" (else it may be seconds or degrees).
    Rule("short decade", re.compile(r"(?:(?<!\w)(?P<apos>['\u2019])|(?<![\w'\u2019]))(?P<n>[2-9]0)['\u2019]?s(?!\w)"), _short_decade,
         needs=needs("s")),
    Rule("quarter", re.compile(rf"(?<!\w)Q(?P<q>[1-4]){SP}(?P<y>\d{{4}}){E}"), _quarter, needs=needs('Q')),
    Rule("short quarter", re.compile(r"(?<!\w)(?P<q>[1-4])Q(?P<y>\d{2})(?!\w)"), _short_quarter, needs=needs('Q')),
    # Numbers that are read digit by digit: after words that name a code, and runs of 8 or more digits.
    Rule("digits in context", re.compile(
        rf"(?P<ctx>(?<!\w)(?:ending in|ends in|(?:[Cc]ard|[Aa]ccount){SP}ending|[Cc]ard|[Aa]ccount|[Oo]rder|ZIP|[Zz]ip code|PIN|[Cc]ode|[Tt]racking|"
        rf"[Ss]erial|[Ii]nvoice|[Rr]eference)(?:{SP}(?:[Nn]o\.?|[Nn]umber|#))?{SP}#?)(?P<n>\d{{3,}}){E}"),
         _digits_in_context),
    # Not after a currency sign: $18925000 is an amount.
    Rule("long digits", re.compile(rf"{B}(?<![$£€¥₩₽₹])(?P<n>\d{{8,}}){E}"), lambda m: digits(m.group("n"))),
    Rule("serial", re.compile(r"(?<![\w.@/-])(?P<l>[A-Za-z]{1,4})(?P<d>\d{3,})(?![\w@/-]|[.,]\d)"), _serial),
    Rule("era", re.compile(rf"{B}(?P<n>\d{{1,4}}){SP}?(?P<era>B\.C\.E\.?|C\.E\.?|B\.C\.?|A\.D\.?|BCE|BC|CE|AD)(?!\w)"),
         _era, needs=needs('ABCDE')),
    Rule("city state", re.compile(
        rf"(?P<city>[A-Z][a-z]+(?:{SP}[A-Z][a-z]+)*),{SP}(?P<st>{'|'.join(_US_STATES)})"
        rf"(?:(?P<comma>,?){SP}(?P<zip>\d{{5}})(?:-(?P<zip4>\d{{4}}))?)?(?![\w])"), _city_state, needs=needs(',')),
    Rule("algebra", re.compile(
        # Spaces around every sign but + and = (y=x+1): "x-1" and "a*b" may be names or codes.
        rf"(?<![\w.'\u2019])(?:[a-z]|{NUM})(?:(?:{SP}[-+*×÷=−]{SP}|{SP}?[+=]{SP}?)(?:[a-z]|{NUM}))+(?![\w.'\u2019]|,\d)"),
         lambda m: _algebra(m) if re.search(r"(?<![\w])[a-z](?![\w])", m.group(0)) else None,
         needs=needs("+-*×÷=−")),
    Rule("equation", re.compile(rf"{B}{NUM}(?:{SP}?[-+*×÷=−]{SP}?{NUM})*{SP}?[+*×÷=]{SP}?{NUM}"
                                rf"(?:{SP}?[-+*×÷=−]{SP}?{NUM})*{E}"), _equation, needs=needs('+*×÷=')),
    Rule("number sign", re.compile(r"(?<![\w&])#(?P<n>\d+)(?!\w)"), lambda m: f"number {cardinal(int(m.group('n')))}", needs=needs('#')),
    Rule("handle", re.compile(r"(?<![\w.@])@(?P<u>[A-Za-z_][\w]*)"), lambda m: f"at {m.group('u')}", needs=needs('@')),
    Rule("ampersand", re.compile(rf"(?<={SP})&(?={SP})"), lambda m: "and", needs=needs('&')),
    Rule("times", re.compile(rf"{B}(?P<a>{NUM})(?:[x×](?:(?P<b>{NUM}))?|{SP}[x×]{SP}(?P<b2>{NUM}))"
                             rf"(?:{SP}?(?P<u>{alternation(UNITS)}))?(?![\w])"),
         lambda m: _times(m) if m.group("b") or m.group("b2") or not m.group("u") else None, needs=needs('x×')),
    Rule("slashed ymd", re.compile(rf"{B}(?P<y>\d{{4}})/(?P<m>\d{{1,2}})/(?P<d>\d{{1,2}}){E}"), _iso_date, needs=needs('/')),
    Rule("slashed short date", re.compile(rf"{B}(?P<a>\d{{1,2}})/(?P<b>\d{{1,2}})/(?P<y>\d{{2}}){E}"),
         _slashed_date, needs=needs('/')),
    Rule("suffixed fraction", re.compile(rf"{B}(?P<a>\d{{1,2}})/(?P<b>\d{{1,2}})(?:st|nd|rd|th|ST|ND|RD|TH)(?!\w)"),
         _fraction, needs=needs('/')),
    Rule("year range", re.compile(rf"{B}(?P<a>\d{{4}}){RANGE_DASH}(?P<b>\d{{4}}){E}"), _year_range),
    Rule("year short range", re.compile(rf"{B}(?P<a>\d{{4}}){RANGE_DASH}(?P<b>\d{{2}}){E}"), _year_short_range),
    Rule("ordinal", re.compile(rf"{B}(?P<n>{INT})(?:st|nd|rd|th)(?!\w)", re.IGNORECASE), _suffixed_ordinal),
    Rule("roman numbered", re.compile(
        rf"(?<!\w)(?P<w>(?:{'|'.join(_NUMBERED_NOUNS)})\.?){SP}(?P<r>{ROMAN_RE})(?!\w)", re.IGNORECASE),
         _roman_numbered),
    Rule("roman regnal", re.compile(rf"(?<!\w)(?P<name>[A-Z][a-z]+){SP}(?P<r>[IVXL]+)(?!\w)"), _roman_regnal),
    Rule("money range", re.compile(
        rf"(?<![\w$])(?P<cur>{_CUR_BEFORE})(?P<a>{NUM}){SP}?{RANGE_DASH}{SP}?(?P=cur)(?P<b>{NUM}){E}"), _money_range, needs=needs('$£€¥₩₽₹')),
    Rule("cents only", re.compile(rf"(?<![\w$])(?P<cur>{_CUR_BEFORE})\.(?P<c>\d+){E}"), _cents_only, needs=needs('$£€¥₩₽₹')),
    Rule("money before", re.compile(rf"(?<![\w$])(?P<cur>{_CUR_BEFORE}){SP}?{NEG}(?P<n>{NUM}){_MULT_BEFORE}{_PER}"),
         _money_before),
    Rule("money after", re.compile(
        rf"{B}{NEG}(?P<n>{NUM}){_MULT}{SP}?(?P<cur>{alternation(CURRENCY_AFTER)})(?![\w])"), _money_after),
    Rule("per units", re.compile(
        rf"{B}(?P<n>{NUM}){SP}?(?P<u>{alternation(UNITS)})/(?P<v>{alternation(UNITS)})(?![\w])"), _per_units,
         needs=needs("/")),
    # Before the unit rule, which would take "2 lbs" out of "4 1/2 lbs".
    Rule("mixed fraction unit", re.compile(
        rf"{B}(?P<w>{INT}){SP}(?P<a>\d{{1,2}})/(?P<b>\d{{1,2}}){SP}?(?P<u>{alternation(UNITS)})(?![\w])"),
         _mixed_fraction, needs=needs("/")),
    Rule("unit", re.compile(
        rf"{B}(?:(?P<n0>{NUM})(?P<u0>%)?{SP}?{RANGE_DASH}{SP}?)?{NEG}(?P<n>{NUM})"
        rf"(?:{SP}(?P<scale>thousand|million|billion|trillion))?{SP}?(?P<u>{alternation(UNITS)})(?![\w])"),
         _unit),
    # A house number, then the street: the number is read in pairs, as an address is said.
    Rule("street address", re.compile(
        rf"{B}(?P<n>\d{{1,5}}){SP}(?:(?P<dir>NE|NW|SE|SW|N|S|E|W)\.?{SP})?"
        rf"(?P<name>(?:[A-Z][a-z]+|{_ORDINAL_WORD})(?:{SP}[A-Z][a-z]+){{0,2}}){SP}"
        rf"(?P<type>{'|'.join(_STREET_TYPES)}|{'|'.join(_LOWER_STREET_TYPES)})(?P<dot>\.)?(?![\w])"), _street_address),
    # A street: [direction] Name-or-ordinal Type, with no dot ("N Main St", "W 5th Ave", "Elm St,"),
    # before the abbreviations (which take "St." and "Ave." with their dot). Not before a
    # capitalized word ("St Bernard", "St Louis": a name).
    Rule("street", re.compile(
        rf"(?<!\w)(?:(?P<dir>NE|NW|SE|SW|N|S|E|W)\.?{SP})?(?P<name>[A-Z][a-z]+|\d+(?:st|nd|rd|th)|{_ORDINAL_WORD}){SP}"
        rf"(?P<type>{'|'.join(_STREET_TYPES)})(?![\w.])(?!{SP}[A-Z])"), _street),
    Rule("time zone", re.compile(rf"(?<![\w])(?P<z>{'|'.join(_TIME_ZONES)})(?![\w])"),
         lambda m: " ".join(m.group("z"))),
    # e.s.t, p.s.t. after a time: the zone spelled with dots, read as its letters.
    Rule("dotted time zone", re.compile(r"(?<=[ap] m )(?P<z>[a-zA-Z]\.[sdSD]\.[tT])\.?(?![\w])"),
         lambda m: " ".join(c.upper() for c in m.group("z") if c.isalpha()), needs=needs(".")),
    # Retirement plans named by their tax-code section: 401(k) -> four oh one k.
    Rule("tax plan", re.compile(r"(?<![\w.])(?P<n>[1-9]\d\d)\((?P<l>[a-z])\)"),
         lambda m: f"{paired(int(m.group('n')))} {m.group('l')}", needs=needs("(")),
    *en_abbreviations.RULES,
    # After money ($40/hr is a price per hour), before the plain fraction.
    Rule("per unit", re.compile(rf"{B}(?P<n>{NUM})/(?P<u>{alternation(UNITS)})(?![\w])"), _per_unit, needs=needs('/')),
    Rule("mixed fraction", re.compile(rf"{B}(?P<w>{INT}){SP}(?P<a>\d{{1,2}})/(?P<b>\d{{1,2}}){E}"), _mixed_fraction, needs=needs('/')),
    Rule("fraction", re.compile(rf"{B}(?P<a>\d{{1,3}})/(?P<b>\d{{1,3}}){E}"), _fraction),
    Rule("range", re.compile(rf"{B}(?P<a>{NUM}){SP}?{RANGE_DASH}{SP}?(?P<b>{NUM}){E}"), _range),
    Rule("year", re.compile(rf"{B}{NEG}(?P<n>\d{{4}}){E}"), _year_or_cardinal),
    Rule("cardinal", re.compile(rf"{B}{NEG}(?P<n>{NUM}){E}"), _cardinal),
    # .5, .1665: a decimal without its leading zero.
    Rule("bare decimal", re.compile(r"(?<![\w.,\d])\.(?P<f>\d+)(?![\w]|[.,]\d)"), lambda m: f"point {digits(m.group('f'))}",
         needs=needs(".")),
    Rule("loose digits", re.compile(r"\d+"), _loose_digits),
    Rule("sharp", re.compile(r"(?<![\w#])(?P<n>[A-G])#(?![\w#])"), lambda m: f"{m.group('n')} sharp", needs=needs("#")),
    # Signs no rule above read: standing alone ("$ and %"), glued to words ("test$", "#tag"), or a
    # slash at a word's edge ("14/", "/ and"). A slash between two words or numbers (a/b, 24/7),
    # a sign inside a word (AT&T, C++) and the slash of a tag (<cough/>, </b>) stay as written.
    # The slash comes before its look-behinds, so that the engine skips ahead to it.
    Rule("signs", re.compile(r"[$€£¥₩₽%#@§]+|/(?:(?<![\w/.~<]/)(?![/>])|(?<=\w/)(?=[\s,;:!?)\]\"'`]|$))"), _signs,
         needs=needs("$€£¥₩₽%#@§/")),
]


def normalize_en(text: str) -> str:
    """The spoken form of English `text`; text without numbers, symbols or abbreviations comes back as is."""
    return apply_rules(text, RULES)
