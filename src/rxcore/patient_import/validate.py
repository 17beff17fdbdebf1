"""One spreadsheet row → the patient's columns, or the row's errors; plus warnings that do not stop it.

Field checks are rxcore.patients' (the same as everywhere else), after the looser forms people type in
spreadsheets are accepted: dates as DD/MM/YYYY, sex as M/F/U. A row must carry the clinic country's identifier (an
NHS number; or a Medicare number with its IRN, or an IHI), which is also how duplicates are found."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rxcore.patients import InvalidPatient, normalise_patient

SEX_CODES = {"m": "male", "f": "female", "u": "unknown", "o": "other", "x": "other"}
DISPOSABLE_DOMAINS = frozenset(
    "mailinator.com guerrillamail.com 10minutemail.com tempmail.com temp-mail.org yopmail.com trashmail.com "
    "sharklasers.com getnada.com dispostable.com maildrop.cc throwawaymail.com fakeinbox.com mintemail.com "
    "mailnesia.com spamgourmet.com".split()
)
OLDEST_PLAUSIBLE_AGE = 110
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


@dataclass
class RowResult:
    line: int
    columns: dict[str, Any] | None  # None when the row failed
    key: str | None = None  # the identifier that names this patient in the clinic
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (field, value, message)
    warnings: list[tuple[str, str, str]] = field(default_factory=list)


def _loose(values: dict[str, str]) -> dict[str, str]:
    out = {k: v.strip() for k, v in values.items() if v is not None and v.strip()}
    if "date_of_birth" in out and (m := _DMY.match(out["date_of_birth"])):
        day, month, year = m.groups()
        out["date_of_birth"] = f"{year}-{int(month):02d}-{int(day):02d}"
    if "sex" in out:
        out["sex"] = SEX_CODES.get(out["sex"].lower(), out["sex"])
    return out


KEY_COLUMNS = {"nhs": "nhs_number", "medicare": "medicare_number", "ihi": "ihi"}  # identity key kind → its column


def key_column(key: str) -> str:
    """The patients column an identity key ("nhs:9990000018") comes from."""
    return KEY_COLUMNS[key.split(":")[0]]


def identity_key(country: str, columns: dict[str, Any]) -> str | None:
    if country == "UK":
        return f"nhs:{columns['nhs_number']}" if columns.get("nhs_number") else None
    if columns.get("medicare_number") and columns.get("medicare_irn"):
        return f"medicare:{columns['medicare_number']}:{columns['medicare_irn']}"
    return f"ihi:{columns['ihi']}" if columns.get("ihi") else None


def validate_row(country: str, line: int, raw: dict[str, str], today: date) -> RowResult:
    """`raw` is {field: text} after the column mapping."""
    values = _loose(raw)
    try:
        columns = normalise_patient(country, values, today)
    except InvalidPatient as exc:
        return RowResult(line, None, errors=[(f, raw.get(f, ""), m) for f, m in exc.errors.items()])
    key = identity_key(country, columns)
    if key is None:
        needed = "nhs_number" if country == "UK" else "medicare_number"
        message = (
            "an NHS number is required" if country == "UK" else "a Medicare number with its IRN, or an IHI, is required"
        )
        return RowResult(line, None, errors=[(needed, raw.get(needed, ""), message)])
    result = RowResult(line, columns, key)
    if born := columns.get("date_of_birth"):
        age = today.year - int(born[:4])
        if age > OLDEST_PLAUSIBLE_AGE:
            result.warnings.append(("date_of_birth", born, f"age {age}: check the date of birth"))
        elif born == today.isoformat() or age < 0:
            result.warnings.append(("date_of_birth", born, "born today: check the date of birth"))
    if (email := columns.get("email")) and email.rsplit("@", 1)[1] in DISPOSABLE_DOMAINS:
        result.warnings.append(("email", email, "a disposable email address: messages may not reach the patient"))
    return result
