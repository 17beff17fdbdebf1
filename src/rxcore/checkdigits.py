"""Check-digit algorithms used by healthcare identifiers (pure functions, no I/O).

- Verhoeff: SNOMED CT concept ids, hence every dm+d id (VTM, VMP, AMP, VMPP, AMPP, ingredient, lookup ids).
- GS1 mod 10: GTIN-8/12/13/14 barcodes on medicine packs.
- Modulus 11 (weights 10..2): the NHS number.
- ISO/IEC 7064 MOD 37-2 with `+` for 36: the EPS prescription ID's check character.
- Luhn: the Australian IHI, HPI-I and HPI-O.
"""

from __future__ import annotations

# Verhoeff tables: multiplication in the dihedral group D5, the position permutation, and the inverse.
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def _verhoeff_state(digits: str, offset: int) -> int:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[(i + offset) % 8][ord(ch) - 48]]
    return c


def verhoeff_digit(payload: str) -> str:
    """The Verhoeff check digit to append to `payload` (a string of digits)."""
    if not payload.isdigit():
        raise ValueError("payload must be digits")
    return str(_INV[_verhoeff_state(payload, 1)])


def verhoeff_valid(number: str) -> bool:
    """True when `number` (digits, check digit last) passes the Verhoeff check."""
    return len(number) > 1 and number.isascii() and number.isdigit() and _verhoeff_state(number, 0) == 0


def gs1_digit(payload: str) -> str:
    """The GS1 mod-10 check digit for a GTIN body (weights 3,1,3,... from the right)."""
    if not payload.isdigit():
        raise ValueError("payload must be digits")
    total = sum(int(ch) * (3 if i % 2 == 0 else 1) for i, ch in enumerate(reversed(payload)))
    return str((10 - total % 10) % 10)


def gtin_valid(gtin: str) -> bool:
    """A GTIN-8, -12, -13 or -14 with a correct GS1 check digit (kept as text: leading zeros matter)."""
    return len(gtin) in (8, 12, 13, 14) and gtin.isascii() and gtin.isdigit() and gs1_digit(gtin[:-1]) == gtin[-1]


def snomed_id_valid(sctid: str) -> bool:
    """A SNOMED CT concept id: 6-18 digits, no leading zero, partition 00 or 10, Verhoeff check digit."""
    return 6 <= len(sctid) <= 18 and sctid[0] != "0" and sctid[-3:-1] in ("00", "10") and verhoeff_valid(sctid)


def nhs_mod11_digit(stem: str) -> int | None:
    """The NHS number check digit for a 9-digit stem, or None when the stem has none (remainder gives 10)."""
    check = 11 - sum(int(ch) * weight for ch, weight in zip(stem, range(10, 1, -1), strict=True)) % 11
    return None if check == 10 else check % 11


MOD37_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ+"


def _mod37_total(payload: str) -> int:
    total = 0
    for ch in payload:
        total = ((total + int(ch, 36)) * 2) % 37
    return total


def mod37_2_char(payload: str) -> str:
    """ISO/IEC 7064 MOD 37-2 check character for `payload` (0-9, A-Z), with `+` standing for 36."""
    return MOD37_ALPHABET[(38 - _mod37_total(payload)) % 37]


def mod37_2_valid(payload: str, check: str) -> bool:
    if check not in MOD37_ALPHABET or not payload.isascii() or not payload.isalnum() or payload != payload.upper():
        return False
    return (_mod37_total(payload) + MOD37_ALPHABET.index(check)) % 37 == 1


def luhn_valid(number: str) -> bool:
    """Luhn over every digit (check digit last)."""
    if not number.isascii() or not number.isdigit():
        return False
    total = 0
    for i, digit in enumerate(map(int, reversed(number))):
        if i % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0
