"""Australian identifiers: Medicare card, IHI/HPI-I/HPI-O, PBS prescriber and Medicare provider numbers,
AHPRA registration, DVA file number."""

from __future__ import annotations

import calendar
import re
from datetime import date

from rxcore.checkdigits import luhn_valid
from rxcore.identifiers import InvalidIdentifier, compact

_MEDICARE_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9)


def normalise_medicare(value: object, irn: object = None) -> tuple[str, str | None]:
    """A Medicare card number (10 digits: 8-digit identifier starting 2-6, check digit, issue number 1-9),
    optionally with the IRN as an 11th digit or given apart. Returns (10-digit card number, IRN or None)."""
    number = compact(value)
    if not re.fullmatch(r"\d{10,11}", number):
        raise InvalidIdentifier("a Medicare card number has 10 digits (11 with the IRN)")
    card, embedded_irn = number[:10], number[10:] or None
    if card[0] not in "23456":
        raise InvalidIdentifier("a Medicare card number starts with 2 to 6")
    if sum(int(d) * w for d, w in zip(card[:8], _MEDICARE_WEIGHTS, strict=True)) % 10 != int(card[8]):
        raise InvalidIdentifier("the Medicare card number's check digit is wrong")
    if card[9] == "0":
        raise InvalidIdentifier("the Medicare card's issue number cannot be 0")
    given = None if irn in (None, "") else compact(str(irn))
    if given is not None and embedded_irn is not None and given != embedded_irn:
        raise InvalidIdentifier("the IRN given does not match the 11th digit of the Medicare number")
    reference = given or embedded_irn
    if reference is not None and not re.fullmatch(r"[1-9]", reference):
        raise InvalidIdentifier("a Medicare IRN is one digit from 1 to 9")
    return card, reference


def medicare_expiry(value: object) -> str:
    """The card's "valid to" month as YYYY-MM (also accepts MM/YYYY and MM/YY)."""
    text = compact(value, keep="-") if isinstance(value, str) else ""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text) or re.fullmatch(r"(\d{2})/(\d{2}|\d{4})", text)
    if not match:
        raise InvalidIdentifier("a Medicare expiry is a month: YYYY-MM or MM/YYYY")
    year, month = (match.group(1), match.group(2)) if "-" in text else (match.group(2), match.group(1))
    year_number = int(year) + (2000 if len(year) == 2 else 0)
    if not 1 <= int(month) <= 12:
        raise InvalidIdentifier("a Medicare expiry month is 01 to 12")
    return f"{year_number:04d}-{int(month):02d}"


def medicare_card_current(expiry: str, on: date) -> bool:
    """A card is valid through the last day of its "valid to" month."""
    year, month = map(int, expiry.split("-"))
    return on <= date(year, month, calendar.monthrange(year, month)[1])


_HI_PREFIX = {"IHI": "800360", "HPI-I": "800361", "HPI-O": "800362"}


def normalise_healthcare_identifier(kind: str, value: object) -> str:
    """IHI (patients, 800360…), HPI-I (practitioners, 800361…), HPI-O (organisations, 800362…): 16 digits, Luhn."""
    number = compact(value)
    if not re.fullmatch(r"\d{16}", number):
        raise InvalidIdentifier(f"an {kind} has 16 digits")
    if not number.startswith(_HI_PREFIX[kind]):
        raise InvalidIdentifier(f"an {kind} starts with {_HI_PREFIX[kind]}")
    if not luhn_valid(number):
        raise InvalidIdentifier(f"the {kind}'s check digit is wrong")
    return number


def pbs_prescriber_number(value: object) -> tuple[str, list[str]]:
    """7 digits. The check digit scheme is unofficial, so a failure is a warning, never a refusal."""
    number = compact(value)
    if not re.fullmatch(r"\d{7}", number):
        raise InvalidIdentifier("a PBS prescriber number has 7 digits")
    digits = [int(d) for d in number]
    if digits[0] == 0:
        remainder = sum(d * w for d, w in zip(digits[:6], (0, 5, 8, 4, 2, 1), strict=True)) % 11
    else:
        remainder = sum(d * w for d, w in zip(digits[:6], (1, 3, 7, 9, 1, 3), strict=True)) % 10
    warnings = [] if remainder == digits[6] else ["the PBS prescriber number's check digit does not match"]
    return number, warnings


_LOCATION_VALUES = "0123456789ABCDEFGHJKLMNPQRTUVWXY"  # practice location characters (no I, O, S, Z)
_PROVIDER_CHECK = "YXWTLKJHFBA"


def normalise_provider_number(value: object) -> str:
    """Medicare provider number: 6-digit stem, practice location character, check character."""
    number = compact(value)
    if not re.fullmatch(r"\d{6}[0-9A-HJ-NP-RT-Y][A-Z]", number):
        raise InvalidIdentifier("a Medicare provider number is 6 digits, a location character and a check letter")
    total = sum(int(d) * w for d, w in zip(number[:6], (3, 5, 8, 4, 2, 1), strict=True))
    total += 6 * _LOCATION_VALUES.index(number[6])
    if _PROVIDER_CHECK[total % 11] != number[7]:
        raise InvalidIdentifier("the Medicare provider number's check character is wrong")
    return number


_DVA = re.compile(r"^[NVQWST](?:[A-Z ]\d{6}|[A-Z]{2}\d{5}|[A-Z]{3}\d{4})[A-Z]?$")


def normalise_dva_number(value: object) -> str:
    """DVA file number: state letter, war code and digits (7 characters), optional dependant letter.
    A space is meaningful here (the WW1 war code), so only the ends are trimmed."""
    if not isinstance(value, str):
        raise InvalidIdentifier("must be text")
    number = value.strip().upper()
    if not _DVA.match(number):
        raise InvalidIdentifier("a DVA file number looks like NX123456 (state letter N, V, Q, W, S or T)")
    return number
