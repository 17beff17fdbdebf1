"""The doctor–patient chat of a booked appointment.

A room (row id = the appointment's) and its messages carry row permissions for its two members only, so Appwrite
Realtime delivers a new message, and a read receipt (an update of `read_at`), to their subscriptions and to nobody
else's. Messages are written only by this function (members checked, room active, text stored as given and never
rendered as HTML by the platform). A message's `read_at` is set once, by its recipient."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from appwrite.query import Query

from rxcore.audit import AuditEvent, Change, commit_with_audit
from rxcore.clock import iso
from rxcore.consult.booking import ROOMS
from rxcore.consult.requests import MarkRead, Messages, Rooms, SendMessage
from rxcore.errors import Conflict, NotFound
from rxcore.identity import Caller
from rxcore.tables import page

MESSAGES = "chat_messages"
PREVIEW = 140
MESSAGE_FIELDS = ("room_id", "sender_id", "recipient_id", "text", "created_at", "read_at")


def room_of(c: Caller, appointment_id: str) -> dict[str, Any]:
    """The appointment's room if the caller is one of its two members; 404 otherwise."""
    room = c.tables.get(ROOMS, appointment_id)
    if room is None or c.user_id not in (room["doctor_id"], room["patient_user_id"]):
        raise NotFound("chat_room_not_found", "No chat of yours belongs to this appointment.")
    return room


def _other(room: dict[str, Any], user_id: str) -> str:
    return room["patient_user_id"] if user_id == room["doctor_id"] else room["doctor_id"]


def _role(room: dict[str, Any], user_id: str) -> str:
    return "doctor" if user_id == room["doctor_id"] else "patient"


def _audited(c: Caller, room: dict[str, Any], action: str, **detail: Any) -> AuditEvent:
    """An event on the room's own audit chain: rooms do not queue behind each other (nor the clinic's other
    writes) when many consultations chat at once."""
    event = c.event(_role(room, c.user_id), action, "appointment", room["$id"], room["clinic_id"], None, **detail)
    return replace(event, chain=f"chat-{room['$id']}"[:36])


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {"$id": row["$id"], **{k: row.get(k) for k in MESSAGE_FIELDS}}


def send(c: Caller, params: SendMessage) -> dict[str, Any]:
    """Post a message to the room (active rooms only); the room's last message moves with it."""
    room = room_of(c, params.appointment_id)
    if room["status"] != "active":
        raise Conflict("chat_room_read_only", "This consultation has ended: its chat is read-only.")
    message_id = secrets.token_hex(16)
    row = {
        "room_id": room["$id"],
        "sender_id": c.user_id,
        "recipient_id": _other(room, c.user_id),
        "text": params.text,
        "created_at": iso(c.now),
        "read_at": None,
        "$permissions": [f'read("user:{room["doctor_id"]}")', f'read("user:{room["patient_user_id"]}")'],
    }
    last = {"last_message_at": iso(c.now), "last_message_preview": params.text[:PREVIEW], "last_sender_id": c.user_id}
    operations = [c.tables.op("create", MESSAGES, message_id, row), c.tables.op("update", ROOMS, room["$id"], last)]
    event = _audited(c, room, "chat.message_sent", message=message_id, length=len(params.text))
    commit_with_audit(c.tables, lambda _tx: Change(operations, [event], None), lambda: c.now)
    return {"message": _public(row | {"$id": message_id})}


def messages(c: Caller, params: Messages) -> dict[str, Any]:
    """A page of the room's messages, newest first (text search and a time range narrow it)."""
    room = room_of(c, params.appointment_id)
    queries = [Query.equal("room_id", room["$id"])]
    if params.search:
        queries.append(Query.search("text", params.search))
    if params.from_:
        queries.append(Query.greater_than_equal("created_at", iso(params.from_)))
    if params.to:
        queries.append(Query.less_than("created_at", iso(params.to)))
    queries.append(Query.order_desc("created_at"))
    rows, cursor = page(c.tables, MESSAGES, queries, params.limit, params.cursor)
    event = _audited(c, room, "chat.read", count=len(rows))
    commit_with_audit(c.tables, lambda _tx: Change([], [event], None), lambda: c.now)
    return {"messages": [_public(r) for r in rows], "nextCursor": cursor}


def mark_read(c: Caller, params: MarkRead) -> dict[str, Any]:
    """Mark one message to you, or all unread ones in the room, as read now; answers how many were marked."""
    room = room_of(c, params.appointment_id)
    queries = [Query.equal("room_id", room["$id"]), Query.equal("recipient_id", c.user_id), Query.is_null("read_at")]
    if params.message_id:
        queries.append(Query.equal("$id", params.message_id))
    ids = [r["$id"] for r in c.tables.each(MESSAGES, queries + [Query.select(["$id"])])]
    if ids:
        c.tables.update_where(MESSAGES, ids, {"read_at": iso(c.now)})
    return {"marked": len(ids), "readAt": iso(c.now) if ids else None}


def rooms(c: Caller, params: Rooms) -> dict[str, Any]:
    """Your rooms, latest message first, each with its last message and how many messages to you are unread."""
    mine = Query.or_queries([Query.equal("doctor_id", c.user_id), Query.equal("patient_user_id", c.user_id)])
    found = c.tables.list(ROOMS, [mine, Query.order_desc("last_message_at"), Query.limit(params.limit)])
    unread = c.gather(**{r["$id"]: (lambda room_id=r["$id"]: _unread(c, room_id)) for r in found}) if found else {}
    return {
        "rooms": [
            {
                "$id": r["$id"],
                "appointmentId": r["appointment_id"],
                "status": r["status"],
                "withUserId": _other(r, c.user_id),
                "lastMessageAt": r.get("last_message_at"),
                "lastMessagePreview": r.get("last_message_preview"),
                "lastSenderId": r.get("last_sender_id"),
                "unread": unread[r["$id"]],
            }
            for r in found
        ]
    }


def _unread(c: Caller, room_id: str) -> int:
    queries = [Query.equal("room_id", room_id), Query.equal("recipient_id", c.user_id), Query.is_null("read_at")]
    return sum(1 for _ in c.tables.each(MESSAGES, queries + [Query.select(["$id"])]))
