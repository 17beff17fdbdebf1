"""Security notices: when an account's password, e-mail address, phone number or MFA setting changes, its owner is
told at once by e-mail and SMS, whatever their preferences or quiet hours say (a change they did not make must
reach them). The producer is Appwrite itself: notification-send listens to `users.*.update.password|email|phone|mfa`
(appwrite.json) and turns each event into a `security.notice` outbox message, keyed by the user, the change and the
account's update time, so an event delivered twice notifies once; the message then goes the way every other does.

An e-mail change reaches the new address only: the event carries the account as it is after the change."""

from __future__ import annotations

import re
from typing import Any

from rxcore import outbox
from rxcore.identity import Caller
from rxcore.notify.types import SECURITY_CHANGES
from rxcore.tables import is_conflict

ACCOUNT_EVENT = re.compile(rf"^users\.([A-Za-z0-9._-]{{1,36}})\.update\.({'|'.join(SECURITY_CHANGES)})$")


def is_account_event(event: str) -> bool:
    return ACCOUNT_EVENT.match(event) is not None


def record(c: Caller, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Write the notice for an account event as an outbox message (once per change)."""
    found = ACCOUNT_EVENT.match(event)
    if found is None:
        return {"outcome": "not_a_notification"}
    user_id, change = found.groups()
    changed_at = str(payload.get("$updatedAt") or c.now_fresh().isoformat())
    message = outbox.Message(
        "security.notice",
        f"security.notice:{user_id}:{change}:{changed_at}",
        {"userId": user_id, "change": change, "changedAt": changed_at},
    )
    try:
        row = outbox.message_row(message, c.now_fresh())
        c.tables.create(outbox.NOTIFICATIONS, outbox.message_id(message.key), row)
    except Exception as exc:
        if not is_conflict(exc):
            raise
        return {"outcome": "already_recorded"}
    return {"outcome": "recorded", "change": change}
