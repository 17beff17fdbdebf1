"""notification-send: the outbox's consumer for messages to people. On each `outbox` row's create event (and, every
minute, for what is due: messages an event missed, deliveries deferred by quiet hours or waiting for a retry) a
message of a known type is fanned out into one delivery per (recipient, channel) and each is sent once, by
SendGrid (e-mail, dynamic templates) or Twilio (SMS, WhatsApp). See docs/functions/notification-send.md."""

from __future__ import annotations

import json
import random
import time as clock
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appwrite.query import Query

from rxcore import audit, outbox
from rxcore.actions import Dispatcher
from rxcore.clock import iso
from rxcore.errors import BadRequest, Forbidden, NotFound
from rxcore.function_shell import FunctionRequest, Reply
from rxcore.identity import Caller, system_only
from rxcore.notify import deliveries, preferences, recipients, unsubscribe, webhooks
from rxcore.notify.failures import SendFailed
from rxcore.notify.providers import EmailProvider, SmsProvider
from rxcore.notify.recipients import Recipient
from rxcore.notify.requests import Deliveries, OutboxEvent, SetPreferences, Sweep
from rxcore.notify.types import TYPES, Context, NotificationType
from rxcore.portal import ratelimit
from rxcore.portal.ratelimit import Limit, RateLimited
from rxcore.settings import NotifySettings
from rxcore.tables import Tables, TableStore, page
from rxcore.wallet.access import CLINIC_ADMIN_ROLES

actions = Dispatcher("notification-send", settings=NotifySettings, on_event="outbox_event", on_schedule="sweep")
TOPICS = sorted(TYPES)
DAY, SECOND = timedelta(days=1), timedelta(seconds=1)


# --- fan-out -------------------------------------------------------------------------------------------------------
def fan_out(c: Caller, message: dict[str, Any]) -> list[Claimed]:
    """The deliveries of one claimed message (created once each). Those that may go now are created already claimed
    (`sending`, with a lease) and answered with what building them read, so sending them costs no second look-up."""
    kind = TYPES[message["topic"]]
    ctx = Context(c.tables, c.request.client, outbox.payload_of(message), c.settings.pdf_bucket_id)  # type: ignore[attr-defined]
    now, send_now = c.now_fresh(), []
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
                "address_masked": recipients.masked(_address(recipient, channel)),
                "status": "sending" if now_going else status,
                "attempts": 1 if now_going else 0,
                "not_before": iso(now + deliveries.LEASE if now_going else not_before),
                "last_error": reason,
                "created_at": iso(now),
                "updated_at": iso(now),
            }
            if deliveries.create(c.tables, row_id, row, _readers(message.get("clinic_id"), recipient)) and now_going:
                send_now.append(Claimed({"$id": row_id} | row, kind, recipient, ctx))
    return send_now


def _address(recipient: Recipient, channel: str) -> str | None:
    return recipient.email if channel == "email" else recipient.phone


def _decide(
    kind: NotificationType, prefs: preferences.Preferences, channel: str, recipient: Recipient, now: datetime
) -> tuple[str, datetime, str | None]:
    if not _address(recipient, channel):
        return "suppressed", now, f"no {'e-mail address' if channel == 'email' else 'mobile number'} on record"
    if not kind.urgent and not prefs.allows(channel, kind.name):
        return "suppressed", now, "opted out"
    until = None if kind.urgent else preferences.quiet_until(prefs, now, recipient.zone)
    return ("deferred", until, "quiet hours") if until else ("queued", now, None)


def _readers(clinic_id: str | None, recipient: Recipient) -> list[str]:
    readers = [f'read("team:{clinic_id}/owner")', f'read("team:{clinic_id}/admin")'] if clinic_id else []
    return readers + ([f'read("user:{recipient.user_id}")'] if recipient.user_id else [])


# --- sending -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claimed:
    """A delivery this execution holds, with what sending it needs."""

    row: dict[str, Any]
    kind: NotificationType
    recipient: Recipient | None
    ctx: Context


def send(c: Caller, delivery_id: str) -> str:
    """Send one delivery if it is due and nobody else holds it (the sweep); answers its status after the attempt."""
    row = deliveries.claim(c.tables, delivery_id, c.now_fresh())
    if row is None:
        return "skipped"
    message = c.tables.get(outbox.TABLE, row["message_id"]) or {}
    kind = TYPES[row["type"]]
    ctx = Context(c.tables, c.request.client, outbox.payload_of(message), c.settings.pdf_bucket_id)  # type: ignore[attr-defined]
    return send_claimed(c, Claimed(row, kind, _recipient_again(c, ctx, kind, row), ctx))


def send_claimed(c: Caller, claimed: Claimed) -> str:
    """Hand a held delivery to its provider (quick retries for a blip), and record the outcome."""
    row, kind, recipient, ctx = claimed.row, claimed.kind, claimed.recipient, claimed.ctx
    settings: NotifySettings = c.settings  # type: ignore[assignment]
    address = _address(recipient, row["channel"]) if recipient else None
    if recipient is None or not address:
        return deliveries.settle(c.tables, row, c.now_fresh(), error="the recipient or their address is gone")["status"]
    if row["channel"] != "email" and not _within_daily_cap(c, settings, row):
        reason = f"the clinic's daily cap of {settings.sms_daily_limit} texts is reached"
        return deliveries.suppress(c.tables, row, reason, c.now_fresh())["status"]
    while True:
        try:
            _wait_for_rate(c, settings, "sendgrid" if row["channel"] == "email" else "twilio")
            provider_id = _attempt(c, settings, kind, recipient, address, row, ctx)
        except SendFailed as failed:
            c.request.log(f"delivery {row['$id']} ({row['channel']}, {kind.name}) attempt {row['attempts']} failed: "
                          f"{failed.reason}")  # fmt: skip
            if failed.retry and row["attempts"] < deliveries.QUICK_ATTEMPTS:  # a blip: again in a second or two
                clock.sleep(deliveries.quick_pause(row["attempts"]))
                row = deliveries.again(c.tables, row, failed.reason, c.now_fresh())
                continue
            return deliveries.settle(c.tables, row, c.now_fresh(), error=failed.reason, retry=failed.retry)["status"]
        return deliveries.settle(c.tables, row, c.now_fresh(), provider_id=provider_id)["status"]


def _within_daily_cap(c: Caller, settings: NotifySettings, row: dict[str, Any]) -> bool:
    """Count one text against its clinic's day (SMS and WhatsApp cost money); False once the cap is reached."""
    if not settings.sms_daily_limit or not row.get("clinic_id"):
        return True
    try:
        ratelimit.hit(c.tables, Limit("notify-texts", settings.sms_daily_limit, DAY), row["clinic_id"], c.now_fresh())
        return True
    except RateLimited:
        return False


def _wait_for_rate(c: Caller, settings: NotifySettings, provider: str) -> None:
    """Hold a send until its provider's per-second window has room (shared by every worker through the table)."""
    limit = Limit(f"notify-{provider}", settings.provider_rate, SECOND)
    for _ in range(50):
        try:
            ratelimit.hit(c.tables, limit, provider, c.now_fresh())
            return
        except RateLimited:
            clock.sleep(0.05 + random.random() * 0.1)  # noqa: S311 (spreading the waiters)
    raise SendFailed(f"{provider} is at its rate limit", True)


def _attempt(
    c: Caller,
    settings: NotifySettings,
    kind: NotificationType,
    recipient: Recipient,
    address: str,
    row: dict[str, Any],
    ctx: Context,
) -> str:
    """One try at handing the delivery to its provider; its id there."""
    try:
        data = kind.data(ctx, recipient)
        if row["channel"] == "email":
            return _email(settings, kind, recipient, address, data, row["$id"], ctx)
        base = settings.public_url.rstrip("/")
        callback = f"{base}/twilio/status?delivery={row['$id']}" if base else None
        whatsapp = row["channel"] == "whatsapp"
        return _sms(settings).send(address, kind.sms(data), whatsapp=whatsapp, status_callback=callback)
    except SendFailed:
        raise
    except Exception as exc:  # our own reads failing: worth another try; the cause named without any address
        raise SendFailed(f"{type(exc).__name__} {getattr(exc, 'code', '')}".strip(), True) from None


def _recipient_again(c: Caller, ctx: Context, kind: NotificationType, row: dict[str, Any]) -> Recipient | None:
    """The recipient as they are now (addresses are read when sending, never kept in the log)."""
    return next(
        (r for r in kind.recipients(ctx) if (r.kind, r.id) == (row["recipient_kind"], row["recipient_id"])), None
    )


def _email(
    settings: NotifySettings,
    kind: NotificationType,
    to: Recipient,
    address: str,
    data: dict[str, Any],
    delivery_id: str,
    ctx: Context,
) -> str:
    templates = json.loads(settings.email_templates or "{}")
    template = templates.get(kind.name)
    if not template:
        raise SendFailed(f"no SendGrid template is configured for {kind.name} (RX_NOTIFY_EMAIL_TEMPLATES)", False)
    if not settings.sendgrid_api_key.get_secret_value():
        raise SendFailed("SENDGRID_API_KEY is not set", False)
    provider = EmailProvider(
        settings.sendgrid_api_key.get_secret_value(),
        settings.sendgrid_api_host,
        settings.from_email,
        settings.from_name,
    )
    url = None if kind.urgent else unsubscribe.link(settings.public_url, settings.link_secret.get_secret_value(),
                                                     to.kind, to.id)  # fmt: skip
    data = data | ({"unsubscribe_url": url} if url else {})
    return provider.send(address, to.name, template, data, delivery_id, kind.attachments(ctx), url)


def _sms(settings: NotifySettings) -> SmsProvider:
    if not (settings.twilio_account_sid and settings.twilio_auth_token.get_secret_value()):
        raise SendFailed("TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are not set", False)
    return SmsProvider(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        settings.twilio_from_number,
        settings.twilio_messaging_service_sid,
        settings.twilio_api_base,
    )


def process(c: Caller, message_id: str) -> dict[str, Any]:
    """Claim one outbox message, fan it out, mark it done, and send what may go now."""
    message = outbox.claim(c.tables, message_id, c.now_fresh())
    if message is None:
        return {"message": message_id, "outcome": "not_due"}
    try:
        to_send = fan_out(c, message)
    except Exception as exc:
        outbox.settle(c.tables, message, c.now_fresh(), error=f"{type(exc).__name__}: {exc}")
        raise
    outbox.settle(c.tables, message, c.now_fresh())
    return {"message": message_id, "outcome": "fanned_out", "sent": [send_claimed(c, d) for d in to_send]}


# --- triggers ------------------------------------------------------------------------------------------------------
@actions.action("outbox_event", OutboxEvent, guests=True)
def outbox_event(c: Caller, params: OutboxEvent) -> dict[str, Any]:
    """An `outbox` row was created: deliver it now if it is a notification."""
    system_only(c)
    message_id = outbox.event_message(params.payload, TYPES)
    return process(c, message_id) if message_id else {"outcome": "not_a_notification"}


@actions.action("sweep", Sweep, guests=True)
def sweep(c: Caller, _params: Sweep) -> dict[str, Any]:
    """Every minute: messages an event missed or whose retry is due, then deliveries whose time has come."""
    system_only(c)
    now = c.now_fresh()
    processed = [process(c, m["$id"])["outcome"] for m in outbox.due(c.tables, TOPICS, now)]
    sent = [send(c, d["$id"]) for d in deliveries.due(c.tables, now)]
    return {"messages": len(processed), "deliveries": sent}


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
