"""UK identifiers: NHS number, postcode, professional registrations, ODS codes, EPS prescription ID."""

from __future__ import annotations

import re

from rxcore.checkdigits import mod37_2_char, mod37_2_valid, nhs_mod11_digit
from rxcore.identifiers import InvalidIdentifier, compact


def normalise_nhs_number(value: object) -> str:
    """10 digits with a modulus 11 check digit; repdigits (which all pass mod 11) are refused."""
    number = compact(value)
    if not re.fullmatch(r"\d{10}", number):
        raise InvalidIdentifier("an NHS number has 10 digits")
    if len(set(number)) == 1:
        raise InvalidIdentifier("an NHS number cannot be one digit repeated")
    check = nhs_mod11_digit(number[:9])
    if check is None or check != int(number[9]):
        raise InvalidIdentifier("the NHS number's check digit is wrong")
    return number


def format_nhs_number(number: str) -> str:
    return f"{number[:3]} {number[3:6]} {number[6:]}"


# Stricter than the GOV.UK regex: letters barred by position (Q/V/X first, I/J/Z second, CIKMOV inward).
_POSTCODE = re.compile(
    r"^(GIR 0AA|(?:[A-PR-UWYZ]\d[\dA-HJKPSTUW]?|[A-PR-UWYZ][A-HK-Y]\d[\dABEHMNPRVWXY]?) \d[ABD-HJLNP-UW-Z]{2})$"
)
_NHS_PSEUDO_POSTCODE = re.compile(r"^ZZ99 \d[A-Z]Z$")  # no fixed abode, not known, overseas (NHS Data Dictionary)


def normalise_postcode(value: object, *, allow_pseudo: bool = False) -> str:
    """`" ec1a 1bb "` → `EC1A 1BB`. NHS pseudo-postcodes (ZZ99 …) only when `allow_pseudo`."""
    if not isinstance(value, str):
        raise InvalidIdentifier("must be text")
    packed = re.sub(r"\s+", "", value).upper()
    if not 5 <= len(packed) <= 7:
        raise InvalidIdentifier("a UK postcode has 5 to 7 characters")
    postcode = f"{packed[:-3]} {packed[-3:]}"
    if _POSTCODE.match(postcode) or (allow_pseudo and _NHS_PSEUDO_POSTCODE.match(postcode)):
        return postcode
    raise InvalidIdentifier("not a valid UK postcode")


# Professional registers. GMC and GPhC numbers share a shape, so the register is always stored beside the number.
REGISTRATION_PATTERNS = {
    "GMC": (r"\d{7}", "a GMC reference number has 7 digits"),
    "GPhC": (r"\d{7}", "a GPhC registration number has 7 digits"),
    "NMC": (r"\d{2}[A-Z]\d{4}[A-Z]", "an NMC PIN looks like 12A3456E"),
    "HCPC": (r"[A-Z]{2}\d{6}", "an HCPC registration looks like PH095159"),
    "GDC": (r"\d{1,6}", "a GDC registration number has up to 6 digits"),
    "AHPRA": (r"[A-Z]{3}\d{10}", "an AHPRA registration number is 3 letters and 10 digits, like MED0000932846"),
}


def normalise_registration(body: str, value: object) -> str:
    if body not in REGISTRATION_PATTERNS:
        raise InvalidIdentifier(f"unknown registration body {body!r}; one of {', '.join(REGISTRATION_PATTERNS)}")
    pattern, message = REGISTRATION_PATTERNS[body]
    # AHPRA numbers are printed without spaces; a space inside one is a typing error, not formatting.
    number = value.strip().upper() if body == "AHPRA" and isinstance(value, str) else compact(value)
    if not re.fullmatch(pattern, number):
        raise InvalidIdentifier(message)
    return number


def normalise_ods_code(value: object) -> str:
    """ODS organisation codes: 1-9 letters and digits (practice A81001, pharmacy FVR79, branch K81003001)."""
    code = compact(value)
    if not re.fullmatch(r"[A-Z0-9]{3,9}", code) or code.isdigit():
        raise InvalidIdentifier("an ODS code is 3 to 9 letters and digits, like A81001 or FVR79")
    return code


_EPS_ID = re.compile(r"^([0-9A-F]{6})-([0-9A-Z]{6})-([0-9A-F]{5})([0-9A-Z+])$")


def eps_prescription_id(random_hex: str, ods_code: str, sequence: int) -> str:
    """`RRRRRR-OOOOOO-SSSSSC`: 6 random hex digits, the ODS code left-padded with 0 to 6, a 5-hex per-practice
    sequence (wrapping after FFFFF) and an ISO 7064 MOD 37-2 check character."""
    if not re.fullmatch(r"[0-9A-F]{6}", random_hex):
        raise ValueError("random part must be 6 upper-case hex digits")
    organisation = normalise_ods_code(ods_code).rjust(6, "0")
    if len(organisation) != 6:
        raise InvalidIdentifier("an EPS prescription ID needs an ODS code of at most 6 characters")
    serial = f"{sequence % 0x100000:05X}"
    return f"{random_hex}-{organisation}-{serial}{mod37_2_char(random_hex + organisation + serial)}"


def normalise_eps_prescription_id(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifier("must be text")
    text = value.strip()
    match = _EPS_ID.match(text)
    if not match:
        raise InvalidIdentifier("an EPS prescription ID looks like 83C40E-A23856-00123W (upper case, with hyphens)")
    if not mod37_2_valid("".join(match.groups()[:3]), match.group(4)):
        raise InvalidIdentifier("the EPS prescription ID's check character is wrong")
    return text
