"""appointment-booking: doctors' slots, booking with a 15-minute payment hold at a locked price, the appointment's
lifecycle, and the doctor–patient chat. See docs/functions/appointment-booking.md.

Payment is billing-process's (`consultation_order`); this function hears of it from the outbox
(`consultation.paid`) and asks for refunds the same way (`consultation.refund_requested`). The schedule (every
minute) expires unpaid holds, takes payment messages an event missed, and archives closed rooms."""

from __future__ import annotations

from typing import Any

from rxcore import outbox
from rxcore.actions import Dispatcher
from rxcore.consult import booking, chat, lifecycle, slots
from rxcore.consult.requests import (
    AppointmentRef,
    Book,
    Browse,
    Cancel,
    Close,
    MarkRead,
    Messages,
    MyAppointments,
    OutboxEvent,
    PublishSlots,
    Remove,
    RemoveSlot,
    Rooms,
    SendMessage,
    SetFees,
    Sweep,
)
from rxcore.identity import Caller, system_only

actions = Dispatcher("appointment-booking", on_event="outbox_event", on_schedule="sweep")
TOPICS = ["consultation.paid"]

actions.action("publish_slots", PublishSlots)(slots.publish)
actions.action("remove_slot", RemoveSlot)(slots.remove)
actions.action("browse", Browse)(slots.browse)
actions.action("book", Book)(booking.book)
actions.action("get", AppointmentRef)(lifecycle.get)
actions.action("list", MyAppointments)(lifecycle.mine)
actions.action("cancel", Cancel)(lifecycle.cancel)
actions.action("close", Close)(lifecycle.close)
actions.action("delete", Remove)(lifecycle.delete)
actions.action("set_fees", SetFees)(lifecycle.set_fees)
actions.action("send_message", SendMessage)(chat.send)
actions.action("messages", Messages)(chat.messages)
actions.action("mark_read", MarkRead)(chat.mark_read)
actions.action("rooms", Rooms)(chat.rooms)


def _take(c: Caller, message_id: str) -> dict[str, Any]:
    def handle(payload: dict[str, Any]) -> str:
        return booking.paid(c, payload["appointmentId"], payload.get("paymentId", ""))

    return outbox.consume(c.tables, message_id, c.now_fresh, handle)


@actions.action("outbox_event", OutboxEvent, guests=True)
def outbox_event(c: Caller, params: OutboxEvent) -> dict[str, Any]:
    """An `outbox` row was created: take it if it says an appointment was paid."""
    system_only(c)
    message_id = outbox.event_message(params.payload, TOPICS)
    return _take(c, message_id) if message_id else {"outcome": "not_ours"}


@actions.action("sweep", Sweep, guests=True)
def sweep(c: Caller, _params: Sweep) -> dict[str, Any]:
    """Every minute: payments an event missed, unpaid holds that lapsed, closed rooms 30 days on."""
    system_only(c)
    taken = [_take(c, m["$id"])["outcome"] for m in outbox.due(c.tables, TOPICS, c.now_fresh())]
    return {"payments": len(taken), "expired": booking.expire_due(c), "archived": lifecycle.archive_due(c)}
