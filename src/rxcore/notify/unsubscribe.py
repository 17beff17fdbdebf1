"""Unsubscribe links in e-mails (pure apart from `apply`): a link names the recipient and is signed with
`RX_NOTIFY_LINK_SECRET` (HMAC-SHA256), so it works without signing in and cannot be made for anyone else. Following it
(GET, or the one-click POST mail clients send for `List-Unsubscribe-Post`, RFC 8058) turns e-mail off for that
recipient; urgent types (security notices) still come, and the recipient can turn e-mail back on in their
preferences. Links do not expire: an old e-mail's link must still work."""

from __future__ import annotations

import base64
import hashlib
import hmac

from rxcore.notify import preferences
from rxcore.tables import TableStore


def token(secret: str, kind: str, recipient_id: str) -> str:
    subject = f"{kind}:{recipient_id}"
    mac = hmac.new(secret.encode(), subject.encode(), hashlib.sha256).hexdigest()[:32]
    return base64.urlsafe_b64encode(subject.encode()).decode().rstrip("=") + "." + mac


def subject_of(secret: str, value: str) -> tuple[str, str] | None:
    """(kind, recipient id) of a genuine token; None for anything else."""
    encoded, _, mac = value.partition(".")
    try:
        subject = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    expected = hmac.new(secret.encode(), subject.encode(), hashlib.sha256).hexdigest()[:32]
    kind, _, recipient_id = subject.partition(":")
    if not secret or not hmac.compare_digest(mac, expected) or kind not in ("patient", "user") or not recipient_id:
        return None
    return kind, recipient_id


def link(public_url: str, secret: str, kind: str, recipient_id: str) -> str | None:
    if not public_url or not secret:
        return None
    return f"{public_url.rstrip('/')}/unsubscribe?t={token(secret, kind, recipient_id)}"


def apply(tables: TableStore, kind: str, recipient_id: str, now: str) -> None:
    row_id = preferences.preferences_id(kind, recipient_id)
    if tables.get(preferences.TABLE, row_id) is None:
        data = {"recipient_kind": kind, "recipient_id": recipient_id, "email": False, "sms": True, "whatsapp": False,
                "muted_types": [], "updated_at": now}  # fmt: skip
        readers = [f'read("user:{recipient_id}")'] if kind == "user" else _patient_readers(tables, recipient_id)
        tables.create(preferences.TABLE, row_id, data, readers)
    else:
        tables.update(preferences.TABLE, row_id, {"email": False, "updated_at": now})


def _patient_readers(tables: TableStore, patient_id: str) -> list[str]:
    user_id = (tables.get("patients", patient_id) or {}).get("user_id")
    return [f'read("user:{user_id}")'] if user_id else []


PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Unsubscribed</title>
<body style="font-family:sans-serif;max-width:36em;margin:3em auto"><h1>You are unsubscribed</h1>
<p>You will not receive these e-mails any more. Messages about the security of your account still come.
You can turn e-mail back on in your notification settings.</p></body></html>"""
