"""What the providers tell us after a send, on notification-send's function domain, each request authenticated
before anything is read or written (a forged, unsigned or stale one is `403` and changes nothing):

- `POST /sendgrid/events`: SendGrid's signed Event Webhook (ECDSA P-256 over timestamp + the exact body, the public
  key from `SENDGRID_WEBHOOK_PUBLIC_KEY`; at most 5 minutes old). Events name our delivery by `delivery_id`.
- `POST /twilio/status`: Twilio's status callback (`X-Twilio-Signature`, HMAC-SHA1 with the auth token over the exact
  public URL and the form parameters). The message is found by its sid.
- `POST /twilio/inbound`: a reply. `STOP` (and Twilio's other opt-out words) turns SMS, or WhatsApp, off for the
  patient records with that number; `START` turns it back on.

A delivery's status only moves forward (`sent` → `delivered` → `opened`; `bounced`, `dropped`, `undelivered` end it),
so a duplicate or a late callback changes nothing."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from appwrite.query import Query
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator

from rxcore.clock import iso
from rxcore.errors import BadRequest, Forbidden, NotConfigured
from rxcore.function_shell import FunctionRequest
from rxcore.notify import deliveries, preferences
from rxcore.settings import NotifySettings
from rxcore.tables import TableStore

MAX_BODY = 512 * 1024
TOLERANCE = 300  # seconds
RANK = {"sent": 1, "delivered": 2, "opened": 3}
FINAL_FAILURES = {"bounced", "dropped", "undelivered"}
SENDGRID_STATUS = {"delivered": "delivered", "open": "opened", "bounce": "bounced", "dropped": "dropped"}
TWILIO_STATUS = {"sent": "sent", "delivered": "delivered", "read": "opened", "undelivered": "undelivered",
                 "failed": "undelivered"}  # fmt: skip
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
START_WORDS = {"START", "UNSTOP", "YES", "OPTIN"}


def _moves_forward(current: str, new: str) -> bool:
    if current in ("queued", "deferred", "retrying", "failed", "suppressed"):
        return False  # nothing was accepted by the provider: a callback about it is not about this attempt
    if current in FINAL_FAILURES:
        return False
    if new in FINAL_FAILURES:
        return True
    return RANK.get(new, 0) > RANK.get(current, 0)


def apply_status(tables: TableStore, row: dict[str, Any] | None, status: str, detail: str, at: str) -> bool:
    if row is None or not _moves_forward(row["status"], status):
        return False
    update = {"status": status, "updated_at": at} | ({"last_error": detail[:300]} if status in FINAL_FAILURES else {})
    tables.update(deliveries.TABLE, row["$id"], update)
    return True


def _check_size(request: FunctionRequest) -> None:
    if request.method != "POST" or len(request.raw_body) > MAX_BODY:
        raise BadRequest("notify_webhook_invalid", f"Providers POST at most {MAX_BODY} bytes.")


def sendgrid_events(request: FunctionRequest, settings: NotifySettings, tables: TableStore) -> dict[str, Any]:
    _check_size(request)
    key = settings.sendgrid_webhook_public_key.get_secret_value()
    if not key:
        raise NotConfigured("notify_not_configured", "SENDGRID_WEBHOOK_PUBLIC_KEY is not set for this function.")
    signature = request.headers.get("x-twilio-email-event-webhook-signature", "")
    stamp = request.headers.get("x-twilio-email-event-webhook-timestamp", "")
    payload = request.raw_body.decode("utf-8", "replace")
    fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= TOLERANCE
    try:
        valid = fresh and bool(signature) and EventWebhook(key).verify_signature(payload, signature, stamp)
    except Exception:  # a malformed key or signature is a bad signature
        valid = False
    if not valid:
        request.log(f"SendGrid event webhook refused from {request.client_ip or 'unknown'}")
        raise Forbidden("notify_webhook_signature_invalid", "The event webhook signature does not match this body.")
    events = _json_list(request.raw_body)
    at, applied = iso(request.now()), 0
    for event in events:
        status = SENDGRID_STATUS.get(str(event.get("event")))
        delivery = str(event.get("delivery_id") or "")
        if status and delivery:
            row = tables.get(deliveries.TABLE, delivery)
            applied += apply_status(tables, row, status, str(event.get("reason") or event.get("event")), at)
    return {"received": len(events), "applied": applied}


def _json_list(raw: bytes) -> list[dict[str, Any]]:
    try:
        events = json.loads(raw)
    except ValueError:
        raise BadRequest("notify_webhook_invalid", "The body is not JSON.") from None
    if not isinstance(events, list):
        raise BadRequest("notify_webhook_invalid", "SendGrid sends a JSON array of events.")
    return [e for e in events if isinstance(e, dict)]


def _twilio_form(request: FunctionRequest, settings: NotifySettings, path: str) -> dict[str, str]:
    """The callback's form parameters, once its signature is Twilio's over our public URL (with the query we put
    in it) and them."""
    _check_size(request)
    token = settings.twilio_auth_token.get_secret_value()
    if not token or not settings.public_url:
        raise NotConfigured("notify_not_configured", "TWILIO_AUTH_TOKEN and RX_NOTIFY_PUBLIC_URL must be set.")
    params = dict(parse_qsl(request.raw_body.decode("utf-8", "replace"), keep_blank_values=True))
    query = urlencode(sorted(request.query.items()))
    url = settings.public_url.rstrip("/") + path + (f"?{query}" if query else "")
    if not RequestValidator(token).validate(url, params, request.headers.get("x-twilio-signature", "")):
        request.log(f"Twilio callback refused from {request.client_ip or 'unknown'}")
        raise Forbidden("notify_webhook_signature_invalid", "The X-Twilio-Signature does not match this request.")
    return params


def twilio_status(request: FunctionRequest, settings: NotifySettings, tables: TableStore) -> dict[str, Any]:
    params = _twilio_form(request, settings, "/twilio/status")
    status = TWILIO_STATUS.get(params.get("MessageStatus", ""))
    # Our callback URL names the delivery (the callback may come before we recorded Twilio's sid); else by the sid.
    row = tables.get(deliveries.TABLE, request.query["delivery"]) if request.query.get("delivery") else None
    if row is None:
        rows = tables.list(deliveries.TABLE, [Query.equal("provider_id", params.get("MessageSid", "")), Query.limit(1)])
        row = rows[0] if rows else None
    if row is not None and params.get("MessageSid") and row.get("provider_id") not in (None, params["MessageSid"]):
        return {"received": True, "applied": False}  # another attempt's message
    detail = f"Twilio error {params.get('ErrorCode')}" if params.get("ErrorCode") else params.get("MessageStatus", "")
    applied = bool(status) and apply_status(tables, row, status, detail, iso(request.now()))
    return {"received": True, "applied": applied}


def twilio_inbound(request: FunctionRequest, settings: NotifySettings, tables: TableStore) -> dict[str, Any]:
    params = _twilio_form(request, settings, "/twilio/inbound")
    word = params.get("Body", "").strip().upper()
    sender = params.get("From", "")
    channel = "whatsapp" if sender.startswith("whatsapp:") else "sms"
    number = sender.removeprefix("whatsapp:")
    if word not in STOP_WORDS | START_WORDS or not number:
        return {"received": True, "changed": 0}
    wanted = word in START_WORDS
    patients = tables.list("patients", [Query.equal("phone", number), Query.limit(50)])
    at = iso(request.now())
    for patient in patients:
        row_id = preferences.preferences_id("patient", patient["$id"])
        current = tables.get(preferences.TABLE, row_id)
        if current is None:
            data = {"recipient_kind": "patient", "recipient_id": patient["$id"], "email": True, "sms": True,
                    "whatsapp": False, "muted_types": [], "updated_at": at} | {channel: wanted}  # fmt: skip
            readers = [f'read("user:{patient["user_id"]}")'] if patient.get("user_id") else []
            tables.create(preferences.TABLE, row_id, data, readers)
        else:
            tables.update(preferences.TABLE, row_id, {channel: wanted, "updated_at": at})
    return {"received": True, "changed": len(patients)}
