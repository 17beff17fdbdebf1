"""Doctors publish and withdraw slots; anyone signed in browses the free ones.

A slot's row id is derived from (doctor, start), so the same slot published twice at once collides instead of
appearing twice. A slot is `free`, `held` (a pending booking), `booked` or `removed`; its `generation` counts
the bookings it has had, and names the next appointment it can take (rxcore.consult.booking)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from appwrite.query import Query

from rxcore.audit import Change, commit_with_audit
from rxcore.clock import iso
from rxcore.consult.requests import WEEKDAYS, Browse, PublishSlots, RemoveSlot
from rxcore.consult.schedule import Pattern, expand, in_zone, overlapping, parse_instant
from rxcore.errors import BadRequest, Conflict, NotFound
from rxcore.identity import Caller
from rxcore.ids import derived_id
from rxcore.tables import page, update_if

TABLE = "consult_slots"
LONGEST = timedelta(minutes=30)
PUBLIC_FIELDS = ("doctor_id", "doctor_name", "clinic_id", "specialty", "minutes", "status", "time_zone")


def slot_id(doctor_id: str, starts_at: datetime) -> str:
    return derived_id("slot", doctor_id, iso(starts_at))


def public(slot: dict[str, Any], viewer_zone: str) -> dict[str, Any]:
    """A slot as the API shows it: UTC, the viewer's local time and the doctor's."""
    start, end = parse_instant(slot["starts_at"]), parse_instant(slot["ends_at"])
    return {
        "$id": slot["$id"],
        **{k: slot.get(k) for k in PUBLIC_FIELDS},
        "startsAt": iso(start),
        "endsAt": iso(end),
        "localStart": in_zone(start, viewer_zone),
        "localEnd": in_zone(end, viewer_zone),
        "doctorLocalStart": in_zone(start, slot["time_zone"]),
    }


def _wanted(params: PublishSlots) -> list[tuple[datetime, datetime]]:
    if params.starts_at is not None:
        start = params.starts_at.astimezone(params.starts_at.tzinfo)
        return [(start, start + timedelta(minutes=params.minutes))]
    pattern = Pattern(
        first_day=params.from_,  # type: ignore[arg-type]  # the model requires the whole pattern
        last_day=params.to,  # type: ignore[arg-type]
        weekdays=frozenset(WEEKDAYS.index(d) for d in params.days or ()),
        start=params.daily_start,  # type: ignore[arg-type]
        end=params.daily_end,  # type: ignore[arg-type]
        minutes=params.minutes,
        zone=params.time_zone,
        breaks=tuple((b.start, b.end) for b in params.breaks),
    )
    try:
        return expand(pattern)
    except ValueError as exc:
        raise BadRequest("slot_pattern_invalid", f"{str(exc)[0].upper()}{str(exc)[1:]}.") from None


def publish(c: Caller, params: PublishSlots) -> dict[str, Any]:
    """Create the slots, all or none: refused if any is in the past or overlaps another of the doctor's."""
    doctor = c.practitioner("prescriber", params.clinic_id)
    wanted = _wanted(params)
    if not wanted:
        raise BadRequest("slot_pattern_empty", "The pattern makes no slots (check the days and hours).")
    if wanted[0][0] <= c.now:
        raise BadRequest("slot_in_past", f"A slot starts in the past ({in_zone(wanted[0][0], params.time_zone)}).")
    clash = overlapping(wanted)
    if clash is not None:
        raise BadRequest("slot_overlap", f"The slots overlap each other at {in_zone(clash[0], params.time_zone)}.")

    def decide(_tx: str | None) -> Change[list[dict[str, Any]]]:
        existing = _doctor_slots(c, c.user_id, wanted[0][0] - LONGEST, wanted[-1][1])
        live = [s for s in existing if s["status"] != "removed"]
        for start, end in wanted:
            for slot in live:
                if start < parse_instant(slot["ends_at"]) and parse_instant(slot["starts_at"]) < end:
                    local = in_zone(parse_instant(slot["starts_at"]), params.time_zone)
                    raise Conflict("slot_overlap", f"It overlaps your slot at {local}; remove that one first.")
        removed = {s["$id"]: s for s in existing if s["status"] == "removed"}
        operations, created = [], []
        for start, end in wanted:
            row_id = slot_id(c.user_id, start)
            row = {
                "doctor_id": c.user_id,
                "doctor_name": doctor["name"],
                "clinic_id": params.clinic_id,
                "specialty": params.specialty or doctor.get("specialty"),
                "starts_at": iso(start),
                "ends_at": iso(end),
                "minutes": params.minutes,
                "time_zone": params.time_zone,
                "status": "free",
                "appointment_id": None,
            }
            if row_id in removed:  # published again after being withdrawn: the same row comes back
                operations.append(c.tables.op("update", TABLE, row_id, row))
            else:
                row |= {"generation": 0, "created_at": iso(c.now)}
                operations.append(c.tables.op("create", TABLE, row_id, row))
            created.append(row | {"$id": row_id})
        event = c.event("prescriber", "slots.published", "doctor", c.user_id, params.clinic_id, None,
                        count=len(created), first=iso(wanted[0][0]), last=iso(wanted[-1][0]))  # fmt: skip
        return Change(operations, [event], created)

    rows = commit_with_audit(c.tables, decide, lambda: c.now)
    return {"created": len(rows), "slots": [public(r, params.time_zone) for r in rows[:100]]}


def _doctor_slots(c: Caller, doctor_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    queries = [
        Query.equal("doctor_id", doctor_id),
        Query.greater_than_equal("starts_at", iso(start)),
        Query.less_than("starts_at", iso(end)),
    ]
    return list(c.tables.each(TABLE, queries))


def remove(c: Caller, params: RemoveSlot) -> dict[str, Any]:
    """Withdraw one of your free slots (a held or booked one is cancelled through its appointment instead)."""
    slot = c.tables.get(TABLE, params.slot_id)
    if slot is None or slot["doctor_id"] != c.user_id or slot["status"] == "removed":
        raise NotFound("slot_not_found", "No slot of yours has this id.")

    def take(row: dict[str, Any] | None) -> dict[str, Any] | None:
        return {"status": "removed"} if row is not None and row["status"] == "free" else None

    if update_if(c.tables, TABLE, params.slot_id, take) is None:
        raise Conflict("slot_unavailable", "This slot is held or booked: cancel its appointment instead.")
    return {"$id": params.slot_id, "status": "removed"}


def browse(c: Caller, params: Browse) -> dict[str, Any]:
    """Free slots from now (or `from`) on, soonest first, with the viewer's local times."""
    start = max(params.from_ or c.now, c.now)
    queries = [Query.equal("status", "free"), Query.greater_than("starts_at", iso(start))]
    if params.to:
        queries.append(Query.less_than("starts_at", iso(params.to)))
    for column, value in (
        ("doctor_id", params.doctor_id),
        ("specialty", params.specialty),
        ("clinic_id", params.clinic_id),
    ):
        if value:
            queries.append(Query.equal(column, value))
    queries.append(Query.order_asc("starts_at"))
    rows, cursor = page(c.tables, TABLE, queries, params.limit, params.cursor)
    return {"slots": [public(r, params.time_zone) for r in rows], "nextCursor": cursor}
