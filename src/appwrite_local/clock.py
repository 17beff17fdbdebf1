"""Time for the whole server: Appwrite's datetime format and a clock tests can move forward.

Every timestamp the server writes (row `$createdAt`, session `expire`, rate-limit windows) comes from
`Clock.now()`, so moving the clock (a local-only control route, issue 3) moves all of them together.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from .errors import AppwriteError


class Clock:
    """Wall-clock time plus an offset that only ever grows."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def offset_seconds(self) -> float:
        return self._offset.total_seconds()

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def timestamp(self) -> float:
        return self.now().timestamp()


def format_datetime(value: datetime) -> str:
    """`Y-m-d\\TH:i:s.vP` in UTC, e.g. 2026-01-15T10:20:30.123+00:00 (utopia DateTime::formatTz)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"


def parse_datetime(text: str) -> datetime:
    """Any ISO 8601 datetime (naive means UTC). Raises ValueError when it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("not a datetime")
    raw = text.strip().replace(" ", "T", 1)
    if raw.endswith("Z") or raw.endswith("z"):
        raw = raw[:-1] + "+00:00"
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def normalise_datetime(text: str) -> str:
    """Canonical stored form, so that datetimes compare correctly as strings in SQL."""
    try:
        return format_datetime(parse_datetime(text))
    except (ValueError, OverflowError) as exc:
        raise AppwriteError("general_argument_invalid", f"Invalid datetime: {text!r}") from exc
