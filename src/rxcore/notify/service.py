"""notification-send: the outbox's consumer for messages to people. On each `outbox` row's create event (and, every
minute, for what is due: messages an event missed, deliveries deferred by quiet hours or waiting for a retry) a
message of a known type is fanned out into one delivery per (recipient, channel) and each is sent once, by
SendGrid (e-mail, dynamic templates) or Twilio (SMS, WhatsApp). See docs/functions/notification-send.md."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appwrite.query import Query

from rxcore import audit, outbox
from rxcore.actions import Dispatcher
from rxcore.clock import iso
from rxcore.errors import BadRequest, Conflict, Forbidden, NotFound, invalid_argument
from rxcore.function_shell import FunctionRequest, Reply
from rxcore.identity import Caller, is_platform_admin, system_only
from rxcore.notify import deliveries, preferences, recipients, security, unsubscribe, webhooks
from rxcore.notify.recipients import Recipient
from rxcore.notify.requests import Deliveries, Notify, OutboxEvent, SetPreferences, Sweep
from rxcore.notify.sending import Claimed, address_of, context, send, send_batch
from rxcore.notify.types import TYPES, NotificationType
from rxcore.settings import NotifySettings
from rxcore.tables import Tables, TableStore, page
from rxcore.wallet.access import CLINIC_ADMIN_ROLES

actions = Dispatcher("notification-send", settings=NotifySettings, on_event="outbox_event", on_schedule="sweep")
TOPICS = sorted(TYPES)
BATCH = 100  # new messages one execution takes at once (a burst of events shares the work)


# --- fan-out -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Planned:
    """One delivery of a message, before it is written: its id, row and readers; and, when it may go now, what
    sending it needs (it is written already claimed, so sending costs no second look-up)."""

    row_id: str
    row: dict[str, Any]
    readers: list[str]
    send_now: Claimed | None


def plan(c: Caller, message: dict[str, Any]) -> list[Planned]:
    """The deliveries of one claimed message: one per (recipient, channel), each decided by the recipient's
    preferences, quiet hours and addresses."""
    kind, ctx = TYPES[message["topic"]], context(c, message)
    now, planned = c.now_fresh(), []
    for recipient in kind.recipients(ctx):
        prefs = preferences.load(c.tables, recipient.kind, recipient.id)
        for channel in kind.channels:
            if channel == "whatsapp" and not prefs.whatsapp:
                continue  # only for those who asked for it
            status, not_before, reason = _decide(kind, prefs, channel, recipient, now)
            now_going = status == "queued"
            row_id = deliveries.delivery_id(message["key"], recipient.kind, recipient.id, channel)
            row = {
                "message_id": message["$id"],
                "type": kind.name,
                "clinic_id": message.get("clinic_id"),
                "recipient_kind": recipient.kind,
                "recipient_id": recipient.id,
                "user_id": recipient.user_id,
                "channel": channel,
                "language": prefs.language,
                "address_masked": recipients.masked(address_of(recipient, channel)),
                "status": "sending" if now_going else status,
                "attempts": 1 if now_going else 0,
                "not_before": iso(now + deliveries.LEASE if now_going else not_before),
                "last_error": reason,
                "created_at": iso(now),
                "updated_at": iso(now),
            }
            claimed = Claimed({"$id": row_id} | row, kind, recipient, ctx) if now_going else None
            planned.append(Planned(row_id, row, _readers(message.get("clinic_id"), recipient), claimed))
    return planned


def _decide(
    kind: NotificationType, prefs: preferences.Preferences, channel: str, recipient: Recipient, now: datetime
) -> tuple[str, datetime, str | None]:
    if not address_of(recipient, channel):
        return "suppressed", now, f"no {'e-mail address' if channel == 'email' else 'mobile number'} on record"
    if not kind.urgent and not prefs.allows(channel, kind.name):
        return "suppressed", now, "opted out"
    until = None if kind.urgent else preferences.quiet_until(prefs, now, recipient.zone)
    return ("deferred", until, "quiet hours") if until else ("queued", now, None)


def _readers(clinic_id: str | None, recipient: Recipient) -> list[str]:
    readers = [f'read("team:{clinic_id}/owner")', f'read("team:{clinic_id}/admin")'] if clinic_id else []
    return readers + ([f'read("user:{recipient.user_id}")'] if recipient.user_id else [])


# --- delivering messages -------------------------------------------------------------------------------------------
def process(c: Caller, message_id: str) -> dict[str, Any]:
    """Claim one outbox message (a retry, or one whose lease ran out) and deliver it."""
    message = outbox.claim(c.tables, message_id, c.now_fresh(), outbox.NOTIFICATIONS)
    if message is None:
        return {"message": message_id, "outcome": "not_due"}
    delivered = _deliver_claimed(c, [message])
    return {"message": message_id, "outcome": "failed" if delivered["failed"] else "fanned_out"} | delivered


def process_fresh(c: Caller) -> dict[str, Any]:
    """Take up to BATCH new messages at once and deliver them together."""
    messages = outbox.claim_fresh(c.tables, TOPICS, c.now_fresh(), BATCH)
    return _deliver_claimed(c, messages) if messages else {"messages": 0}


def _deliver_claimed(c: Caller, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Fan claimed messages out concurrently, write their deliveries together (row by row where some exist already:
    a message taken again after a lost lease), mark them done in one write and send what may go now as a batch. A
    message whose fan-out fails is recorded for a retry with backoff."""
    plans = c.each(lambda m: _plan_or_error(c, m), messages)
    for message, (_planned, error) in zip(messages, plans, strict=True):
        if error:
            outbox.settle(c.tables, message, c.now_fresh(), error=error)
    planned = [p for found, error in plans if not error for p in found]
    created = deliveries.create_many(c.tables, [(p.row_id, p.row, p.readers) for p in planned])
    fanned_out = [m["$id"] for m, (_p, error) in zip(messages, plans, strict=True) if not error]
    outbox.settle_sent(c.tables, outbox.NOTIFICATIONS, fanned_out, c.now_fresh())
    sent = send_batch(c, [p.send_now for p in planned if p.send_now and p.row_id in created])
    return {"messages": len(messages), "failed": sum(1 for _p, error in plans if error), "deliveries": dict(sent)}


def _plan_or_error(c: Caller, message: dict[str, Any]) -> tuple[list[Planned], str | None]:
    try:
        return plan(c, message), None
    except Exception as exc:
        return [], f"{type(exc).__name__}: {exc}"


# --- triggers ------------------------------------------------------------------------------------------------------
@actions.action("outbox_event", OutboxEvent, guests=True)
def outbox_event(c: Caller, params: OutboxEvent) -> dict[str, Any]:
    """An `outbox` row was created: deliver it now if it is a notification."""
    system_only(c)
    if security.is_account_event(params.event):
        return security.record(c, params.event, params.payload)
    if not outbox.event_message(params.payload, TYPES):
        return {"outcome": "not_a_notification"}
    return process_fresh(c)  # this message, or the batch another execution took it in


@actions.action("sweep", Sweep, guests=True)
def sweep(c: Caller, _params: Sweep) -> dict[str, Any]:
    """Every minute: messages an event missed or whose retry is due, then deliveries whose time has come."""
    system_only(c)
    fresh = process_fresh(c)
    now = c.now_fresh()
    processed = [process(c, m["$id"])["outcome"] for m in outbox.due(c.tables, TOPICS, now)]
    sent = [send(c, d["$id"]) for d in deliveries.due(c.tables, now)]
    return {"messages": fresh["messages"] + len(processed), "deliveries": sent}


@actions.action("notify", Notify)
def notify(c: Caller, params: Notify) -> dict[str, Any]:
    """Send a notification of a known type now (platform admins); the same key sends once."""
    if not is_platform_admin(c):
        raise Forbidden("user_unauthorized", "Only platform admins may send notifications directly.")
    kind = TYPES.get(params.type)
    if kind is None or kind.urgent:  # security notices come from account events only: they ignore opt-outs
        sendable = ", ".join(t for t in TOPICS if not TYPES[t].urgent)
        raise invalid_argument(f"`type` must be one of {sendable}.")
    missing = [key for key in kind.needs if not isinstance(params.payload.get(key), str) or not params.payload[key]]
    if missing:
        raise invalid_argument(f"`payload` of {kind.name} needs {', '.join(missing)} (ids, as text).")
    message = outbox.Message(params.type, f"{params.type}:admin:{params.key}", params.payload, params.clinic_id)
    row_id = outbox.message_id(message.key)
    event = c.event("admin", "notification.requested", "notification", row_id, params.clinic_id, None,
                    type=params.type, key=params.key)  # fmt: skip

    def decide(_tx: str | None) -> audit.Change[dict[str, Any]] | dict[str, Any]:
        before = c.tables.get(outbox.NOTIFICATIONS, row_id)
        if before is not None:  # sent before (or by a twin just now): the same request is answered again
            if (outbox.payload_of(before), before.get("clinic_id")) != (message.payload, message.clinic_id):
                raise Conflict("idempotency_key_reused", "This key was used for a different notification.")
            return {"messageId": row_id, "replayed": True}
        return audit.Change([], [event], {"messageId": row_id, "replayed": False}, messages=[message])

    return audit.commit_with_audit(c.tables, decide, c.now_fresh)


# --- the log and preferences -----------------------------------------------------------------------------------------
@actions.action("deliveries", Deliveries)
def list_deliveries(c: Caller, params: Deliveries) -> dict[str, Any]:
    """A clinic's delivery log (its owners and admins), or the caller's own messages."""
    if params.clinic_id:
        c.clinic_member(params.clinic_id, CLINIC_ADMIN_ROLES)
        queries = [Query.equal("clinic_id", params.clinic_id)]
    else:
        queries = [Query.equal("user_id", c.user_id)]
    for column, value in (("type", params.type), ("status", params.status), ("recipient_id", params.recipient_id)):
        if value:
            queries.append(Query.equal(column, value))
    if params.from_:
        queries.append(Query.greater_than_equal("created_at", iso(datetime.combine(params.from_, time.min, UTC))))
    if params.to:
        queries.append(Query.less_than("created_at", iso(datetime.combine(params.to, time.min, UTC))))
    queries.append(Query.order_desc("$sequence"))
    rows, cursor = page(c.tables, deliveries.TABLE, queries, params.limit, params.cursor)
    shown = [{k: v for k, v in r.items() if not k.startswith("$") or k == "$id"} for r in rows]
    return {"deliveries": shown, "nextCursor": cursor}


@actions.action("set_preferences", SetPreferences)
def set_preferences(c: Caller, params: SetPreferences) -> dict[str, Any]:
    """Save the caller's (or their linked patient record's) channels, muted types and quiet hours."""
    kind, recipient_id = "user", c.user_id
    if params.patient_id:
        patient = c.tables.get("patients", params.patient_id)
        if patient is None or patient.get("user_id") != c.user_id:
            raise NotFound("patient_not_found", "No patient record linked to your account has this id.")
        kind, recipient_id = "patient", params.patient_id
    if params.timezone:
        try:
            ZoneInfo(params.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadRequest("general_argument_invalid", "`timezone` is not an IANA time zone.") from None
    row = {
        "recipient_kind": kind,
        "recipient_id": recipient_id,
        "email": params.email,
        "sms": params.sms,
        "whatsapp": params.whatsapp,
        "muted_types": list(params.muted_types),
        "quiet_start": params.quiet_start,
        "quiet_end": params.quiet_end,
        "timezone": params.timezone,
        "language": params.language,
        "consent_at": iso(c.now),
        "updated_at": iso(c.now),
    }
    _save(c.tables, preferences.preferences_id(kind, recipient_id), row, c.user_id)
    event = c.event(
        "recipient",
        "notification.preferences_set",
        kind,
        recipient_id,
        None,
        recipient_id if kind == "patient" else None,
        channels=[k for k in preferences.CHANNELS if row[k]],
    )
    audit.append(c.tables, [event], iso(c.now))
    return {"preferences": row}


def _save(tables: TableStore, row_id: str, row: dict[str, Any], user_id: str) -> None:
    if tables.get(preferences.TABLE, row_id) is None:
        tables.create(preferences.TABLE, row_id, row, [f'read("user:{user_id}")'])
    else:
        tables.update(preferences.TABLE, row_id, row)


# --- the providers' callbacks (rxcore.notify.webhooks) -------------------------------------------------------------
def _callback(handler: Any) -> Any:
    def endpoint(request: FunctionRequest, settings: NotifySettings) -> dict[str, Any]:
        return handler(request, settings, Tables(request.client, settings.database_id))

    return endpoint


actions.path("/sendgrid/events")(_callback(webhooks.sendgrid_events))
actions.path("/twilio/status")(_callback(webhooks.twilio_status))
actions.path("/twilio/inbound")(_callback(webhooks.twilio_inbound))


@actions.path("/unsubscribe")
def unsubscribe_link(request: FunctionRequest, settings: NotifySettings) -> Reply:
    """An e-mail's unsubscribe link (GET from the reader, POST from a one-click mail client)."""
    subject = unsubscribe.subject_of(settings.link_secret.get_secret_value(), request.query.get("t", ""))
    if subject is None:
        raise Forbidden("notify_link_invalid", "This unsubscribe link is not valid.")
    tables = Tables(request.client, settings.database_id)
    unsubscribe.apply(tables, subject[0], subject[1], iso(request.now()))
    return Reply(unsubscribe.PAGE, 200, {"content-type": "text/html; charset=utf-8"})
