"""English unit and currency names, singular and plural, keyed by how they are written after a number."""

from __future__ import annotations

from typing import NamedTuple


class Word(NamedTuple):
    one: str
    many: str

    def after(self, singular: bool) -> str:
        return self.one if singular else self.many


def _w(one: str, many: str | None = None) -> Word:
    return Word(one, many or one + "s")


UNITS: dict[str, Word] = {
    "km/h": _w("kilometer per hour", "kilometers per hour"), "kph": _w("kilometer per hour", "kilometers per hour"),
    "mph": _w("mile per hour", "miles per hour"), "m/s": _w("meter per second", "meters per second"),
    "rpm": _w("revolution per minute", "revolutions per minute"),
    "°C": _w("degree Celsius", "degrees Celsius"), "℃": _w("degree Celsius", "degrees Celsius"),
    "°F": _w("degree Fahrenheit", "degrees Fahrenheit"), "°": _w("degree"),
    "km²": _w("square kilometer"), "m²": _w("square meter"), "cm²": _w("square centimeter"),
    "ft²": _w("square foot", "square feet"), "sq ft": _w("square foot", "square feet"), "m³": _w("cubic meter"),
    "km": _w("kilometer"), "m": _w("meter"), "cm": _w("centimeter"), "mm": _w("millimeter"), "nm": _w("nanometer"),
    "mi": _w("mile"), "ft": _w("foot", "feet"), "yd": _w("yard"),
    "kg": _w("kilogram"), "g": _w("gram"), "mg": _w("milligram"), "lb": _w("pound"), "lbs": _w("pound"),
    "oz": _w("ounce"), "t": _w("ton"),
    "l": _w("liter"), "L": _w("liter"), "ml": _w("milliliter"), "mL": _w("milliliter"), "gal": _w("gallon"),
    "h": _w("hour"), "hr": _w("hour"), "hrs": _w("hour"), "min": _w("minute"), "sec": _w("second"),
    "s": _w("second"), "ms": _w("millisecond"),
    "W": _w("watt"), "kW": _w("kilowatt"), "MW": _w("megawatt"), "kWh": _w("kilowatt hour"), "V": _w("volt"),
    "A": _w("ampere"), "mAh": _w("milliamp hour"), "Hz": _w("hertz", "hertz"), "kHz": _w("kilohertz", "kilohertz"),
    "MHz": _w("megahertz", "megahertz"), "GHz": _w("gigahertz", "gigahertz"), "hp": _w("horsepower", "horsepower"),
    "kcal": _w("kilocalorie"), "cal": _w("calorie"),
    "B": _w("byte"), "KB": _w("kilobyte"), "kB": _w("kilobyte"), "MB": _w("megabyte"), "GB": _w("gigabyte"),
    "TB": _w("terabyte"), "Mbps": _w("megabit per second", "megabits per second"),
    "Gbps": _w("gigabit per second", "gigabits per second"), "MP": _w("megapixel"),
    # Upper-case and lower-case spellings seen in running text (5GB, 12KG, 3mbps).
    "KG": _w("kilogram"), "Kg": _w("kilogram"), "KM": _w("kilometer"), "Km": _w("kilometer"),
    "MG": _w("milligram"), "LB": _w("pound"), "LBS": _w("pound"), "Lbs": _w("pound"),
    "KPH": _w("kilometer per hour", "kilometers per hour"), "MPH": _w("mile per hour", "miles per hour"),
    "mbps": _w("megabit per second", "megabits per second"), "MBPS": _w("megabit per second", "megabits per second"),
    "gbps": _w("gigabit per second", "gigabits per second"), "kbps": _w("kilobit per second", "kilobits per second"),
    "Kbps": _w("kilobit per second", "kilobits per second"), "gb": _w("gigabyte"), "mb": _w("megabyte"),
    "tb": _w("terabyte"), "GHZ": _w("gigahertz", "gigahertz"), "MHZ": _w("megahertz", "megahertz"),
    "m2": _w("square meter"), "km2": _w("square kilometer"), "cm2": _w("square centimeter"), "m3": _w("cubic meter"),
    "km³": _w("cubic kilometer"), "cm³": _w("cubic centimeter"), "cm3": _w("cubic centimeter"), "cc": _w("cc", "cc"),
    "%": _w("percent", "percent"),
}
# Single capitals and "s" are also grades, initials and plurals ("a 5 A grade", "the 1990 s"): read as
# units only when nothing but punctuation follows. Lower-case m, g, l... are units before a word too.
AMBIGUOUS_UNITS = frozenset({"s", "A", "V", "W", "B"})


class Currency(NamedTuple):
    name: Word
    cents: Word | None


_DOLLAR = Currency(_w("dollar"), _w("cent"))
_EURO = Currency(_w("euro"), _w("cent"))
_POUND = Currency(_w("pound"), Word("penny", "pence"))
_RUBLE = Currency(_w("ruble"), _w("kopeck"))
_YEN = Currency(_w("yen", "yen"), None)

CURRENCY_BEFORE: dict[str, Currency] = {"$": _DOLLAR, "US$": Currency(_w("U S dollar"), _w("cent")), "€": _EURO, "£": _POUND, "¥": _YEN, "₽": _RUBLE,
                                        "₹": Currency(_w("rupee"), None), "₩": Currency(_w("won", "won"), None),
                                        "C$": Currency(_w("Canadian dollar"), _w("cent")),
                                        "A$": Currency(_w("Australian dollar"), _w("cent"))}
# Glued to an amount after a currency sign ($3.5m, ¥30b, £2bn): a letter there is a multiplier.
GLUED_MULTIPLIERS: dict[str, str] = {"k": "thousand", "K": "thousand", "m": "million", "M": "million", "mn": "million",
                                     "b": "billion", "B": "billion", "bn": "billion", "tn": "trillion",
                                     "t": "trillion", "T": "trillion"}
# Per-period prices ($15/mo): the period after the slash, as said after "per".
PER_PERIOD: dict[str, str] = {"mo": "month", "month": "month", "hr": "hour", "h": "hour", "hour": "hour",
                              "yr": "year", "year": "year", "y": "year", "wk": "week", "week": "week", "day": "day",
                              "d": "day", "night": "night", "person": "person", "user": "user", "seat": "seat",
                              "min": "minute", "kg": "kilogram", "lb": "pound", "item": "item", "unit": "unit"}
CURRENCY_AFTER: dict[str, Currency] = {
    "USD": _DOLLAR, "EUR": _EURO, "GBP": _POUND, "RUB": _RUBLE, "₽": _RUBLE, "JPY": _YEN, "€": _EURO,
    "CNY": Currency(_w("yuan", "yuan"), None), "CHF": Currency(_w("Swiss franc"), None),
    "INR": Currency(_w("rupee"), None), "BTC": Currency(_w("bitcoin"), None),
}

MULTIPLIERS: dict[str, str] = {"thousand": "thousand", "k": "thousand", "K": "thousand", "million": "million",
                               "mln": "million", "M": "million", "mn": "million", "billion": "billion", "bn": "billion",
                               "B": "billion", "trillion": "trillion", "tn": "trillion"}
