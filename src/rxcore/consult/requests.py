"""The requests appointment-booking takes (their JSON Schemas are generated: scripts/function_schemas.py)."""

from __future__ import annotations

from datetime import date, time
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from rxcore.actions import IdempotencyKey, RequestModel, RowId, text
from rxcore.consult.schedule import SLOT_MINUTES, zone

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Status = Literal[
    "pending", "booked", "completed", "no_show", "cancelled_by_patient", "cancelled_by_doctor", "payment_expired"
]


def _zone_name(value: str) -> str:
    zone(value)  # ValueError names an unknown zone
    return value


class Ranged(RequestModel):
    """A time range: `from` inclusive, `to` exclusive."""

    from_: AwareDatetime | None = Field(None, alias="from")
    to: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Ranged:
        if self.from_ and self.to and self.to <= self.from_:
            raise ValueError("`to` must be after `from`")
        return self


class ZoneMixin(RequestModel):
    time_zone: str = Field("UTC", max_length=64, description="IANA zone the answer's local times are shown in")

    _zone = field_validator("time_zone")(_zone_name)


class Break(RequestModel):
    start: time
    end: time


class PublishSlots(RequestModel):
    """Publish slots: one (`startsAt`), or a pattern (`from`..`to`, `days`, `dailyStart`..`dailyEnd`, `breaks`)."""

    clinic_id: RowId
    minutes: int = Field(description=f"{' or '.join(map(str, SLOT_MINUTES))}")
    time_zone: str = Field(max_length=64, description="the doctor's IANA zone: the pattern's wall-clock times")
    specialty: text(64) | None = None
    starts_at: AwareDatetime | None = Field(None, description="one slot at this instant")
    from_: date | None = Field(None, alias="from")
    to: date | None = None
    days: list[Weekday] | None = Field(None, min_length=1, max_length=7)
    daily_start: time | None = None
    daily_end: time | None = None
    breaks: list[Break] = Field(default_factory=list, max_length=10)

    _zone = field_validator("time_zone")(_zone_name)

    @model_validator(mode="after")
    def _one_or_pattern(self) -> PublishSlots:
        pattern = (self.from_, self.to, self.days, self.daily_start, self.daily_end)
        if self.starts_at is not None and any(p is not None for p in pattern):
            raise ValueError("give `startsAt` for one slot, or a pattern, not both")
        if self.starts_at is None and any(p is None for p in pattern):
            raise ValueError("a pattern needs `from`, `to`, `days`, `dailyStart` and `dailyEnd`")
        if self.minutes not in SLOT_MINUTES:
            raise ValueError(f"`minutes` must be {' or '.join(map(str, SLOT_MINUTES))}")
        return self


class RemoveSlot(RequestModel):
    """Withdraw a slot nobody holds."""

    slot_id: RowId


class Browse(Ranged, ZoneMixin):
    """Free slots, soonest first: of one doctor, a specialty or a clinic, in a date range (paged by `cursor`)."""

    doctor_id: RowId | None = None
    specialty: text(64) | None = None
    clinic_id: RowId | None = None
    cursor: RowId | None = None
    limit: int = Field(50, ge=1, le=200)


class Intake(RequestModel):
    """The clinic's short questionnaire, answered at booking."""

    consultation_type: Literal["video", "phone", "chat"]
    symptoms: text(2000)
    current_medicines: str = Field("", max_length=2000)
    answers: dict[str, str] = Field(default_factory=dict, max_length=20, description="the clinic's own questions")

    @field_validator("answers")
    @classmethod
    def _short(cls, value: dict[str, str]) -> dict[str, str]:
        if any(len(k) > 100 or len(v) > 500 for k, v in value.items()):
            raise ValueError("each answer's question is at most 100 characters and its answer 500")
        return value


class Book(ZoneMixin):
    """Hold a free slot for 15 minutes at a locked price; the caller is the patient (never a field)."""

    slot_id: RowId
    idempotency_key: IdempotencyKey
    language: Literal["en", "cy"] = "en"
    intake: Intake


class AppointmentRef(ZoneMixin):
    appointment_id: RowId


class Cancel(AppointmentRef):
    """Cancel (the patient, or the doctor or a clinic admin), with a reason."""

    reason: text(500)


class Remove(AppointmentRef):
    """Remove an ended appointment from every list (clinic admins), with a reason; nothing is erased."""

    reason: text(500)


class Close(AppointmentRef):
    """The doctor marks a started consultation completed or a no-show."""

    outcome: Literal["completed", "no_show"]
    note: str = Field("", max_length=500)


class MyAppointments(ZoneMixin):
    """Your appointments: as the patient, the doctor, or (with `clinicId`) a clinic admin."""

    clinic_id: RowId | None = None
    status: list[Status] | None = Field(None, max_length=7)
    cursor: RowId | None = None
    limit: int = Field(25, ge=1, le=100)


class SetFees(RequestModel):
    """A clinic's fees (minor units), refund cut-off and intake questions (its owners and admins)."""

    clinic_id: RowId
    currency: Literal["gbp", "aud"]
    new_patient_fee: int = Field(ge=0, le=10_000_000)
    returning_patient_fee: int = Field(ge=0, le=10_000_000)
    refund_cutoff_hours: int = Field(24, ge=0, le=720)
    intake_questions: list[text(200)] = Field(default_factory=list, max_length=20)


class Sweep(RequestModel):
    """The scheduled run: expire unpaid holds, take payments, archive old rooms."""


class OutboxEvent(RequestModel):
    """An `outbox` row was created (an Appwrite event)."""

    event: str
    payload: dict


# --- chat ------------------------------------------------------------------------------------------------------------
class SendMessage(RequestModel):
    """Send a message to the other member of an appointment's room (plain text, at most 5,000 characters)."""

    appointment_id: RowId
    text: text(5000)


class Messages(Ranged):
    """A page of a room's messages, newest first; optionally those matching `search` or in a time range."""

    appointment_id: RowId
    search: text(100) | None = None
    cursor: RowId | None = None
    limit: int = Field(50, ge=1, le=100)


class MarkRead(RequestModel):
    """Mark messages to you as read: one (`messageId`) or every unread one in the room."""

    appointment_id: RowId
    message_id: RowId | None = None


class Rooms(RequestModel):
    """Your rooms with their last message and your unread count, most recent first."""

    limit: int = Field(25, ge=1, le=100)
