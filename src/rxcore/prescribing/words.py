"""Quantities in words, as controlled-drug prescriptions need them ("fifty-six (56) tablets").

`words_to_number` reads what prescribers write: hyphens or spaces, "and", upper or lower case, up to
999,999, and a decimal part after "point" ("seven point five"). `number_to_words` writes the same style."""

from __future__ import annotations

import re
from decimal import Decimal

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split()
)
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_VALUE = {word: i for i, word in enumerate(_UNITS)} | {word: 20 + 10 * i for i, word in enumerate(_TENS)}
_SCALE = {"hundred": 100, "thousand": 1000}


def words_to_number(text: str) -> Decimal | None:
    """The number written in `text`, or None when it is not a number in words."""
    tokens = [t for t in re.split(r"[\s\-,]+", text.strip().lower()) if t and t != "and"]
    if not tokens:
        return None
    if "point" in tokens:
        at = tokens.index("point")
        whole, fraction = tokens[:at], tokens[at + 1 :]
        if not fraction or any(t not in _UNITS[:10] for t in fraction):
            return None
        integer = _integer(whole) if whole else 0
        if integer is None:
            return None
        return Decimal(f"{integer}." + "".join(str(_VALUE[t]) for t in fraction))
    integer = _integer(tokens)
    return None if integer is None else Decimal(integer)


def _integer(tokens: list[str]) -> int | None:
    total, current = 0, 0
    last = None  # guards against "five five" or "twenty thirty"
    for token in tokens:
        if token in _VALUE:
            value = _VALUE[token]
            if last == "unit" or (last == "ten" and (value >= 10)):
                return None
            current += value
            last = "ten" if value >= 20 else "unit"
        elif token == "hundred":
            if current == 0 or current >= 100:
                return None
            current *= 100
            last = "hundred"
        elif token == "thousand":
            if current == 0 and total == 0:
                return None
            total, current = (total + current) * 1000, 0
            last = "thousand"
        else:
            return None
    return total + current


def number_to_words(value: Decimal | int | float) -> str:
    number = Decimal(str(value)).normalize()
    if number < 0 or number >= 1_000_000:
        raise ValueError("quantities in words go from 0 to 999,999")
    integer = int(number)
    text = _integer_words(integer)
    fraction = number - integer
    if fraction:
        digits = format(fraction, "f").split(".")[1]
        text += " point " + " ".join(_UNITS[int(d)] for d in digits)
    return text


def _integer_words(n: int) -> str:
    if n < 20:
        return _UNITS[n]
    if n < 100:
        return _TENS[n // 10 - 2] + ("" if n % 10 == 0 else "-" + _UNITS[n % 10])
    if n < 1000:
        rest = n % 100
        return _UNITS[n // 100] + " hundred" + ("" if rest == 0 else " and " + _integer_words(rest))
    rest = n % 1000
    joiner = "" if rest == 0 else (" and " if rest < 100 else " ")
    return _integer_words(n // 1000) + " thousand" + ("" if rest == 0 else joiner + _integer_words(rest))


def quantity_text(quantity: object, words: str | None, unit: str) -> str:
    """ "56 (fifty-six) tablets": figures, then the prescriber's words (or ours), then the unit."""
    number = Decimal(str(quantity))
    return f"{number.normalize():f} ({words or number_to_words(number)}) {unit}"
