"""Patient records: pure validation by the clinic's country, giving the stored columns or every field's error.

Used by the set-up tools now and by patient-import. Field names are the `patients` columns."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from rxcore.identifiers import InvalidIdentifier
from rxcore.identifiers.au import (
    medicare_expiry,
    normalise_dva_number,
    normalise_healthcare_identifier,
    normalise_medicare,
)
from rxcore.identifiers.phone import normalise_phone
from rxcore.identifiers.uk import normalise_nhs_number, normalise_postcode

SEXES = ("female", "male", "other", "unknown")
AU_STATES = ("NSW", "VIC", "QLD", "SA", "WA", "TAS", "NT", "ACT")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
FIELDS = (
    "given_name", "family_name", "date_of_birth", "sex", "nhs_number", "medicare_number", "medicare_irn",
    "medicare_expiry", "ihi", "dva_number", "address", "postcode", "state", "email", "phone",
)  # fmt: skip


class InvalidPatient(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 100:
        raise InvalidIdentifier("required, at most 100 characters")
    return " ".join(value.split())


def _date_of_birth(today: date) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        try:
            born = date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            born = None
        if born is None:
            raise InvalidIdentifier("a date as YYYY-MM-DD")
        if born > today:
            raise InvalidIdentifier("is in the future")
        return born.isoformat()

    return check


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = value.strip().lower() if isinstance(value, str) else ""
        match = next((o for o in options if o.lower() == text), None)
        if match is None:
            raise InvalidIdentifier(f"one of {', '.join(options)}")
        return match

    return check


def _email(value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value.strip()) or len(value) > 254:
        raise InvalidIdentifier("not an email address")
    return value.strip().lower()


def _au_postcode(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}", value.strip()):
        raise InvalidIdentifier("an Australian postcode has 4 digits")
    return value.strip()


def _address(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 400:
        raise InvalidIdentifier("text of at most 400 characters")
    return " ".join(value.split())


def normalise_patient(country: str, data: dict[str, Any], today: date) -> dict[str, Any]:
    """The columns to store for `data` (blank values dropped), or InvalidPatient naming every bad field."""
    region = "GB" if country == "UK" else "AU"
    checks: dict[str, Callable[[Any], Any]] = {
        "given_name": _name,
        "family_name": _name,
        "date_of_birth": _date_of_birth(today),
        "sex": _choice(SEXES),
        "address": _address,
        "email": _email,
        "phone": lambda v: normalise_phone(v, region),
    }
    if country == "UK":
        checks |= {"nhs_number": normalise_nhs_number, "postcode": lambda v: normalise_postcode(v, allow_pseudo=True)}
    else:
        checks |= {
            "ihi": lambda v: normalise_healthcare_identifier("IHI", v),
            "medicare_expiry": medicare_expiry,
            "dva_number": normalise_dva_number,
            "postcode": _au_postcode,
            "state": _choice(AU_STATES),
        }
    errors: dict[str, str] = {}
    unknown = sorted(set(data) - set(FIELDS))
    for field in unknown:
        errors[field] = "not a patient field"
    present = {k: v for k, v in data.items() if k in FIELDS and v not in (None, "")}
    out: dict[str, Any] = {}
    for field in ("given_name", "family_name"):
        if field not in present:
            errors[field] = "required"
    for field, value in present.items():
        if field in ("medicare_number", "medicare_irn"):
            continue
        check = checks.get(field)
        if check is None:
            errors[field] = f"not used for {country} patients"
            continue
        try:
            out[field] = check(value)
        except InvalidIdentifier as exc:
            errors[field] = str(exc)
    if country == "AU" and "medicare_number" in present:
        try:
            out["medicare_number"], irn = normalise_medicare(present["medicare_number"], present.get("medicare_irn"))
            if irn:
                out["medicare_irn"] = irn
        except InvalidIdentifier as exc:
            errors["medicare_number"] = str(exc)
    elif "medicare_number" in present or "medicare_irn" in present:
        field = "medicare_number" if "medicare_number" in present else "medicare_irn"
        errors[field] = "not used for UK patients" if country == "UK" else "needs medicare_number"
    if errors:
        raise InvalidPatient(errors)
    return out
