"""Booking a slot, taking its payment, expiring unpaid holds, and every later change of an appointment.

Race safety, on any Appwrite: an appointment's row id is derived from (slot, the slot's generation), so of any
number of patients who read the same free slot, one creates that row and the rest collide (409) and, deciding
again, find the slot held. The slot's change and the appointment's are in one transaction, begun before the slot
is read. An idempotency key (unique per patient) answers a retried booking with the appointment it made.

Every status change writes an `appointment_events` row (from, to, who, why, context) in the change's transaction,
readable by the patient, the doctor and the clinic's admins, like the appointment itself. Nothing is deleted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from appwrite.query import Query
from appwrite.services.users import Users

from rxcore import outbox
from rxcore.audit import AuditEvent, Change, commit_with_audit
from rxcore.clock import iso
from rxcore.consult import rules
from rxcore.consult.requests import Book
from rxcore.consult.schedule import in_zone, parse_instant
from rxcore.consult.slots import TABLE as SLOTS
from rxcore.errors import BadRequest, Conflict, NotFound
from rxcore.identity import Caller
from rxcore.ids import derived_id
from rxcore.portal import ratelimit

TABLE = "appointments"
EVENTS = "appointment_events"
ROOMS = "chat_rooms"
BOOKINGS_PER_HOUR = ratelimit.Limit("appointment-booking", 3, timedelta(hours=1))
PUBLIC_FIELDS = (
    "slot_id", "clinic_id", "doctor_id", "doctor_name", "patient_user_id", "patient_name", "status", "price",
    "currency", "price_kind", "time_zone", "language", "payment_id",
)  # fmt: skip


def appointment_id(slot_id: str, generation: int) -> str:
    return derived_id("appointment", slot_id, generation)


def readers(row: dict[str, Any]) -> list[str]:
    clinic = row["clinic_id"]
    return [
        f'read("user:{row["patient_user_id"]}")',
        f'read("user:{row["doctor_id"]}")',
        f'read("team:{clinic}/owner")',
        f'read("team:{clinic}/admin")',
    ]


def public(row: dict[str, Any], viewer_zone: str) -> dict[str, Any]:
    start = parse_instant(row["starts_at"])
    return {
        "$id": row["$id"],
        **{k: row.get(k) for k in PUBLIC_FIELDS},
        "startsAt": row["starts_at"],
        "endsAt": row["ends_at"],
        "localStart": in_zone(start, viewer_zone),
        "expiresAt": row["expires_at"] if row["status"] == "pending" else None,
        "bookedAt": row.get("booked_at"),
    }


def event_operation(c_tables: Any, row: dict[str, Any], target: str, actor: tuple[str, str], reason: str,
                    context: dict[str, Any], at: datetime) -> dict[str, Any]:  # fmt: skip
    """The history row of one change; its id is derived from (appointment, target), entered once."""
    data = {
        "appointment_id": row["$id"],
        "from_status": row.get("status"),
        "to_status": target,
        "actor_type": actor[0],
        "actor_id": actor[1],
        "reason": reason[:500] or None,
        "context": json.dumps(context, sort_keys=True)[:2000] if context else None,
        "at": iso(at),
        "$permissions": readers(row),
    }
    return c_tables.op("create", EVENTS, derived_id("appointment-event", row["$id"], row.get("status"), target), data)


# --- booking ---------------------------------------------------------------------------------------------------------
def book(c: Caller, params: Book) -> dict[str, Any]:
    """Hold the slot for the caller at the price of now; the same key again answers the same appointment."""
    key = f"{c.user_id}:{params.idempotency_key}"
    slot = _bookable_unless_retried(c, key, params.slot_id)
    if "idempotency_key" in slot:  # not a slot but the appointment this key made: a retry
        return {"appointment": public(slot, params.time_zone), "replayed": True}
    reads = c.gather(
        clinic=lambda: c.tables.get("clinics", slot["clinic_id"]) or {},
        fees=lambda: c.tables.get("consult_fees", slot["clinic_id"]),
        history=lambda: c.tables.list(TABLE, [Query.equal("patient_user_id", c.user_id),
                                              Query.equal("status", list(rules.RETURNING)), Query.limit(1)]),
        user=lambda: Users(c.request.client).get(c.user_id),
    )  # fmt: skip
    fees = rules.fees_for(reads["fees"], reads["clinic"].get("country", "UK"))
    price, kind = rules.locked_price(fees, bool(reads["history"]))
    intake = params.intake.model_dump(mode="json", by_alias=True)

    def decide(_tx: str | None) -> Change[dict[str, Any]] | dict[str, Any]:
        current = _bookable_unless_retried(c, key, params.slot_id)
        if "idempotency_key" in current:  # a concurrent retry with this key made it
            return current | {"replayed": True}
        counted = ratelimit.hit_operation(c.tables, BOOKINGS_PER_HOUR, c.user_id, c.now)  # only if it commits
        row_id = appointment_id(current["$id"], current["generation"])
        row = {
            "slot_id": current["$id"],
            "clinic_id": current["clinic_id"],
            "doctor_id": current["doctor_id"],
            "doctor_name": current["doctor_name"],
            "patient_user_id": c.user_id,
            "patient_name": (reads["user"].name or "Patient")[:128],
            "starts_at": current["starts_at"],
            "ends_at": current["ends_at"],
            "time_zone": params.time_zone,
            "language": params.language,
            "status": "pending",
            "price": price,
            "currency": fees.currency,
            "price_kind": kind,
            "expires_at": iso(c.now + rules.HOLD),
            "idempotency_key": key,
            "intake": json.dumps(intake),
            "created_at": iso(c.now),
        }
        with_id = row | {"$id": row_id}
        operations = [
            c.tables.op("create", TABLE, row_id, row | {"$permissions": readers(with_id)}),
            c.tables.op("update", SLOTS, current["$id"], {"status": "held", "appointment_id": row_id}),
            counted,
            event_operation(c.tables, {"$id": row_id, "clinic_id": row["clinic_id"], "patient_user_id": c.user_id,
                                       "doctor_id": row["doctor_id"]}, "pending", ("patient", c.user_id),
                            "booked", {"price": price, "currency": fees.currency, "priceKind": kind}, c.now),
        ]  # fmt: skip
        event = c.event("patient", "appointment.created", "appointment", row_id, row["clinic_id"], None,
                        slot=current["$id"], price=price, currency=fees.currency)  # fmt: skip
        return Change(operations, [event], with_id)

    row = commit_with_audit(c.tables, decide, lambda: c.now, transactional_reads=True)
    return {"appointment": public(row, params.time_zone), "replayed": row.get("replayed", False)}


def _by_key(c: Caller, key: str, slot: str) -> dict[str, Any] | None:
    found = c.tables.list(TABLE, [Query.equal("idempotency_key", key), Query.limit(1)])
    if not found:
        return None
    if found[0]["slot_id"] != slot:
        raise Conflict("appointment_key_reused", "This idempotency key was used for another slot.")
    return found[0]


def _bookable_unless_retried(c: Caller, key: str, slot_id: str) -> dict[str, Any]:
    """The slot if it can be booked; the appointment this key made if it is there (found before the slot is read
    or, when the slot turns out taken, after: a retry sent at the same moment may have taken it in between)."""
    made = _by_key(c, key, slot_id)
    if made is not None:
        return made
    try:
        return _bookable(c, slot_id)
    except Conflict:
        made = _by_key(c, key, slot_id)
        if made is None:
            raise
        return made


def _bookable(c: Caller, slot_id: str) -> dict[str, Any]:
    slot = c.tables.get(SLOTS, slot_id)
    if slot is None or slot["status"] == "removed":
        raise NotFound("slot_not_found", "No slot has this id.")
    if parse_instant(slot["starts_at"]) <= c.now:
        raise BadRequest("slot_in_past", "This slot has already started.")
    if slot["status"] != "free":
        raise Conflict("slot_unavailable", "Someone else has just taken this slot: choose another.")
    if slot["doctor_id"] == c.user_id:
        raise BadRequest("appointment_self_booking", "A doctor cannot book their own slot.")
    return slot


# --- payment ---------------------------------------------------------------------------------------------------------
def paid(c: Caller, appointment: str, payment_id: str) -> str:
    """The appointment's order is paid (a `consultation.paid` message): booked with its chat room and reminders
    in one transaction; a payment for a hold that has lapsed (or was cancelled) is given back."""
    now = c.now_fresh()

    def decide(_tx: str | None) -> Change[str] | str:
        row = c.tables.get(TABLE, appointment)
        if row is None:
            return "unknown"
        if row["status"] == "booked":
            return "already booked"
        if row["status"] == "pending" and now <= parse_instant(row["expires_at"]):
            return _booked(c, row, payment_id, now)
        if row["status"] == "pending":  # paid as the hold ran out, before the schedule expired it
            change = expire_change(c, row, now)  # which asks for the refund
            change.result = "late: expired and refunded"
            return change
        if c.tables.get(EVENTS, derived_id("appointment-event", row["$id"], row["status"], row["status"])):
            return "late payment already refunded"
        operations = [event_operation(c.tables, row, row["status"], ("system", "billing"),
                                      "paid after it ended: refunded", {"paymentId": payment_id}, now)]  # fmt: skip
        return Change(operations, [], "late: refunded", messages=[refund_message(row, "paid after it ended")])

    return commit_with_audit(c.tables, decide, lambda: now, transactional_reads=True)


def _booked(c: Caller, row: dict[str, Any], payment_id: str, now: datetime) -> Change[str]:
    starts = parse_instant(row["starts_at"])
    room = {
        "appointment_id": row["$id"],
        "clinic_id": row["clinic_id"],
        "doctor_id": row["doctor_id"],
        "patient_user_id": row["patient_user_id"],
        "status": "active",
        "created_at": iso(now),
        "$permissions": [f'read("user:{row["patient_user_id"]}")', f'read("user:{row["doctor_id"]}")'],
    }
    operations = [
        c.tables.op("update", TABLE, row["$id"], {"status": "booked", "booked_at": iso(now), "payment_id": payment_id}),
        c.tables.op("update", SLOTS, row["slot_id"], {"status": "booked"}),
        c.tables.op("create", ROOMS, row["$id"], room),
        event_operation(c.tables, row, "booked", ("system", "billing"), "paid", {"paymentId": payment_id}, now),
    ]
    ids = {"appointmentId": row["$id"]}
    messages = [outbox.Message("appointment.booked", f"appointment.booked:{row['$id']}", ids, row["clinic_id"])]
    for label, at in rules.reminder_times(starts, now):
        key = f"appointment.reminder:{row['$id']}:{label}"
        messages.append(outbox.Message("appointment.reminder", key, ids | {"before": label}, row["clinic_id"], at))
    event = system_event("appointment.booked", row)
    return Change(operations, [event], "booked", messages=messages)


def refund_message(row: dict[str, Any], reason: str) -> outbox.Message:
    """Ask billing-process to give the appointment's money back (or cancel its unpaid order)."""
    payload = {"appointmentId": row["$id"], "reason": reason}
    return outbox.Message("consultation.refund_requested", f"consultation.refund_requested:{row['$id']}", payload,
                          row["clinic_id"])  # fmt: skip


# --- expiry ----------------------------------------------------------------------------------------------------------
def expire_change(c: Caller, row: dict[str, Any], now: datetime) -> Change[str]:
    """An unpaid hold ends: the appointment is payment_expired and its slot free for the next patient."""
    slot = c.tables.get(SLOTS, row["slot_id"]) or {}
    operations = [
        c.tables.op("update", TABLE, row["$id"], {"status": "payment_expired", "ended_at": iso(now)}),
        event_operation(c.tables, row, "payment_expired", ("system", "scheduler"), "not paid within the hold",
                        {"expiresAt": row["expires_at"]}, now),
    ]  # fmt: skip
    if slot.get("appointment_id") == row["$id"]:
        operations.append(c.tables.op("update", SLOTS, row["slot_id"], _freed(slot)))
    return Change(operations, [system_event("appointment.expired", row)], "expired",
                  messages=[refund_message(row, "hold expired")])  # fmt: skip


def _freed(slot: dict[str, Any]) -> dict[str, Any]:
    return {"status": "free", "appointment_id": None, "generation": slot["generation"] + 1}


def expire_due(c: Caller, limit: int = 100) -> int:
    """Expire every unpaid hold whose time has passed (the scheduled run, every minute)."""
    now = c.now_fresh()
    due = c.tables.list(TABLE, [Query.equal("status", "pending"), Query.less_than("expires_at", iso(now)),
                                Query.order_asc("expires_at"), Query.limit(limit)])  # fmt: skip
    expired = 0
    for row in due:

        def decide(_tx: str | None, row_id: str = row["$id"]) -> Change[str] | str:
            current = c.tables.get(TABLE, row_id)
            if current is None or current["status"] != "pending" or parse_instant(current["expires_at"]) >= now:
                return "not due"  # paid or cancelled meanwhile
            return expire_change(c, current, now)

        expired += commit_with_audit(c.tables, decide, lambda: now, transactional_reads=True) == "expired"
    return expired


def system_event(action: str, row: dict[str, Any]) -> AuditEvent:
    return AuditEvent("system", "system", action, "appointment", row["$id"], row["clinic_id"], None, None,
                      {"status": row.get("status")})  # fmt: skip
