"""Handing deliveries to their providers: one at a time (the sweep, a retry that came due) or a batch at once (a
burst of new messages, rxcore.notify.service.process_fresh): the batch takes its provider rate in one block, sends
concurrently and records the acceptances in one transaction, so a message costs a few requests, not a dozen.

Before a text goes, the clinic's daily caps are counted (texts, and money at the account's prices); a send waits
for room in its provider's per-second window, shared by every worker through the `rate_limits` table; a passing
failure is tried again at once up to deliveries.QUICK_ATTEMPTS, then left to the schedule with backoff."""

from __future__ import annotations

import json
import random
import time as clock
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rxcore import outbox
from rxcore.identity import Caller
from rxcore.notify import deliveries, preferences, pricing, unsubscribe
from rxcore.notify.failures import SendFailed
from rxcore.notify.providers import EmailProvider, SmsProvider
from rxcore.notify.recipients import Recipient
from rxcore.notify.types import TYPES, Context, NotificationType
from rxcore.portal import ratelimit
from rxcore.portal.ratelimit import Limit, RateLimited
from rxcore.settings import NotifySettings

DAY, SECOND = timedelta(days=1), timedelta(seconds=1)
ACCEPTED = "accepted"  # taken by the provider, not recorded yet (a batch records its acceptances together)


@dataclass(frozen=True)
class Claimed:
    """A delivery this execution holds, with what sending it needs."""

    row: dict[str, Any]
    kind: NotificationType
    recipient: Recipient | None
    ctx: Context


def address_of(recipient: Recipient, channel: str) -> str | None:
    return recipient.email if channel == "email" else recipient.phone


def provider_of(channel: str) -> str:
    return "sendgrid" if channel == "email" else "twilio"


def context(c: Caller, message: dict[str, Any]) -> Context:
    settings: NotifySettings = c.settings  # type: ignore[assignment]
    return Context(c.tables, c.request.client, outbox.payload_of(message), settings.pdf_bucket_id)


def send(c: Caller, delivery_id: str) -> str:
    """Send one delivery if it is due and nobody else holds it (the sweep); answers its status after the attempt."""
    row = deliveries.claim(c.tables, delivery_id, c.now_fresh())
    if row is None:
        return "skipped"
    message = c.tables.get(outbox.NOTIFICATIONS, row["message_id"]) or {}
    kind = TYPES[row["type"]]
    ctx = context(c, message)
    return send_claimed(c, Claimed(row, kind, _recipient_again(ctx, kind, row), ctx))


def send_claimed(c: Caller, claimed: Claimed) -> str:
    """Hand a held delivery to its provider (quick retries for a blip), and record the outcome."""
    status, provider_id = _deliver(c, claimed, rate_taken=False)
    if status != ACCEPTED:
        return status
    return deliveries.settle(c.tables, claimed.row, c.now_fresh(), provider_id=provider_id)["status"]


def send_batch(c: Caller, batch: list[Claimed]) -> Counter[str]:
    """Send held deliveries concurrently; the providers' rate is taken for all of them at once when it has room,
    and the acceptances are recorded together. Answers how many ended in each status."""
    settings: NotifySettings = c.settings  # type: ignore[assignment]
    wanted = Counter(provider_of(d.row["channel"]) for d in batch)
    taken = {provider for provider, n in wanted.items() if _take_rate(c, settings, provider, n)}
    outcomes = c.each(lambda d: _deliver_or_retry(c, d, rate_taken=provider_of(d.row["channel"]) in taken), batch)
    accepted = {d.row["$id"]: provider_id for d, (status, provider_id) in zip(batch, outcomes, strict=True)
                if status == ACCEPTED}  # fmt: skip
    if accepted:
        deliveries.sent_many(c.tables, accepted, c.now_fresh())
    return Counter("sent" if status == ACCEPTED else status for status, _ in outcomes)


def _deliver_or_retry(c: Caller, claimed: Claimed, rate_taken: bool) -> tuple[str, str | None]:
    """`_deliver` inside a batch: an unexpected failure of one delivery (a cap's counter unreachable) is a passing
    failure of that one, so the batch's acceptances are still recorded (else they would be sent again)."""
    try:
        return _deliver(c, claimed, rate_taken)
    except Exception as exc:
        reason = _read_failure(exc).reason
        c.request.log(f"delivery {claimed.row['$id']} failed before it was sent: {reason}")
        return deliveries.settle(c.tables, claimed.row, c.now_fresh(), error=reason, retry=True)["status"], None


def _deliver(c: Caller, claimed: Claimed, rate_taken: bool) -> tuple[str, str | None]:
    """Try a held delivery until it is accepted (ACCEPTED and the provider's id) or settled otherwise (its status).
    A text counts against its clinic's daily caps once, before its first try."""
    row, kind, recipient, ctx = claimed.row, claimed.kind, claimed.recipient, claimed.ctx
    settings: NotifySettings = c.settings  # type: ignore[assignment]
    address = address_of(recipient, row["channel"]) if recipient else None
    if recipient is None or not address:
        gone = deliveries.settle(c.tables, row, c.now_fresh(), error="the recipient or their address is gone")
        return gone["status"], None
    counted = row["channel"] == "email"
    while True:
        try:
            data = _template_data(kind, ctx, recipient)
            if not counted:
                over = _over_daily_caps(c, settings, row, address, kind.sms(data), kind.urgent)
                if over:
                    return deliveries.suppress(c.tables, row, over, c.now_fresh())["status"], None
                counted = True
            if not rate_taken:
                _wait_for_rate(c, settings, provider_of(row["channel"]))
            rate_taken = False  # a retry waits for its own turn
            return ACCEPTED, _attempt(settings, kind, recipient, address, row, ctx, data)
        except SendFailed as failed:
            c.request.log(f"delivery {row['$id']} ({row['channel']}, {kind.name}) attempt {row['attempts']} failed: "
                          f"{failed.reason}")  # fmt: skip
            if failed.retry and row["attempts"] < deliveries.QUICK_ATTEMPTS:  # a blip: again in a second or two
                clock.sleep(deliveries.quick_pause(row["attempts"]))
                row = deliveries.again(c.tables, row, failed.reason, c.now_fresh())
                continue
            status = deliveries.settle(c.tables, row, c.now_fresh(), error=failed.reason, retry=failed.retry)["status"]
            return status, None


def _over_daily_caps(
    c: Caller, settings: NotifySettings, row: dict[str, Any], address: str, body: str, urgent: bool
) -> str | None:
    """Count one text (`body`, to `address`) against its clinic's day, in texts and in money (SMS and WhatsApp cost
    money); the reason it may not go when a cap is reached, else None. Security notices are never held back."""
    clinic_id = row.get("clinic_id")
    if not clinic_id or urgent:
        return None
    now = c.now_fresh()
    if settings.sms_daily_limit:
        try:
            ratelimit.hit(c.tables, Limit("notify-texts", settings.sms_daily_limit, DAY), clinic_id, now)
        except RateLimited:
            return f"the clinic's daily cap of {settings.sms_daily_limit} texts is reached"
    if settings.daily_spend_cap:
        cost = pricing.cost_units(row["channel"], address, body, pricing.parse_prices(settings.text_prices))
        cap = int(settings.daily_spend_cap / pricing.UNIT)
        try:
            ratelimit.hit(c.tables, Limit("notify-spend", cap, DAY), clinic_id, now, cost=cost)
        except RateLimited:
            return f"the clinic's daily text spend cap of {settings.daily_spend_cap} is reached"
    return None


def _take_rate(c: Caller, settings: NotifySettings, provider: str, n: int) -> bool:
    """Take `n` sends of the provider's current second at once; False when they do not fit (each then waits)."""
    try:
        ratelimit.hit(c.tables, Limit(f"notify-{provider}", settings.provider_rate, SECOND), provider,
                      c.now_fresh(), cost=n)  # fmt: skip
        return True
    except RateLimited:
        return False


def _wait_for_rate(c: Caller, settings: NotifySettings, provider: str) -> None:
    """Hold a send until its provider's per-second window has room (shared by every worker through the table)."""
    for _ in range(50):
        if _take_rate(c, settings, provider, 1):
            return
        clock.sleep(0.05 + random.random() * 0.1)  # noqa: S311 (spreading the waiters)
    raise SendFailed(f"{provider} is at its rate limit", True)


def _template_data(kind: NotificationType, ctx: Context, recipient: Recipient) -> dict[str, Any]:
    """The message's data, read when it is sent; our own reads failing are worth another try."""
    try:
        return kind.data(ctx, recipient)
    except Exception as exc:
        raise _read_failure(exc) from None


def _read_failure(exc: Exception) -> SendFailed:
    """A passing failure named by its cause, without any address."""
    return SendFailed(f"{type(exc).__name__} {getattr(exc, 'code', '')}".strip(), True)


def _attempt(
    settings: NotifySettings, kind: NotificationType, recipient: Recipient, address: str, row: dict[str, Any],
    ctx: Context, data: dict[str, Any],
) -> str:  # fmt: skip
    """One try at handing the delivery to its provider; its id there."""
    try:
        if row["channel"] == "email":
            return _email(settings, kind, recipient, address, data, row, ctx)
        base = settings.public_url.rstrip("/")
        callback = f"{base}/twilio/status?delivery={row['$id']}" if base else None
        whatsapp = row["channel"] == "whatsapp"
        return _sms(settings).send(address, kind.sms(data), whatsapp=whatsapp, status_callback=callback)
    except SendFailed:
        raise
    except Exception as exc:  # our own reads failing (an attachment): worth another try
        raise _read_failure(exc) from None


def _recipient_again(ctx: Context, kind: NotificationType, row: dict[str, Any]) -> Recipient | None:
    """The recipient as they are now (addresses are read when sending, never kept in the log)."""
    return next(
        (r for r in kind.recipients(ctx) if (r.kind, r.id) == (row["recipient_kind"], row["recipient_id"])), None
    )


def _email(
    settings: NotifySettings, kind: NotificationType, to: Recipient, address: str, data: dict[str, Any],
    row: dict[str, Any], ctx: Context,
) -> str:  # fmt: skip
    delivery_id, language = row["$id"], row.get("language")
    templates = json.loads(settings.email_templates or "{}")
    template = preferences.template_for(templates, kind.name, language)
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
