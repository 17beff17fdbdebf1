"""What a supplier's price-list cell means: strengths, prices, schedules, TGA categories, dose forms, pack sizes,
access pathways, ARTG numbers. Pure functions, no I/O; each raises CellError with a message a supplier admin can act
on. Facts and pitfalls: ../shared/reference/au-medicinal-cannabis.md §2 and §7.

The parsers are memoised: a list repeats the same forms, schedules, packs and strengths on most of its rows.

Strengths keep what the supplier wrote: an operator (`<` for "<1%", `=` otherwise), a range (min..max for
"20-24%"), the unit (`%`, `mg/g`, `mg/mL`, `mg/unit`). Money is Decimal, never float."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

BLANKS = {"", "n/a", "na", "-", "–", "—", "none", "nil", "tbc", "nan"}
NOT_DETECTED = {"nd", "not detected", "trace", "0"}


class CellError(ValueError):
    """A cell that cannot be read; the message names what was expected."""


def is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return _blank_text(value)
    return isinstance(value, float) and math.isnan(value)


@lru_cache(maxsize=8192)
def _blank_text(value: str) -> bool:  # lists repeat their texts: each is judged once
    return value.strip().casefold() in BLANKS


@lru_cache(maxsize=8192)
def text(value: object) -> str | None:
    """A cell as trimmed text (whitespace collapsed), None when blank. 10.0 reads as "10"."""
    if is_blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(value))).strip() or None


def header_key(value: object) -> str:
    """A header as compared with a mapping's names: trimmed, case-folded, whitespace collapsed."""
    return (text(value) or "").casefold()


# --- strengths -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Amount:
    op: str  # "=" or "<"
    low: Decimal
    high: Decimal
    unit: str  # "%", "mg/g", "mg/mL", "mg/unit"

    @property
    def upper(self) -> Decimal:
        """The bound to judge a category or schedule by (the top of a range, the limit of "<1%")."""
        return self.high


UNITS = {
    "%": "%", "% w/w": "%", "%w/w": "%", "mg/g": "mg/g", "mg/ml": "mg/mL", "mg / ml": "mg/mL",
    "mg/piece": "mg/unit", "mg per piece": "mg/unit", "mg/capsule": "mg/unit", "mg/cap": "mg/unit",
    "mg/unit": "mg/unit", "mg/pastille": "mg/unit", "mg/spray": "mg/unit", "mg": "mg/unit",
}  # fmt: skip
NUMBER = r"(\d+(?:\.\d+)?)"
UNIT = (r"(?:%\s*w/w|%|mg\s*/\s*ml|mg/g|mg\s*per\s*piece|mg/piece|mg/capsule|mg/cap|mg/unit|mg/pastille|mg/spray"
        r"|mg)")  # fmt: skip
AMOUNT = re.compile(
    rf"^(?P<op><|≤|<=|less than)?\s*{NUMBER}(?:\s*(?:-|–|to)\s*{NUMBER})?\s*(?P<unit>{UNIT})?$", re.IGNORECASE
)


@lru_cache(maxsize=8192)
def amount(value: object, default_unit: str | None, fraction_is_percent: bool = False) -> Amount | None:
    """One cannabinoid's content: "25%", "<1%", "20-24 %", "10 mg/mL", "ND", a bare 25 (in `default_unit`), or a
    spreadsheet percentage 0.25 (`fraction_is_percent`, for a %-formatted column). None when blank."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not is_blank(value):
        number = Decimal(str(value))
        if fraction_is_percent and number < 1:
            number *= 100
        if default_unit is None:
            raise CellError(f"{value} has no unit and the column names none")
        return Amount("=", number.normalize(), number.normalize(), default_unit)
    cell = text(value)
    if cell is None:
        return None
    cell = re.sub(r"^(thc|cbd)\s*:?\s*", "", cell, flags=re.IGNORECASE).strip()
    if cell.casefold() in NOT_DETECTED:
        return Amount("=", Decimal(0), Decimal(0), default_unit or "%")
    found = AMOUNT.match(cell)
    if not found:
        raise CellError(f"{cell!r} is not a strength (e.g. 20%, <1%, 20-24%, 10 mg/mL)")
    low = Decimal(found.group(2))
    high = Decimal(found.group(3)) if found.group(3) else low
    if high < low:
        raise CellError(f"{cell!r}: the range runs backwards")
    unit_text = (found.group("unit") or "").casefold().replace(" ", "")
    unit = UNITS.get(unit_text, UNITS.get(found.group("unit") or "", None)) if unit_text else default_unit
    if unit is None:
        raise CellError(f"{cell!r} has no unit and the column names none")
    op = "<" if found.group("op") else "="
    return Amount(op, low.normalize(), high.normalize(), unit)


VALUE = rf"[<≤]?\s*[\d.]+(?:\s*[-–]\s*[\d.]+)?\s*{UNIT}?"
PAIR = re.compile(
    rf"(?P<a>thc|cbd|t|c)\s*:?\s*(?P<av>{VALUE})\s*(?:/|:|,|;|\+|and)\s*(?P<b>thc|cbd|t|c)\s*:?\s*(?P<bv>{VALUE})",
    re.IGNORECASE,
)
ONE = re.compile(r"^(?P<a>thc|cbd)\s*:?\s*(?P<av>.+)$", re.IGNORECASE)


@lru_cache(maxsize=8192)
def strengths(value: object, default_unit: str | None) -> tuple[Amount | None, Amount | None]:
    """THC and CBD from one "Strength" cell: "THC 20% / CBD <1%", "T20:C5", "CBD 100 mg/mL, THC <1 mg/mL",
    "THC 10 mg/mL". A bare ratio without names ("20:5") is refused: which is which cannot be known."""
    cell = text(value)
    if cell is None:
        return None, None
    pair = PAIR.search(cell)
    parts: dict[str, str] = {}
    if pair:
        parts[pair.group("a")[0].casefold()] = pair.group("av")
        parts[pair.group("b")[0].casefold()] = pair.group("bv")
        if len(parts) != 2:
            raise CellError(f"{cell!r} names the same cannabinoid twice")
    else:
        one = ONE.match(cell)
        if not one:
            raise CellError(f"{cell!r}: name each cannabinoid (e.g. THC 20% / CBD <1%)")
        parts[one.group("a")[0].casefold()] = one.group("av")
    unit_hint = next((a.unit for a in (_maybe(v, None) for v in parts.values()) if a), default_unit)
    thc = amount(parts["t"], unit_hint) if "t" in parts else None
    cbd = amount(parts["c"], unit_hint) if "c" in parts else None
    return thc, cbd


def _maybe(value: str, unit: str | None) -> Amount | None:
    try:
        return amount(value, unit)
    except CellError:
        return None


# --- money, counts ------------------------------------------------------------------------------------------------
PRICE = re.compile(r"^(?:a?\$|aud)?\s*(\d{1,3}(?:,\d{3})*(?:\.\d+)?|\d+(?:\.\d+)?)\s*(?P<tax>inc\.?\s*gst|ex\.?\s*gst|"
                   r"excl?\.?\s*gst|\+\s*gst)?$", re.IGNORECASE)  # fmt: skip


@dataclass(frozen=True)
class Price:
    amount: Decimal  # dollars, two places
    gst: str | None  # "inc" | "ex" when the cell says so


@lru_cache(maxsize=8192)
def price(value: object) -> Price | None:
    """ "$120.00", "120", "1,250.50", "$99 inc GST", 120.0. None when blank; "POA" and other text is refused."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not is_blank(value):
        number = Decimal(str(value))
        return Price(number.quantize(Decimal("0.01")), None)
    cell = text(value)
    if cell is None:
        return None
    found = PRICE.match(cell)
    if not found:
        raise CellError(f"{cell!r} is not a price (e.g. $120.00)")
    try:
        number = Decimal(found.group(1).replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        raise CellError(f"{cell!r} is not a price") from None
    tax = (found.group("tax") or "").casefold()
    gst = "inc" if tax.startswith("inc") else ("ex" if tax else None)
    return Price(number.quantize(Decimal("0.01")), gst)


PACK = re.compile(r"^(\d+(?:\.\d+)?)\s*(g|gm|grams?|ml|mls|millilitres?|pieces?|pcs|capsules?|caps|pastilles?|"
                  r"sprays?|units?|x)?$", re.IGNORECASE)  # fmt: skip
PACK_UNITS = {"g": "g", "gm": "g", "gram": "g", "grams": "g", "ml": "mL", "mls": "mL", "millilitre": "mL",
              "millilitres": "mL"}  # fmt: skip


@lru_cache(maxsize=8192)
def pack(value: object, default_unit: str | None) -> tuple[Decimal, str] | None:
    """ "10 g", "25mL", "30 pieces", 10.0 (in `default_unit`) → (10, "g"). None when blank."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not is_blank(value):
        if default_unit is None:
            raise CellError(f"pack size {value} has no unit")
        return Decimal(str(value)).normalize(), default_unit
    cell = text(value)
    if cell is None:
        return None
    found = PACK.match(cell)
    if not found:
        raise CellError(f"{cell!r} is not a pack size (e.g. 10 g, 25 mL, 30 pieces)")
    unit_word = (found.group(2) or "").casefold()
    unit = PACK_UNITS.get(unit_word, "units" if unit_word else default_unit)
    if unit is None:
        raise CellError(f"pack size {cell!r} has no unit")
    return Decimal(found.group(1)).normalize(), unit


# --- classification ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=8192)
def schedule(value: object) -> str | None:
    """ "S8", "8", "Schedule 8", "Sch 8", "CD" → "S8"; S3/S4 likewise. S9 (prohibited) and others are refused."""
    cell = text(value)
    if cell is None:
        return None
    key = cell.casefold().replace(" ", "")
    if key in ("cd", "controlleddrug"):
        return "S8"
    found = re.fullmatch(r"(?:s|sch|schedule)?\.?(\d)", key)
    if not found:
        raise CellError(f"{cell!r} is not a poisons schedule (S3, S4 or S8)")
    number = found.group(1)
    if number == "9":
        raise CellError("Schedule 9 (prohibited) products cannot be prescribed")
    if number not in ("3", "4", "8"):
        raise CellError(f"S{number} is not a schedule for medicinal cannabis (S3, S4 or S8)")
    return f"S{number}"


@lru_cache(maxsize=8192)
def category(value: object) -> int | None:
    """ "5", "Cat 5", "Category 5 – THC", 5.0 → 5 (TGA categories 1–5)."""
    cell = text(value)
    if cell is None:
        return None
    found = re.match(r"^(?:cat(?:egory)?\.?\s*)?([1-5])(?:\b|$)", cell, re.IGNORECASE)
    if not found:
        raise CellError(f"{cell!r} is not a TGA category (1 to 5)")
    return int(found.group(1))


FORMS = {
    "flower": ("flower", "dried flower", "dried herb", "herb", "bud", "dried cannabis", "flos"),
    "oil": ("oil", "oral liquid", "tincture", "elixir", "oral solution", "liquid"),
    "capsule": ("capsule", "capsules", "soft-gel", "softgel", "soft gel"),
    "pastille": ("pastille", "pastilles", "gummy", "gummies", "lozenge", "troche", "chewable"),
    "spray": ("spray", "oromucosal spray", "oral spray", "mouth spray"),
    "vape_cartridge": ("vape cartridge", "cartridge", "vape", "resin cartridge", "vaporiser cartridge", "cart"),
}
FORM_WORDS = {word: form for form, words in FORMS.items() for word in words}
STRENGTH_UNIT = {"flower": "%", "oil": "mg/mL", "capsule": "mg/unit", "pastille": "mg/unit", "spray": "mg/unit",
                 "vape_cartridge": "mg/g"}  # fmt: skip
PACK_UNIT = {"flower": "g", "oil": "mL", "capsule": "units", "pastille": "units", "spray": "mL",
             "vape_cartridge": "g"}  # fmt: skip


@lru_cache(maxsize=8192)
def form(value: object) -> str | None:
    """The dose form in one vocabulary: flower, oil, capsule, pastille, spray, vape_cartridge."""
    cell = text(value)
    if cell is None:
        return None
    key = cell.casefold()
    if key in FORM_WORDS:
        return FORM_WORDS[key]
    for word, found in sorted(FORM_WORDS.items(), key=lambda item: -len(item[0])):
        if re.search(rf"\b{re.escape(word)}\b", key):
            return found
    raise CellError(f"{cell!r} is not a dose form we know ({', '.join(FORMS)})")


@lru_cache(maxsize=8192)
def strain(value: object) -> str | None:
    cell = text(value)
    if cell is None:
        return None
    key = cell.casefold()
    for name in ("indica", "sativa", "hybrid"):
        if key.startswith(name[:3]):
            return name
    if key in ("inc",):  # Botanitech's name prefix (assumed indica, unverified)
        return "indica"
    raise CellError(f"{cell!r} is not a strain type (indica, sativa, hybrid)")


PATHWAYS = {"sas-a": "SAS-A", "sas a": "SAS-A", "sasa": "SAS-A", "sas-b": "SAS-B", "sas b": "SAS-B", "sasb": "SAS-B",
            "sas": "SAS-B", "ap": "AP", "authorised prescriber": "AP", "authorized prescriber": "AP",
            "artg": "ARTG", "registered": "ARTG", "artg-registered": "ARTG"}  # fmt: skip


@lru_cache(maxsize=8192)
def pathways(value: object) -> tuple[str, ...]:
    """ "SAS B / AP", "SAS-B or Authorised Prescriber" → ["AP", "SAS-B"]."""
    cell = text(value)
    if cell is None:
        return ()
    found = set()
    for part in re.split(r"\s*(?:/|,|;|\bor\b|\band\b|&)\s*", cell.casefold()):
        part = part.strip(" .")
        if not part:
            continue
        if part not in PATHWAYS:
            raise CellError(f"{part!r} is not an access pathway (SAS-A, SAS-B, Authorised Prescriber, ARTG)")
        found.add(PATHWAYS[part])
    return tuple(sorted(found))


ARTG = re.compile(r"^(?:aust\s*(?:r|l|l\(a\))\s*)?(\d{4,7})$", re.IGNORECASE)


@lru_cache(maxsize=8192)
def artg(value: object) -> str | None:
    """An ARTG number ("AUST R 123456" or its digits) as its digits; None for the usual blank or "N/A"."""
    cell = text(value)
    if cell is None:
        return None
    found = ARTG.match(cell.replace(" ", " "))
    if not found:
        raise CellError(f"{cell!r} is not an ARTG number (AUST R followed by digits)")
    return found.group(1)


def interval(value: Amount) -> tuple[Decimal, Decimal]:
    """The values a stated content allows: "<1%" is anything from 0 up to 1."""
    return (Decimal(0) if value.op == "<" else value.low), value.high


def _category_of(thc: Decimal, cbd: Decimal) -> int | None:
    total = thc + cbd
    if total == 0:
        return None
    cbd_share, thc_share = cbd / total * 100, thc / total * 100
    if cbd_share >= 98:
        return 1
    if cbd_share >= 60:
        return 2
    if cbd_share >= 40:
        return 3
    return 4 if thc_share <= 98 else 5


def computed_category(thc: Amount | None, cbd: Amount | None) -> int | None:
    """The TGA category the THC and CBD figures imply, counting only those two; None when either is missing, they
    are in different units, or the figures allow more than one category (a flower at 28 % THC and "<1 %" CBD may be
    4 or 5). A check only: the supplier's declared category is what the product carries."""
    if thc is None or cbd is None or thc.unit != cbd.unit:
        return None
    found = {_category_of(t, c) for t in interval(thc) for c in interval(cbd)}
    return found.pop() if len(found) == 1 else None


def schedule_for_category(value: int) -> str:
    return "S4" if value == 1 else "S8"
