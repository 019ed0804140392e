"""Russian abbreviations written out: т.е., и т.д., ул., г. (город), д. 5 (дом), и др."""

from __future__ import annotations

from qwentts_cli.text.normalize.common import abbreviation_rule

_BEFORE_NUMBER = r"(?=[ \u00a0]?\d)"
_BEFORE_NAME = r"(?=[ \u00a0]?[А-ЯЁ])"

RULES = [
    abbreviation_rule("и т.д.", "и так далее", may_end=True),
    abbreviation_rule("и т.п.", "и тому подобное", may_end=True),
    abbreviation_rule("и др.", "и другие", may_end=True),
    abbreviation_rule("и пр.", "и прочее", may_end=True),
    abbreviation_rule("в т.ч.", "в том числе"),
    abbreviation_rule("т.е.", "то есть"),
    abbreviation_rule("т.к.", "так как"),
    abbreviation_rule("т.н.", "так называемый"),
    abbreviation_rule("н.э.", "нашей эры", may_end=True),
    abbreviation_rule("напр.", "например"),
    abbreviation_rule("см.", "смотри"),
    abbreviation_rule("ул.", "улица"),
    abbreviation_rule("пр-т", "проспект"),
    abbreviation_rule("просп.", "проспект"),
    abbreviation_rule("пл.", "площадь"),
    abbreviation_rule("обл.", "область"),
    abbreviation_rule("р-н", "район"),
    abbreviation_rule("по тел.", "по телефону"),  # the usual phrase; "тел." alone is nominative
    abbreviation_rule("тел.", "телефон"),
    abbreviation_rule("д-р", "доктор"),
    abbreviation_rule("г-н", "господин"),
    abbreviation_rule("г-жа", "госпожа"),
    abbreviation_rule("проф.", "профессор"),
    abbreviation_rule("акад.", "академик"),
    abbreviation_rule("им.", "имени"),
    abbreviation_rule("рис.", "рисунок"),
    abbreviation_rule("табл.", "таблица"),
    # These are only read before a number or a name: "д. 5" is a house, "г. Москва" a city.
    abbreviation_rule("д.", "дом", after=_BEFORE_NUMBER),
    abbreviation_rule("кв.", "квартира", after=_BEFORE_NUMBER),
    abbreviation_rule("корп.", "корпус", after=_BEFORE_NUMBER),
    abbreviation_rule("стр.", "страница", after=_BEFORE_NUMBER),
    abbreviation_rule("гл.", "глава", after=_BEFORE_NUMBER),
    abbreviation_rule("т.", "том", after=_BEFORE_NUMBER),
    abbreviation_rule("№", "номер"),
    abbreviation_rule("г.", "город", after=_BEFORE_NAME),
    abbreviation_rule("др.", "другие", may_end=True),
    abbreviation_rule("тыс.", "тысяч", may_end=True),
    abbreviation_rule("руб.", "рублей", may_end=True),
    abbreviation_rule("коп.", "копеек", may_end=True),
]
