"""Reading appointments and changing them after booking: cancel (the patient, the doctor or a clinic admin),
complete or no-show (the doctor); a clinic's fees. Who may do what is in rxcore.consult.rules; here the caller's
part in the appointment is found and the change written with its history, slot, room and refund together."""

from __future__ import annotations

import json
from typing import Any

from appwrite.query import Query

from rxcore import outbox
from rxcore.audit import Change, commit_with_audit
from rxcore.clock import iso
from rxcore.consult import rules
from rxcore.consult.booking import EVENTS, ROOMS, TABLE, event_operation, public, refund_message
from rxcore.consult.requests import AppointmentRef, Cancel, Close, MyAppointments, Remove, SetFees
from rxcore.consult.schedule import parse_instant
from rxcore.consult.slots import TABLE as SLOTS
from rxcore.errors import Conflict, Forbidden, NotFound
from rxcore.identity import Caller
from rxcore.tables import page
from rxcore.wallet.access import CLINIC_ADMIN_ROLES


def role_in(c: Caller, row: dict[str, Any] | None) -> str:
    """The caller's part in the appointment: patient, doctor or admin (of its clinic); 404 for anyone else."""
    if row is not None and row.get("deleted_at") is None:
        if row["patient_user_id"] == c.user_id:
            return "patient"
        if row["doctor_id"] == c.user_id:
            return "doctor"
        try:
            c.clinic_member(row["clinic_id"], CLINIC_ADMIN_ROLES)
            return "admin"
        except NotFound:
            pass
    raise NotFound("appointment_not_found", "No appointment of yours has this id.")


def get(c: Caller, params: AppointmentRef) -> dict[str, Any]:
    """The appointment, its intake answers and its history (the patient, the doctor, the clinic's admins)."""
    row = c.tables.get(TABLE, params.appointment_id)
    role = role_in(c, row)
    history = c.tables.list(EVENTS, [Query.equal("appointment_id", row["$id"]), Query.order_asc("at"), Query.limit(50)])
    event = c.event(role, "appointment.read", "appointment", row["$id"], row["clinic_id"], None)
    commit_with_audit(c.tables, lambda _tx: Change([], [event], None), lambda: c.now)
    return {
        "appointment": public(row, params.time_zone),
        "intake": json.loads(row["intake"]) if row.get("intake") else None,
        "history": [
            {k: e.get(k) for k in ("from_status", "to_status", "actor_type", "actor_id", "reason", "at")}
            | {"context": json.loads(e["context"]) if e.get("context") else None}
            for e in history
        ],
    }


def mine(c: Caller, params: MyAppointments) -> dict[str, Any]:
    """Your appointments, latest first: as their patient and as their doctor, or a clinic's (its admins)."""
    if params.clinic_id:
        c.clinic_member(params.clinic_id, CLINIC_ADMIN_ROLES)
        who = [Query.equal("clinic_id", params.clinic_id)]
    else:
        who = [Query.or_queries([Query.equal("patient_user_id", c.user_id), Query.equal("doctor_id", c.user_id)])]
    queries = [*who, Query.is_null("deleted_at"), Query.order_desc("starts_at")]
    if params.status:
        queries.append(Query.equal("status", list(params.status)))
    rows, cursor = page(c.tables, TABLE, queries, params.limit, params.cursor)
    return {"appointments": [public(r, params.time_zone) for r in rows], "nextCursor": cursor}


def cancel(c: Caller, params: Cancel) -> dict[str, Any]:
    """Cancel before it starts: the patient's cancellation frees the slot; the doctor's (or an admin's) withdraws
    it. The money goes back when the doctor cancels, or the patient does before the clinic's cut-off."""
    role = role_in(c, c.tables.get(TABLE, params.appointment_id))
    target = "cancelled_by_patient" if role == "patient" else "cancelled_by_doctor"
    return _change(c, params, target, role, params.reason, {})


def close(c: Caller, params: Close) -> dict[str, Any]:
    """The doctor marks a started consultation completed or a no-show; the chat room becomes read-only."""
    role = role_in(c, c.tables.get(TABLE, params.appointment_id))
    return _change(c, params, params.outcome, role, params.note, {})


def _change(c: Caller, params: AppointmentRef, target: str, role: str, reason: str,
            context: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    def decide(_tx: str | None) -> Change[dict[str, Any]]:
        row = c.tables.get(TABLE, params.appointment_id)
        assert row is not None  # role_in found it, and appointments are never deleted
        try:
            rules.check_transition(row["status"], target, role, parse_instant(row["starts_at"]), c.now)
        except rules.TransitionRefused as exc:
            error = Forbidden if exc.code == "appointment_forbidden" else Conflict
            raise error(exc.code, str(exc)) from None
        operations = [
            c.tables.op("update", TABLE, row["$id"], {"status": target, "ended_at": iso(c.now)}),
            event_operation(c.tables, row, target, (role, c.user_id), reason, context, c.now),
        ]
        operations += _slot_after(c, row, target) + _room_after(c, row)
        messages = []
        refund = False
        if target.startswith("cancelled"):
            fees = c.tables.get("consult_fees", row["clinic_id"])
            cutoff = fees["refund_cutoff_hours"] if fees else rules.DEFAULT_REFUND_CUTOFF_HOURS
            refund = rules.refund_due(target, row["status"], parse_instant(row["starts_at"]), c.now, cutoff)
            if refund:
                messages.append(refund_message(row, f"{target}: {reason}"))
            ids = {"appointmentId": row["$id"], "by": role}
            messages.append(_cancelled_message(row, ids))
        event = c.event(role, f"appointment.{target}", "appointment", row["$id"], row["clinic_id"], None,
                        refund=refund)  # fmt: skip
        answer = {"appointment": public(row | {"status": target}, params.time_zone), "refunded": refund}
        return Change(operations, [event], answer, messages=messages)

    return commit_with_audit(c.tables, decide, lambda: c.now, transactional_reads=True)


def _cancelled_message(row: dict[str, Any], ids: dict[str, Any]) -> outbox.Message:
    return outbox.Message("appointment.cancelled", f"appointment.cancelled:{row['$id']}", ids, row["clinic_id"])


def _slot_after(c: Caller, row: dict[str, Any], target: str) -> list[dict[str, Any]]:
    slot = c.tables.get(SLOTS, row["slot_id"])
    if slot is None or slot.get("appointment_id") != row["$id"]:
        return []
    if target == "cancelled_by_patient" and parse_instant(slot["starts_at"]) > c.now:
        update = {"status": "free", "appointment_id": None, "generation": slot["generation"] + 1}
    elif target == "cancelled_by_doctor":
        update = {"status": "removed", "appointment_id": None, "generation": slot["generation"] + 1}
    else:
        return []
    return [c.tables.op("update", SLOTS, slot["$id"], update)]


def _room_after(c: Caller, row: dict[str, Any]) -> list[dict[str, Any]]:
    if row["status"] != "booked":
        return []
    archive_at = max(c.now, parse_instant(row["ends_at"])) + rules.ARCHIVE_AFTER
    return [c.tables.op("update", ROOMS, row["$id"], {"status": "read_only", "archive_at": iso(archive_at)})]


def delete(c: Caller, params: Remove) -> dict[str, Any]:
    """A clinic admin removes an ended appointment from every list (`deleted_at`, with a reason). Nothing is
    erased: the row, its history and its audit events stay for the record."""
    row = c.tables.get(TABLE, params.appointment_id)
    if role_in(c, row) != "admin":
        raise Forbidden("appointment_forbidden", "Only the clinic's owners and admins remove appointments.")
    if row["status"] in rules.OCCUPYING:
        raise Conflict("appointment_transition_invalid", f"A {row['status']} appointment is cancelled, not removed.")
    operations = [
        c.tables.op("update", TABLE, row["$id"], {"deleted_at": iso(c.now)}),
        event_operation(c.tables, row, "deleted", ("admin", c.user_id), params.reason,
                        {"status": row["status"]}, c.now),
    ]  # fmt: skip
    event = c.event("admin", "appointment.deleted", "appointment", row["$id"], row["clinic_id"], None)
    commit_with_audit(c.tables, lambda _tx: Change(operations, [event], None), lambda: c.now)
    return {"$id": row["$id"], "deletedAt": iso(c.now)}


def archive_due(c: Caller) -> int:
    """Rooms closed more than 30 days ago become archived (the scheduled run)."""
    now = c.now_fresh()
    due = c.tables.list(ROOMS, [Query.equal("status", "read_only"), Query.less_than("archive_at", iso(now)),
                                Query.limit(100)])  # fmt: skip
    if due:
        c.tables.update_where(ROOMS, [r["$id"] for r in due], {"status": "archived"})
    return len(due)


def set_fees(c: Caller, params: SetFees) -> dict[str, Any]:
    """Set the clinic's fees, refund cut-off and intake questions; bookings made before keep their price."""
    c.clinic_member(params.clinic_id, CLINIC_ADMIN_ROLES)
    row = {
        "clinic_id": params.clinic_id,
        "currency": params.currency,
        "new_patient_fee": params.new_patient_fee,
        "returning_patient_fee": params.returning_patient_fee,
        "refund_cutoff_hours": params.refund_cutoff_hours,
        "intake_questions": json.dumps(list(params.intake_questions)),
        "updated_by": c.user_id,
        "updated_at": iso(c.now),
    }
    exists = c.tables.get("consult_fees", params.clinic_id) is not None
    operation = c.tables.op("update" if exists else "create", "consult_fees", params.clinic_id, row)
    event = c.event("admin", "consult_fees.set", "clinic", params.clinic_id, params.clinic_id, None,
                    new=params.new_patient_fee, returning=params.returning_patient_fee)  # fmt: skip
    commit_with_audit(c.tables, lambda _tx: Change([operation], [event], None), lambda: c.now)
    return {
        "fees": {k: v for k, v in row.items() if k != "intake_questions"} | {"intakeQuestions": params.intake_questions}
    }
