"""The requests notification-send takes (JSON Schemas in docs/functions/notification-send.md)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field

from rxcore.actions import RequestModel, RowId, text

Status = Literal["queued", "deferred", "sending", "sent", "retrying", "failed", "suppressed"]


class OutboxEvent(RequestModel):
    """The create event of an `outbox` row (Appwrite sends it; callers cannot)."""

    event: text(300)
    payload: dict[str, Any]


class Notify(RequestModel):
    """Send a notification of a known type now (platform admins): written to the outbox and delivered like any
    feature's message; the same `key` sends once."""

    type: text(48)
    key: text(100) = Field(description="idempotency: the same key of the same type is sent once")
    payload: dict[str, str | int | bool | None] = Field(max_length=20, description="ids, as the type's producer writes")
    clinic_id: RowId | None = None


class Sweep(RequestModel):
    """The schedule's execution (no body)."""


class Deliveries(RequestModel):
    """The delivery log: a clinic's (its owners and admins), or your own messages; newest first."""

    clinic_id: RowId | None = None
    type: text(48) | None = None
    status: Status | None = None
    recipient_id: RowId | None = None
    from_: date | None = Field(None, alias="from")
    to: date | None = None
    cursor: RowId | None = None
    limit: int = Field(25, ge=1, le=100)


class SetPreferences(RequestModel):
    """Your channels, muted types and quiet hours (for your account, or a patient record linked to it)."""

    patient_id: RowId | None = Field(None, description="a patient record linked to your account")
    email: bool = True
    sms: bool = True
    whatsapp: bool = False
    muted_types: list[text(48)] = Field(default_factory=list, max_length=20)
    quiet_start: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    quiet_end: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: text(64) | None = None
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$", description="e-mail language, e.g. `cy`")
