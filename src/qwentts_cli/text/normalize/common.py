"""Pieces both languages share: rule application, context look-ups, number parsing, Roman numerals."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import NamedTuple

# Set by the tests: a rule that raises is a bug to see, not a span to leave alone.
STRICT = os.environ.get("QWENTTS_NORMALIZE_STRICT") == "1"

SPACES = " \u00a0\u2009\u202f\u2007"  # space, no-break, thin, narrow no-break, figure space
GROUP_SEP = "[ \u00a0\u2009\u202f\u2007]"
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"  # hyphen-minus .. minus sign
DASH = f"[{DASHES}]"
RANGE_DASH = "[-\u2010\u2011\u2012\u2013\u2014]"
MINUS = "[-\u2212]"

WORD_RE = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")


class Rule(NamedTuple):
    name: str
    pattern: re.Pattern
    replace: Callable[[re.Match], str]
    # A cheap test the text must pass for the rule to be tried at all (a character every match
    # holds: "/", "@", a Latin letter): most text has none, and a search for one character is
    # much cheaper than the rule's own pattern tried at every position.
    needs: re.Pattern | None = None


def apply_rules(text: str, rules: list[Rule]) -> str:
    for rule in rules:
        if rule.needs is not None and rule.needs.search(text) is None:
            continue
        text = rule.pattern.sub(_safe(rule), text)
    return text


def needs(chars: str) -> re.Pattern:
    """`Rule.needs` for rules whose every match holds one of `chars`."""
    return re.compile(f"[{re.escape(chars)}]")


def _safe(rule: Rule) -> Callable[[re.Match], str]:
    def replace(m: re.Match) -> str:
        try:
            out = rule.replace(m)
        except Exception:  # the normalizer never raises on user text: keep the span as written
            if STRICT:
                raise
            return m.group(0)
        return m.group(0) if out is None else out

    return replace


def prev_word(text: str, pos: int, window: int = 64) -> str | None:
    """The word right before `pos` when only spaces separate them, lower-cased; else None."""
    head = text[max(0, pos - window) : pos]
    m = re.search(r"([^\W\d_]+(?:-[^\W\d_]+)*)[" + SPACES + r"]*$", head)
    return m.group(1).lower() if m else None


def next_words(text: str, pos: int, n: int = 3, window: int = 96) -> list[str]:
    """Up to `n` words right after `pos`, as written, stopping at punctuation or digits."""
    tail = text[pos : pos + window]
    m = re.match(r"[" + SPACES + r"]*((?:[^\W\d_]+(?:-[^\W\d_]+)*)(?:[" + SPACES + r"]+[^\W\d_]+(?:-[^\W\d_]+)*)*)", tail)
    if not m:
        return []
    return m.group(1).split()[:n]


def parse_int(s: str) -> int:
    """'1 000 000', '1,000,000', '1\u202f000' -> 1000000: every non-digit is a group separator."""
    return int(re.sub(r"[^\d]", "", s))


def int_pattern(group_sep: str) -> str:
    """An integer written plainly or in groups of three: '1000', '1 000', '1,000,000' (group_sep: a class)."""
    return r"\d{1,3}(?:" + group_sep + r"\d{3})+(?!\d)|\d+"


def split_decimal(s: str, decimal_sep: str) -> tuple[int, str | None]:
    """'3,50' -> (3, '50') for decimal_sep ','; the fraction keeps its leading and trailing zeros."""
    whole, sep, frac = s.partition(decimal_sep)
    return parse_int(whole), (frac if sep else None)


_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
ROMAN_RE = r"(?=[IVXLCDM])M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"


def alternation(keys) -> str:
    """A regex alternation of literal keys, longest first so 'км/ч' wins over 'км'."""
    return "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))


def roman_to_int(s: str) -> int | None:
    """Value of a well-formed Roman numeral, else None."""
    if not s or not re.fullmatch(ROMAN_RE, s):
        return None
    total = 0
    for i, c in enumerate(s):
        v = _ROMAN[c]
        if i + 1 < len(s) and _ROMAN[s[i + 1]] > v:
            total -= v
        else:
            total += v
    return total or None


# URLs and e-mail addresses: spelled the same way in both languages, with different words.
# An address, then an optional path after a slash (sdf@mail.com/123-sm). `&` and `'` are legal in the
# local part (RFC 5322) and seen in real addresses: leaving them out split one address into pieces.
EMAIL_RE = re.compile(r"(?<![\w.+&-])[A-Za-z0-9][A-Za-z0-9._%+&'-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
                      r"(?:/[\w./-]*[\w/])?(?![\w@])")
TLDS = "com|org|net|ru|рф|su|io|ai|dev|app|info|biz|edu|gov|uk|de|fr|it|es|us|me|co|tv|cc|by|kz|ua|eu|ch|nl|pl|cn|jp|xyz|online|site|tech|pro"
URL_RE = re.compile(
    r"(?<![\w@.])(?:(?:https?|ftp|file)://[^\s<>\"«»]+|www\.[^\s<>\"«»]+|"
    r"(?:[A-Za-z0-9-]+\.)+(?:" + TLDS + r")(?:/[^\s<>\"«»]*)?)(?![\w@])",
    re.IGNORECASE,
)


def split_address(s: str) -> list[tuple[str, str]]:
    """'https://ex-1.com/a_b' -> [('sym', 'https'), ...]: kinds 'word', 'digits', 'sym'."""
    out: list[tuple[str, str]] = []
    for m in re.finditer(r"[A-Za-zА-Яа-яЁё]+|[0-9]+|\S", s):
        t = m.group(0)
        if "0" <= t[0] <= "9":  # not ² or other Unicode digits, which int() and the digit words refuse
            out.append(("digits", t))
        elif t[0].isalpha():
            out.append(("word", t))
        else:
            out.append(("sym", t))
    return out


def strip_url_tail(s: str) -> tuple[str, str]:
    """A URL found in prose may end with the sentence's punctuation: keep that out."""
    tail = ""
    while s and s[-1] in ".,;:!?)»\"'":
        if s[-1] == ")" and "(" in s:
            break
        tail = s[-1] + tail
        s = s[:-1]
    return s, tail


def loose_digits_reader(cardinal: Callable[[int], str], digits: Callable[[str], str]) -> Callable[[re.Match], str]:
    """The last rule's body: digits no other rule claimed ('COVID-19', 'qwen3', 'Q3', '221B').

    Read as a number (digit by digit past 15 digits or with a leading zero), set apart by spaces from letters they
    touch, so that 'Q3' is 'Q three', not 'Qthree'.
    """

    def replace(m: re.Match) -> str:
        run = m.group(0)
        # A leading zero ("25d08A", "0063") is a code's digit, which a number reading would drop.
        words = cardinal(int(run)) if len(run) <= 15 and not (run.startswith("0") and len(run) > 1) else digits(run)
        before = m.string[m.start() - 1 : m.start()]
        after = m.string[m.end() : m.end() + 1]
        return (" " if before.isalpha() else "") + words + (" " if after.isalpha() else "")

    return replace


def phone_reader(plus_word: str, say_group: Callable[[str], str]) -> Callable[[re.Match], str | None]:
    """A rule body reading a phone number group by group, as written, each group through `say_group`."""

    def replace(m: re.Match) -> str | None:
        plus, groups = phone_groups(m.group(0))
        if not plus and not re.search(r"[-()]", m.group(0)):
            return None  # '8 100 200 300' is a grouped number, not a phone
        return (f"{plus_word} " if plus else "") + ", ".join(say_group(g) for g in groups)

    return replace


def address_speller(words: dict[str, str], digits: Callable[[str], str]) -> Callable[[re.Match], str]:
    """A rule body reading an e-mail address or URL with a language's symbol words and numbers.

    Digits are read one by one ("mail2" -> two, "/12-sm" -> one two): in an address they are a
    code, not a quantity. The sentence's punctuation after a URL is kept out of it.
    """

    def replace(m: re.Match) -> str:
        body, tail = strip_url_tail(m.group(0))
        return spell_address(body, words, digits) + tail

    return replace


def spell_address(s: str, words: dict[str, str], say_digits: Callable[[str], str]) -> str:
    """A URL or e-mail address read out: Latin words kept, letters of 'https'/'www' spelled,
    digits through `say_digits`, symbols through `words` (e.g. {'.': 'dot'})."""
    out: list[str] = []
    for kind, tok in split_address(s):
        if kind == "word":
            out.append(" ".join(tok) if tok.lower() in SPELLED_WORDS else tok)
        elif kind == "digits":
            out.append(say_digits(tok))
        else:
            out.append(words.get(tok, ""))
    return " ".join(w for w in out if w)


# Written as words but read letter by letter.
SPELLED_WORDS = {"http", "https", "www", "ftp"}


# A local number with no area code: 555-1234, 123-45-67.
LOCAL_PHONE_RE = re.compile(r"(?<![\w+.,/-])\d{3}-(?:\d{4}|\d{2}-\d{2})(?![\w-]|[.,]\d)")


def phone_groups(s: str) -> tuple[bool, list[str]]:
    """'+7 (495) 123-45-67' -> (True, ['7', '495', '123', '45', '67']): the groups as written."""
    return s.lstrip().startswith("+"), re.findall(r"\d+", s)


# A phone number: optional +country, optional (area), then 2-4 digit groups joined by space or dash.
PHONE_RE = re.compile(
    r"(?<![\w+.,/-])(?:\+\d{1,3}[ \u00a0-]?(?:\(\d{2,5}\)|\d{2,5})|\(\d{3,5}\)|8[ \u00a0-]?\(?\d{3}\)?)"
    r"(?:[ \u00a0-]?\d{2,4}){2,4}(?![\w-]|[.,]\d)"
)


def abbreviation_pattern(abbr: str, before: str = "", after: str = "") -> re.Pattern:
    """'т.е.' -> a pattern that also takes 'т. е.' and 'Т.е.'; `before`/`after` are extra look-arounds."""
    parts = [re.escape(p) for p in abbr.split(".")]
    body = r"\.[ \u00a0]?".join(parts[:-1]) + (r"\." if abbr.endswith(".") else parts[-1])
    if not abbr.endswith("."):
        body += r"(?!\w)"
    first = abbr[0]
    # Only the first letter may change case: a sentence may start with it.
    head = f"[{first.lower()}{first.upper()}]" if first.isalpha() else re.escape(first)
    rest = body[len(re.escape(first)):]
    if before:
        return re.compile(r"(?<![\w.])" + before + "(?:" + head + rest + ")" + after)
    # The first character before the look-behind (which then spans it): a pattern that starts with
    # a character lets the regex engine skip to where that character occurs, 4-6x faster than
    # trying the look-behind at every position.
    return re.compile(head + r"(?<![\w.]" + head + ")" + rest + after)


def abbreviation_rule(abbr: str, expansion: str, before: str = "", after: str = "", may_end: bool = False) -> Rule:
    """A Rule writing `abbr` out; a capital stays a capital. `may_end`: the abbreviation often ends a
    sentence ('и т.д.', 'etc.'), so its dot is kept when a capital or the end of the text follows."""

    def replace(m: re.Match) -> str:
        out = expansion
        if m.group(0)[:1].isupper() and not abbr[:1].isupper():
            out = out[:1].upper() + out[1:]
        if may_end and m.group(0).endswith(".") and ends_sentence(m.string, m.end()):
            out += "."
        return out

    return Rule(f"abbreviation {abbr}", abbreviation_pattern(abbr, before, after), replace)


def ends_sentence(text: str, pos: int) -> bool:
    """After an abbreviation's dot: the end of the text, or spaces then a capital letter or a newline."""
    m = re.match(r"[ \u00a0]*(\n|$|[«\"(“]?[A-ZА-ЯЁ])", text[pos : pos + 8])
    return m is not None
