"""The current time for a function execution.

On Appwrite it is the system clock. The local server can move its clock forward for tests (a prescription
expiring, a rate-limit window passing); it then sends `x-appwrite-local-clock-offset` with every execution and
sets `APPWRITE_LOCAL_CLOCK=1` in the function's environment. The header is trusted only with that variable, so a
deployment on a real Appwrite never reads it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

OFFSET_HEADER = "x-appwrite-local-clock-offset"


def clock_offset(headers: Mapping[str, str], env: Mapping[str, str]) -> timedelta:
    if env.get("APPWRITE_LOCAL_CLOCK") != "1":
        return timedelta(0)
    try:
        return timedelta(seconds=float(headers.get(OFFSET_HEADER, "0")))
    except ValueError:
        return timedelta(0)


def utc_now(offset: timedelta = timedelta(0)) -> datetime:
    return datetime.now(UTC) + offset


def iso(value: datetime) -> str:
    """Appwrite's datetime format: 2026-01-15T10:20:30.123+00:00."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"


# A clinic's dates (the date on a prescription, its validity and expiry) are the clinic's own calendar days: a
# Victorian prescription signed at 06:30 in Melbourne is dated that day, not the UTC day before (issue 14.6).
CLINIC_ZONES = {
    ("UK", None): "Europe/London",
    ("AU", "VIC"): "Australia/Melbourne",
    ("AU", "NSW"): "Australia/Sydney",
    ("AU", "ACT"): "Australia/Sydney",
    ("AU", "QLD"): "Australia/Brisbane",
    ("AU", "SA"): "Australia/Adelaide",
    ("AU", "WA"): "Australia/Perth",
    ("AU", "TAS"): "Australia/Hobart",
    ("AU", "NT"): "Australia/Darwin",
}


def clinic_zone(country: str, state: str | None) -> ZoneInfo:
    """The time zone whose calendar a clinic's prescriptions follow (UK: Europe/London; AU: the state's)."""
    name = CLINIC_ZONES.get((country, state if country == "AU" else None))
    if name is None:
        raise ValueError(f"no time zone for a clinic in {country} {state or ''}".strip())
    return ZoneInfo(name)


def local_date(now: datetime, country: str, state: str | None) -> date:
    return now.astimezone(clinic_zone(country, state)).date()
