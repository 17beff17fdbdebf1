"""Phone numbers in E.164 through `phonenumbers` (Google libphonenumber)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from rxcore.identifiers import InvalidIdentifier

_CALLING_CODE = {"GB": 44, "AU": 61}


def normalise_phone(value: object, region: str) -> str:
    """Any national or international form valid for the number's allocated ranges, as E.164 (`+447…`)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidIdentifier("a phone number is required")
    try:
        number = phonenumbers.parse(value, region)
    except NumberParseException:
        raise InvalidIdentifier("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier("not a phone number in use (check the digits)")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def is_mobile(e164: str, region: str) -> bool:
    """A mobile of the country (UK mobiles include Guernsey, Jersey and the Isle of Man, which share +44).
    `07…` is not enough: 070 numbers are personal numbers, not mobiles."""
    number = phonenumbers.parse(e164, None)
    return number.country_code == _CALLING_CODE[region] and phonenumbers.number_type(number) == PhoneNumberType.MOBILE


def normalise_mobile(value: object, region: str) -> str:
    e164 = normalise_phone(value, region)
    if not is_mobile(e164, region):
        raise InvalidIdentifier("not a mobile number")
    return e164
