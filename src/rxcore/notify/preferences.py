"""A recipient's choices (pure apart from `load`): which channels, which types muted, and quiet hours in their own
time zone. A message due in quiet hours waits for their end, never dropped; urgent types (security notices) ignore
opt-outs and quiet hours."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rxcore.ids import derived_id
from rxcore.tables import TableStore

TABLE = "notification_preferences"
CHANNELS = ("email", "sms", "whatsapp")


def preferences_id(kind: str, recipient_id: str) -> str:
    return derived_id("notify-prefs", kind, recipient_id)


@dataclass(frozen=True)
class Preferences:
    email: bool = True
    sms: bool = True
    whatsapp: bool = False  # WhatsApp only for those who asked for it
    muted_types: frozenset[str] = field(default_factory=frozenset)
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str | None = None
    language: str | None = None  # chooses the e-mail template where one is configured per language (`cy`, `en`)

    @classmethod
    def from_row(cls, row: dict[str, Any] | None) -> Preferences:
        if row is None:
            return cls()
        return cls(
            email=bool(row.get("email", True)),
            sms=bool(row.get("sms", True)),
            whatsapp=bool(row.get("whatsapp", False)),
            muted_types=frozenset(row.get("muted_types") or []),
            quiet_start=time.fromisoformat(row["quiet_start"]) if row.get("quiet_start") else None,
            quiet_end=time.fromisoformat(row["quiet_end"]) if row.get("quiet_end") else None,
            timezone=row.get("timezone"),
            language=row.get("language"),
        )

    def allows(self, channel: str, type_name: str) -> bool:
        return getattr(self, channel) and type_name not in self.muted_types


def load(tables: TableStore, kind: str, recipient_id: str) -> Preferences:
    return Preferences.from_row(tables.get(TABLE, preferences_id(kind, recipient_id)))


def template_for(templates: dict[str, Any], type_name: str, language: str | None) -> str | None:
    """The SendGrid template of a type: one id for every language, or one per language (`{"en": "d-…", "cy": "d-…"}`)
    with `default` (else `en`) for anyone whose language has none."""
    entry = templates.get(type_name)
    if isinstance(entry, str) or entry is None:
        return entry
    chosen = entry.get(language or "") or entry.get("default") or entry.get("en")
    return chosen if isinstance(chosen, str) else None


def quiet_until(prefs: Preferences, now: datetime, default_zone: ZoneInfo) -> datetime | None:
    """When quiet hours end if `now` (aware) falls inside them in the recipient's zone; None when it does not."""
    if prefs.quiet_start is None or prefs.quiet_end is None or prefs.quiet_start == prefs.quiet_end:
        return None
    zone = ZoneInfo(prefs.timezone) if prefs.timezone else default_zone
    local = now.astimezone(zone)
    start, end, clock = prefs.quiet_start, prefs.quiet_end, local.time()
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(now.tzinfo)
