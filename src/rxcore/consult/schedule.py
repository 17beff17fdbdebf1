"""Slots in time: a doctor's working pattern in their own zone turned into UTC slots, correct across DST changes.

Times are stored in UTC and shown in the viewer's zone. A pattern is local wall-clock time ("09:00–12:00 on
Mondays in Europe/London"), so a week that crosses a DST change keeps the local times and moves the UTC ones. A
local time that does not exist (the hour skipped in spring) makes no slot; one that happens twice (the hour
repeated in autumn) makes one slot, at its first occurrence. Zone rules come from the pinned `tzdata` package."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SLOT_MINUTES = (15, 30)  # short and long consultations
# One request's slots are one transaction (at most 100 operations on Appwrite, a few for the audit chain): a week
# of 09:00-17:00 in 30-minute slots is 80.
MAX_SLOTS_PER_REQUEST = 90
MAX_DAYS = 92


@dataclass(frozen=True)
class Pattern:
    """Slots of `minutes` from `start` to `end` (local) on `weekdays` (0 = Monday) between two dates inclusive,
    leaving out `breaks` (local start, end)."""

    first_day: date
    last_day: date
    weekdays: frozenset[int]
    start: time
    end: time
    minutes: int
    zone: str
    breaks: tuple[tuple[time, time], ...] = ()


def zone(name: str) -> ZoneInfo:
    """The IANA zone, or ValueError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/London)") from None


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime | None:
    """`day` at `at` on the wall clock of `tz` in UTC; None when that wall-clock time does not exist there."""
    local = datetime.combine(day, at).replace(tzinfo=tz, fold=0)
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None  # skipped by a spring-forward change
    return instant


def expand(pattern: Pattern) -> list[tuple[datetime, datetime]]:
    """The pattern's slots as (start, end) in UTC, in time order. ValueError when the pattern is unusable."""
    if pattern.minutes not in SLOT_MINUTES:
        raise ValueError(f"a slot is {' or '.join(map(str, SLOT_MINUTES))} minutes")
    if pattern.last_day < pattern.first_day or (pattern.last_day - pattern.first_day).days >= MAX_DAYS:
        raise ValueError(f"the date range must run forwards and span at most {MAX_DAYS} days")
    if pattern.end <= pattern.start:
        raise ValueError("the daily hours must end after they start")
    tz = zone(pattern.zone)
    step = timedelta(minutes=pattern.minutes)
    slots: list[tuple[datetime, datetime]] = []
    day = pattern.first_day
    while day <= pattern.last_day:
        if day.weekday() in pattern.weekdays:
            slots += _day(day, pattern, tz, step)
        day += timedelta(days=1)
    if len(slots) > MAX_SLOTS_PER_REQUEST:
        raise ValueError(f"the pattern makes {len(slots)} slots; at most {MAX_SLOTS_PER_REQUEST} at a time")
    return slots


def _day(day: date, pattern: Pattern, tz: ZoneInfo, step: timedelta) -> list[tuple[datetime, datetime]]:
    out = []
    cursor = datetime.combine(day, pattern.start)
    closing = datetime.combine(day, pattern.end)
    while cursor + step <= closing:
        local_start, local_end = cursor.time(), (cursor + step).time()
        if not any(_overlaps(local_start, local_end, b_start, b_end) for b_start, b_end in pattern.breaks):
            start = local_instant(day, local_start, tz)
            if start is not None:
                out.append((start, start + step))
        cursor += step
    return out


def _overlaps(a_start: time, a_end: time, b_start: time, b_end: time) -> bool:
    return a_start < b_end and b_start < a_end


def overlapping(slots: list[tuple[datetime, datetime]]) -> tuple[datetime, datetime] | None:
    """The first slot that overlaps the one before it (in time order), if any."""
    ordered = sorted(slots)
    for (_, previous_end), current in zip(ordered, ordered[1:], strict=False):
        if current[0] < previous_end:
            return current
    return None


def in_zone(instant: datetime, tz_name: str) -> str:
    """An instant as local ISO text with its offset (2026-03-29T09:00:00+01:00) for a viewer in `tz_name`."""
    return instant.astimezone(zone(tz_name)).isoformat(timespec="minutes")


def parse_instant(value: str) -> datetime:
    """A stored Appwrite datetime as an aware UTC datetime."""
    return datetime.fromisoformat(value).astimezone(UTC)
