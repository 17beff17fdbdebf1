"""Prescription numbers. UK: the EPS short-form prescription ID (rxcore.identifiers.uk). Australia: no national
format is published for the Script ID, so ours is `AU-XXXXXX-XXXXXX-XXXXXC`: 17 random characters from an
alphabet without look-alikes (85 bits) and an ISO 7064 MOD 37-2 check character, so a mistyped number is
caught before any lookup."""

from __future__ import annotations

import re
import secrets

from rxcore.checkdigits import mod37_2_char, mod37_2_valid
from rxcore.identifiers import InvalidIdentifier
from rxcore.identifiers.uk import eps_prescription_id, normalise_eps_prescription_id

AU_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's: no I, L, O, U
_AU_NUMBER = re.compile(r"^AU-([0-9A-Z]{6})-([0-9A-Z]{6})-([0-9A-Z]{5})([0-9A-Z+])$")


def new_uk_number(ods_code: str, sequence: int) -> str:
    return eps_prescription_id(secrets.token_hex(3).upper(), ods_code, sequence)


def new_au_number() -> str:
    body = "".join(secrets.choice(AU_ALPHABET) for _ in range(17))
    return f"AU-{body[:6]}-{body[6:12]}-{body[12:]}{mod37_2_char(body)}"


def normalise_number(value: object) -> str:
    """A prescription number as typed or scanned: trimmed, upper-cased, check character verified."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidIdentifier("a prescription number is required")
    text = value.strip().upper()
    if text.startswith("AU-"):
        match = _AU_NUMBER.match(text)
        if not match or not mod37_2_valid("".join(match.groups()[:3]), match.group(4)):
            raise InvalidIdentifier("not a valid Australian prescription number (AU-XXXXXX-XXXXXX-XXXXXC)")
        return text
    return normalise_eps_prescription_id(text)
