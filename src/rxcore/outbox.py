"""The transactional outbox: how one feature causes another (a signed prescription → a "prescription ready"
message; later a payment → tokens, a booking → a reminder).

A feature writes its message as an `outbox` row **in the same Appwrite transaction** as the change it reports
(`message_operation`, or `Change.messages` with rxcore.audit.commit_with_audit), so there is never a change
without its message nor a message about a change that did not happen. The row id is derived from the message's
idempotency key: the same change retried writes the same row once.

A consumer (a function) takes messages of its topics in two ways, both declared in appwrite.json:
  - on the row-create event `databases.<db>.tables.outbox.rows.*.create`, at once, and
  - on a schedule (every minute), sweeping what is due: new rows an event missed and failed rows whose next
    attempt time has come.
Either way it calls `claim` first: a message is delivered by one consumer at a time (the claim is a compare-and-
set in a transaction; a claim that is not settled within LEASE is taken again), then `settle` with the outcome.
Failures are retried with backoff up to MAX_ATTEMPTS, then the message is `dead` for an operator to look at.
Delivery is at least once: a consumer's effect must itself be idempotent (keyed by the message's `key`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from appwrite.query import Query

from rxcore.clock import iso
from rxcore.ids import derived_id
from rxcore.tables import TableStore, update_if

TABLE = "outbox"  # workflow messages: one feature acting on another (billing <-> booking)
NOTIFICATIONS = "notification_outbox"  # messages to people: only notification-send wakes on its writes
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
BACKOFF = (60, 300, 900, 3600, 3600 * 3, 3600 * 6, 3600 * 12)  # seconds after attempt 1, 2, ...
# Every topic a feature writes, and its table: a consumer's topics share one table, so that a message wakes only the
# function that takes it (every write to a table starts each function subscribed to its create event; on a real
# cluster an execution is a container call, and notifications are the bulk of all messages).
TOPICS = {
    "prescription.ready": NOTIFICATIONS,  # prescription-create, on signing
    "prescription.dispensed": NOTIFICATIONS,  # dispensing: what was supplied, supplies left, anything owed
    "payment.succeeded": NOTIFICATIONS,  # billing-process: a receipt to send
    "payment.refunded": NOTIFICATIONS,  # billing-process: a refund to confirm
    "consultation.paid": TABLE,  # billing-process: the appointment's order is paid (the booking confirms it)
    "consultation.refunded": TABLE,  # billing-process: the appointment's order was refunded
    "consultation.refund_requested": TABLE,  # appointment-booking: give an appointment's money back / cancel its order
    "appointment.booked": NOTIFICATIONS,  # appointment-booking: paid and confirmed (a confirmation to the patient)
    "appointment.reminder": NOTIFICATIONS,  # appointment-booking: 24 h and 1 h before (available_at), once each
    "appointment.cancelled": NOTIFICATIONS,  # appointment-booking: cancelled by either side
    "subscription.payment_failed": NOTIFICATIONS,  # billing-process: a renewal could not be charged (once per invoice)
    "wallet.low_balance": NOTIFICATIONS,  # a wallet fell under its owner's warning threshold (once per crossing)
    "wallet.top_up_failed": NOTIFICATIONS,  # an automatic top-up was declined: auto top-up is paused until saved again
    "security.notice": NOTIFICATIONS,  # notification-send, from Appwrite's account events (password, e-mail, …)
}


def table_of(topic: str) -> str:
    if topic not in TOPICS:
        raise ValueError(f"unknown outbox topic {topic!r}: add it to rxcore.outbox.TOPICS")
    return TOPICS[topic]


def table_for(topics: list[str]) -> str:
    """The one table a consumer's topics are written to."""
    tables = {table_of(t) for t in topics}
    if len(tables) != 1:
        raise ValueError(f"a consumer's topics must share one outbox table, not {sorted(tables)}")
    return tables.pop()


@dataclass(frozen=True)
class Message:
    topic: str  # what happened, as `<entity>.<event>`: "prescription.ready"
    key: str  # unique per effect: "prescription.ready:<prescription id>"
    payload: dict[str, Any]  # ids, not personal data: the consumer reads what it needs with its own rights
    clinic_id: str | None = None
    available_at: datetime | None = None  # not before (a reminder 24 h ahead); now when None


def message_id(key: str) -> str:
    return derived_id(key)


def message_row(message: Message, now: datetime) -> dict[str, Any]:
    table_of(message.topic)  # a known topic
    return {
        "topic": message.topic,
        "key": message.key,
        "payload": json.dumps(message.payload, sort_keys=True, separators=(",", ":")),
        "clinic_id": message.clinic_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": iso(message.available_at or now),
        "created_at": iso(now),
        "last_error": None,
    }


def message_operation(tables: TableStore, message: Message, now: datetime) -> dict[str, Any]:
    """The transaction operation that writes `message` beside the change it reports. No permissions: only
    functions (with their keys) read the outbox."""
    return tables.op("create", table_of(message.topic), message_id(message.key), message_row(message, now))


def due(tables: TableStore, topics: list[str], now: datetime, limit: int = 50) -> list[dict[str, Any]]:
    """Messages of `topics` to deliver now: pending or failed with their time come, or claimed but not settled
    within their lease (the consumer died)."""
    queries = [
        Query.equal("topic", topics),
        Query.equal("status", ["pending", "failed", "sending"]),
        Query.less_than_equal("next_attempt_at", iso(now)),
        Query.order_asc("next_attempt_at"),
        Query.limit(limit),
    ]
    return tables.list(table_for(topics), queries)


def claim(tables: TableStore, message_id_: str, now: datetime, table: str = TABLE) -> dict[str, Any] | None:
    """Take one message for delivery, or None if it is not due or another consumer holds it (a compare-and-set:
    if anyone claims or settles it before our commit, our commit fails)."""

    def take(row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is None or row["status"] in ("sent", "dead") or row["next_attempt_at"] > iso(now):
            return None
        return {"status": "sending", "attempts": row["attempts"] + 1, "next_attempt_at": iso(now + LEASE)}

    return update_if(tables, table, message_id_, take)


def claim_fresh(tables: TableStore, topics: list[str], now: datetime, limit: int) -> list[dict[str, Any]]:
    """Take up to `limit` new messages of `topics` that are due, oldest first, in one atomic bulk update: concurrent
    consumers take disjoint sets, so a burst is delivered in batches instead of one claim per message. Only messages
    never tried (`pending`) are taken this way; a failed or abandoned one goes through `claim`, which counts its
    attempts."""
    queries = [
        Query.equal("topic", topics),
        Query.equal("status", "pending"),
        Query.less_than_equal("next_attempt_at", iso(now)),
        Query.limit(limit),
    ]
    return tables.update_matching(table_for(topics), queries, {"status": "sending", "attempts": 1,
                                                   "next_attempt_at": iso(now + LEASE)})  # fmt: skip


def settle_sent(tables: TableStore, table: str, ids: list[str], now: datetime) -> None:
    """Record that claimed messages were delivered, in one bulk write."""
    tables.update_where(table, ids, {"status": "sent", "last_error": None, "sent_at": iso(now)})


def settle(tables: TableStore, row: dict[str, Any], now: datetime, error: str | None = None) -> dict[str, Any]:
    """Record the outcome of a claimed message: sent, or failed (retried later) / dead (after MAX_ATTEMPTS)."""
    if error is None:
        update: dict[str, Any] = {"status": "sent", "last_error": None, "sent_at": iso(now)}
    elif row["attempts"] >= MAX_ATTEMPTS:
        update = {"status": "dead", "last_error": error[:1000]}
    else:
        wait = BACKOFF[min(row["attempts"], len(BACKOFF)) - 1]
        update = {"status": "failed", "last_error": error[:1000], "next_attempt_at": iso(now + timedelta(seconds=wait))}
    return tables.update(table_of(row["topic"]), row["$id"], update)


def payload_of(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["payload"])


def event_message(payload: dict[str, Any], topics: Any) -> str | None:
    """The id of the outbox row an Appwrite create event carries, when its topic is one of `topics` (the consumer's);
    None for anyone else's message."""
    row_id = payload.get("$id")
    return row_id if payload.get("topic") in topics and isinstance(row_id, str) else None


def consume(
    tables: TableStore,
    message_id_: str,
    now: Callable[[], datetime],
    handle: Callable[[dict[str, Any]], Any],
    table: str = TABLE,
) -> dict[str, Any]:
    """Deliver one message to `handle` (its payload): claim, run, settle. A failure is recorded for a retry with
    backoff and raised. Answers the outcome and what `handle` answered."""
    message = claim(tables, message_id_, now(), table)
    if message is None:
        return {"message": message_id_, "outcome": "not_due"}
    try:
        result = handle(payload_of(message))
    except Exception as exc:
        settle(tables, message, now(), error=f"{type(exc).__name__}: {exc}")
        raise
    settle(tables, message, now())
    return {"message": message_id_, "outcome": "done", "result": result}
