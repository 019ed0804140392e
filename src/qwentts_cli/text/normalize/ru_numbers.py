"""Russian number words in any case and gender (num2words underneath), and nouns that agree with them.

Cases are one letter, as num2words spells them: n(ominative), g(enitive), d(ative),
a(ccusative), i(nstrumental), p(repositional). Plural categories come from babel's CLDR rules
for `ru` (one / few / many / other); 'other' is what fractions take (genitive singular).
"""

from __future__ import annotations

from functools import lru_cache

from num2words import num2words

CASES = "ngdaip"
MAX_WORDS = 10**18  # beyond this a number is read digit by digit
DIGITS = ("ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять")


@lru_cache(maxsize=1)
def _locale():
    from babel import Locale

    return Locale("ru")


@lru_cache(maxsize=4096)
def plural_category(n: int | float) -> str:
    """CLDR plural category of `n` in Russian: 'one', 'few', 'many' or 'other' (fractions)."""
    return _locale().plural_form(n)


@lru_cache(maxsize=1)
def month_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(genitive 'мая', nominative 'май') month names, January first."""
    months = _locale().months
    fmt, alone = months["format"]["wide"], months["stand-alone"]["wide"]
    return tuple(fmt[i] for i in range(1, 13)), tuple(alone[i] for i in range(1, 13))


def digits(s: str) -> str:
    """'0451' -> 'ноль четыре пять один'."""
    return " ".join(DIGITS[int(c)] for c in s if "0" <= c <= "9")  # not ² or other Unicode digits


def _chunk(n: int, case: str, gender: str, animate: bool) -> str:
    return num2words(n, lang="ru", case=case, gender=gender, animate=animate)


@lru_cache(maxsize=8192)
def cardinal(n: int, case: str = "n", gender: str = "m", animate: bool = False) -> str:
    """'две тысячи двадцать четыре'; gender is that of the counted noun ('m', 'f', 'n')."""
    if n < 0:
        return "минус " + cardinal(-n, case, gender, animate)
    if n >= MAX_WORDS:
        return digits(str(n))
    if n == 0:
        return _chunk(0, case, gender, False)
    if case == "a" and animate:
        # Only 1 (одного) and plain 2-4 (двух) take the genitive in the animate accusative;
        # compounds keep the nominative (вижу двадцать два студента).
        animate = n in (2, 3, 4) or (n % 10 == 1 and n % 100 != 11)
    words: list[str] = []
    groups = []
    rest = n
    while rest:
        groups.append(rest % 1000)
        rest //= 1000
    for power in range(len(groups) - 1, -1, -1):
        chunk = groups[power]
        if chunk == 0:
            continue
        if power == 0:
            words.append(_chunk(chunk, case, gender, animate))
            continue
        # тысяча is feminine, миллион and up masculine; neither is animate.
        head = _chunk(chunk, case, "f" if power == 1 else "m", False)
        scale = num2words(chunk * 1000**power, lang="ru", case=case).split()[-1]
        if power == 1 and chunk == 1 and not words:
            words.append(scale)  # "тысяча", not "одна тысяча"
        else:
            words.append(f"{head} {scale}")
    return " ".join(words)


@lru_cache(maxsize=8192)
def ordinal(n: int, case: str = "n", gender: str = "m", plural: bool = False, animate: bool = False) -> str:
    """'двадцать первого', 'две тысячи двадцать четвёртом'."""
    if n < 0:
        return "минус " + ordinal(-n, case, gender, plural, animate)
    if n >= MAX_WORDS:
        return digits(str(n))
    return num2words(n, lang="ru", to="ordinal", case=case, gender=gender, plural=plural, animate=animate)


_COMPOUND_FIX = {"ста": "сто", "одного": "одно", "девяноста": "девяносто", "тысячи": "тысяче", "тысяч": "тысяче"}


# ----------------------------------------------------------------------------------------------
# Nouns. A paradigm is 12 forms: singular n g d a i p, then plural n g d a i p.


class Noun:
    """A noun (or adjective + noun) with its forms, so that it can follow any number."""

    def __init__(self, forms: str, gender: str, animate: bool = False, adjective: str | None = None, tail: str = ""):
        self.forms = forms.split()
        assert len(self.forms) == 12, forms
        self.adjective = adjective.split() if adjective else None
        assert self.adjective is None or len(self.adjective) == 12, adjective
        self.gender = gender
        self.animate = animate
        self.tail = tail  # words that never change: "в час", "Цельсия"

    def form(self, case: str, plural: bool) -> str:
        i = CASES.index(case) + (6 if plural else 0)
        words = [self.forms[i]]
        if self.adjective:
            words.insert(0, self.adjective[i])
        if self.tail:
            words.append(self.tail)
        return " ".join(words)

    def after(self, category: str, case: str) -> str:
        """The form after a number of plural `category` in `case`: 1 рубль, 2 рубля, 5 рублей."""
        if category == "other":  # 3,5 килограмма, о 3,5 килограмма
            return self._gen_sg()
        if case in "na":
            if case == "a" and self.animate and category != "one":
                return self.form("g", True)
            if category == "one":
                return self.form(case, False)
            if category == "few":
                if self.adjective:  # два квадратных метра: adjective genitive plural, noun genitive singular
                    i = CASES.index("g")
                    words = [self.adjective[6 + i], self.forms[i]]
                    return " ".join(words + ([self.tail] if self.tail else []))
                return self.form("g", False)
            return self.form("g", True)
        return self.form(case, category != "one")

    def _gen_sg(self) -> str:
        return self.form("g", False)


def adj(stem_hard: str, soft: bool = False) -> str:
    """Masculine adjective paradigm from a stem: 'квадратн' -> квадратный квадратного ..."""
    s = stem_hard
    y = "и" if soft or s[-1] in "кгхжшчщ" else "ы"
    return (
        f"{s}{y}й {s}ого {s}ому {s}{y}й {s}{y}м {s}ом "
        f"{s}{y}е {s}{y}х {s}{y}м {s}{y}е {s}{y}ми {s}{y}х"
    )


def adj_f(stem: str) -> str:
    """Feminine adjective paradigm: 'лошадин' -> лошадиная лошадиной ..."""
    y = "и" if stem[-1] in "кгхжшчщ" else "ы"
    return (
        f"{stem}ая {stem}ой {stem}ой {stem}ую {stem}ой {stem}ой "
        f"{stem}{y}е {stem}{y}х {stem}{y}м {stem}{y}е {stem}{y}ми {stem}{y}х"
    )


def m_hard(s: str, gen_pl: str | None = None, animate: bool = False, **kw) -> Noun:
    y = "и" if s[-1] in "кгхжшчщ" else "ы"
    gp = gen_pl or (s + ("ей" if s[-1] in "жшчщ" else "ов"))
    acc_sg = s + "а" if animate else s
    acc_pl = gp if animate else s + y
    return Noun(
        f"{s} {s}а {s}у {acc_sg} {s}{'е' if s[-1] in 'жшчщц' else 'о'}м {s}е "
        f"{s}{y} {gp} {s}ам {acc_pl} {s}ами {s}ах",
        "m",
        animate,
        **kw,
    )


def m_soft(s: str, **kw) -> Noun:
    """рубль: stem 'рубл'."""
    return Noun(f"{s}ь {s}я {s}ю {s}ь {s}ём {s}е {s}и {s}ей {s}ям {s}и {s}ями {s}ях", "m", **kw)


def f_a(s: str, gen_pl: str | None = None, **kw) -> Noun:
    """минута: stem 'минут'."""
    y = "и" if s[-1] in "кгхжшчщ" else "ы"
    o = "е" if s[-1] in "жшчщц" else "о"
    gp = gen_pl or s
    return Noun(f"{s}а {s}{y} {s}е {s}у {s}{o}й {s}е {s}{y} {gp} {s}ам {s}{y} {s}ами {s}ах", "f", **kw)


def f_ya(s: str, gen_pl: str, **kw) -> Noun:
    """неделя: stem 'недел'."""
    return Noun(f"{s}я {s}и {s}е {s}ю {s}ей {s}е {s}и {gen_pl} {s}ям {s}и {s}ями {s}ях", "f", **kw)


def indecl(word: str, gender: str, **kw) -> Noun:
    return Noun(" ".join([word] * 12), gender, **kw)


NOUNS: dict[str, Noun] = {
    # length
    "километр": m_hard("километр"),
    "метр": m_hard("метр"),
    "сантиметр": m_hard("сантиметр"),
    "миллиметр": m_hard("миллиметр"),
    "микрометр": m_hard("микрометр"),
    "нанометр": m_hard("нанометр"),
    "миля": f_ya("мил", "миль"),
    "дюйм": m_hard("дюйм"),
    "фут": m_hard("фут"),
    "ярд": m_hard("ярд"),
    # mass
    "килограмм": m_hard("килограмм"),
    "грамм": m_hard("грамм"),
    "миллиграмм": m_hard("миллиграмм"),
    "тонна": f_a("тонн"),
    "центнер": m_hard("центнер"),
    "фунт": m_hard("фунт"),
    "унция": f_ya("унци", "унций"),
    # volume, area
    "литр": m_hard("литр"),
    "миллилитр": m_hard("миллилитр"),
    "гектар": m_hard("гектар"),
    "квадратный метр": m_hard("метр", adjective=adj("квадратн")),
    "квадратный километр": m_hard("километр", adjective=adj("квадратн")),
    "квадратный сантиметр": m_hard("сантиметр", adjective=adj("квадратн")),
    "кубический метр": m_hard("метр", adjective=adj("кубическ")),
    "кубический сантиметр": m_hard("сантиметр", adjective=adj("кубическ")),
    # time
    "час": Noun("час часа часу час часом часе часы часов часам часы часами часах", "m"),
    "минута": f_a("минут"),
    "секунда": f_a("секунд"),
    "миллисекунда": f_a("миллисекунд"),
    "сутки": Noun("сутки суток суткам сутки сутками сутках сутки суток суткам сутки сутками сутках", "p"),
    "день": Noun("день дня дню день днём дне дни дней дням дни днями днях", "m"),
    "неделя": f_ya("недел", "недель"),
    "месяц": Noun("месяц месяца месяцу месяц месяцем месяце месяцы месяцев месяцам месяцы месяцами месяцах", "m"),
    "год": Noun("год года году год годом годе годы лет годам годы годами годах", "m"),
    "век": Noun("век века веку век веком веке века веков векам века веками веках", "m"),
    # speed, rotation
    "километр в час": m_hard("километр", tail="в час"),
    "метр в секунду": m_hard("метр", tail="в секунду"),
    "миля в час": f_ya("мил", "миль", tail="в час"),
    "оборот в минуту": m_hard("оборот", tail="в минуту"),
    "узел": Noun("узел узла узлу узел узлом узле узлы узлов узлам узлы узлами узлах", "m"),
    # temperature, angle
    "градус": m_hard("градус"),
    "градус Цельсия": m_hard("градус", tail="Цельсия"),
    "градус Фаренгейта": m_hard("градус", tail="Фаренгейта"),
    # electricity, power, frequency
    "ватт": m_hard("ватт", gen_pl="ватт"),
    "киловатт": m_hard("киловатт", gen_pl="киловатт"),
    "мегаватт": m_hard("мегаватт", gen_pl="мегаватт"),
    "киловатт-час": m_hard("киловатт-час"),
    "вольт": m_hard("вольт", gen_pl="вольт"),
    "ампер": m_hard("ампер", gen_pl="ампер"),
    "ом": m_hard("ом", gen_pl="ом"),
    "герц": m_hard("герц", gen_pl="герц"),
    "килогерц": m_hard("килогерц", gen_pl="килогерц"),
    "мегагерц": m_hard("мегагерц", gen_pl="мегагерц"),
    "гигагерц": m_hard("гигагерц", gen_pl="гигагерц"),
    "лошадиная сила": f_a("сил", adjective=adj_f("лошадин")),
    "калория": f_ya("калори", "калорий"),
    "килокалория": f_ya("килокалори", "килокалорий"),
    "миллиметр ртутного столба": m_hard("миллиметр", tail="ртутного столба"),
    "атмосфера": f_a("атмосфер"),
    # data
    "бит": m_hard("бит"),
    "байт": m_hard("байт"),
    "килобайт": m_hard("килобайт"),
    "мегабайт": m_hard("мегабайт"),
    "гигабайт": m_hard("гигабайт"),
    "терабайт": m_hard("терабайт"),
    "мегабит в секунду": m_hard("мегабит", tail="в секунду"),
    "гигабит в секунду": m_hard("гигабит", tail="в секунду"),
    "мегапиксель": m_soft("мегапиксел"),
    # counts
    "процент": m_hard("процент"),
    "штука": f_a("штук"),
    "экземпляр": m_hard("экземпляр"),
    "единица": f_a("единиц"),
    "человек": Noun("человек человека человеку человека человеком человеке люди человек людям людей людьми людях", "m", True),
    "тысяча": f_a("тысяч"),
    "миллион": m_hard("миллион"),
    "миллиард": m_hard("миллиард"),
    "триллион": m_hard("триллион"),
    "балл": m_hard("балл"),
    "раз": Noun("раз раза разу раз разом разе разы раз разам разы разами разах", "m"),
    # money
    "рубль": m_soft("рубл"),
    "копейка": f_a("копейк", gen_pl="копеек"),
    "доллар": m_hard("доллар"),
    "цент": m_hard("цент"),
    "евро": indecl("евро", "n"),
    "фунт стерлингов": m_hard("фунт", tail="стерлингов"),
    "пенс": m_hard("пенс"),
    "иена": f_a("иен"),
    "юань": m_soft("юан"),
    "гривна": f_a("гривн", gen_pl="гривен"),
    "тенге": indecl("тенге", "m"),
    "франк": m_hard("франк"),
    "рупия": f_ya("рупи", "рупий"),
    "биткоин": m_hard("биткоин"),
    "белорусский рубль": m_soft("рубл", adjective=adj("белорусск")),
}
