"""The delivery log and queue: one `notification_deliveries` row per (message, recipient, channel), its id derived
from them, so an outbox message processed twice (its event and the schedule, or a retry) fans out once and each
message is sent once. A row is `queued` (send now), `deferred` (quiet hours: sent when they end), `sending` (claimed,
with a lease), `sent`, `failed` (permanent, or after MAX_ATTEMPTS), `suppressed` (an opt-out, a muted type, no
address) or `retrying` (a passing failure: tried again at once up to QUICK_ATTEMPTS, then after a backoff with
jitter)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from appwrite.query import Query

from rxcore.clock import iso
from rxcore.ids import derived_id
from rxcore.tables import BULK, TableStore, is_conflict, retry_conflicts, update_if

TABLE = "notification_deliveries"
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 6
QUICK_ATTEMPTS = 3  # tried within the same execution, 1 s and 2 s apart (a blip), before waiting for the schedule
BACKOFF = (30, 120, 600, 1800, 7200)  # seconds after attempt 1, 2, ... (each with up to 20 % jitter)
SENDABLE = ("queued", "deferred", "retrying", "sending")


def delivery_id(message_key: str, recipient_kind: str, recipient_id: str, channel: str) -> str:
    return derived_id("delivery", message_key, recipient_kind, recipient_id, channel)


def create(tables: TableStore, row_id: str, row: dict[str, Any], readers: list[str]) -> bool:
    """Write a delivery once; False when it exists already (a message fanned out again)."""
    try:
        tables.create(TABLE, row_id, row, readers)
        return True
    except Exception as exc:
        if is_conflict(exc):
            return False
        raise


def create_many(tables: TableStore, planned: list[tuple[str, dict[str, Any], list[str]]]) -> set[str]:
    """Write the deliveries of a batch of messages (id, row, readers) in transactions of 100; the ids written.
    A batch in which one exists already (a message fanned out before, after a lost lease) is written row by row."""
    created: set[str] = set()
    for start in range(0, len(planned), BULK):
        chunk = planned[start : start + BULK]
        try:
            tables.commit([tables.op("create", TABLE, i, row | {"$permissions": readers}) for i, row, readers in chunk])
            created |= {i for i, _row, _readers in chunk}
        except Exception as exc:
            if not is_conflict(exc):
                raise
            created |= {i for i, row, readers in chunk if create(tables, i, row, readers)}
    return created


def due(tables: TableStore, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
    return tables.list(
        TABLE,
        [Query.equal("status", list(SENDABLE)), Query.less_than_equal("not_before", iso(now)),
         Query.order_asc("not_before"), Query.limit(limit)],
    )  # fmt: skip


def claim(tables: TableStore, row_id: str, now: datetime) -> dict[str, Any] | None:
    """Take a delivery to send (a compare-and-set with a lease), or None when it is not due or someone holds it."""

    def take(row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is None or row["status"] not in SENDABLE or row["not_before"] > iso(now):
            return None
        return {"status": "sending", "attempts": row["attempts"] + 1, "not_before": iso(now + LEASE),
                "updated_at": iso(now)}  # fmt: skip

    return update_if(tables, TABLE, row_id, take)


def quick_pause(attempts: int) -> float:
    return float(2 ** (attempts - 1)) * (1 + random.random() / 5)  # noqa: S311 (jitter)


def again(tables: TableStore, row: dict[str, Any], error: str, now: datetime) -> dict[str, Any]:
    """Count one more attempt of a delivery this execution holds (its lease is still ours)."""
    update = {"attempts": row["attempts"] + 1, "last_error": error[:300], "updated_at": iso(now)}
    return tables.update(TABLE, row["$id"], update)


def settle(
    tables: TableStore, row: dict[str, Any], now: datetime, provider_id: str | None = None,
    error: str | None = None, retry: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """The outcome of a claimed delivery's attempt."""
    at = iso(now)
    if error is None:
        return _sent(tables, row["$id"], provider_id, at)
    if retry and row["attempts"] < MAX_ATTEMPTS:
        wait = BACKOFF[min(row["attempts"], len(BACKOFF)) - 1] * (1 + random.random() / 5)  # noqa: S311 (jitter)
        update: dict[str, Any] = {
            "status": "retrying",
            "last_error": error[:300],
            "not_before": iso(now + timedelta(seconds=wait)),
        }
    else:
        update = {"status": "failed", "last_error": error[:300]}
    return tables.update(TABLE, row["$id"], update | {"updated_at": at})


def _sent(tables: TableStore, row_id: str, provider_id: str | None, at: str) -> dict[str, Any]:
    """Record one provider's acceptance (as `sent_many`)."""
    return retry_conflicts(lambda: _sent_chunk(tables, {row_id: provider_id}, at))[row_id]


def sent_many(tables: TableStore, accepted: dict[str, str | None], now: datetime) -> None:
    """Record the providers' acceptance of a batch (delivery id → provider id), 100 per transaction."""
    items = list(accepted.items())
    for start in range(0, len(items), BULK):
        chunk = dict(items[start : start + BULK])
        retry_conflicts(lambda chunk=chunk: _sent_chunk(tables, chunk, iso(now)))  # type: ignore[misc]


def _sent_chunk(tables: TableStore, accepted: dict[str, str | None], at: str) -> dict[str, dict[str, Any]]:
    """A callback may have come before our record of the acceptance (a fast `delivered`): a status that has moved on
    is kept. Compare-and-set in a transaction begun before the read; answers what was written, by id."""
    tx = tables.begin()
    try:
        ids = list(accepted)
        statuses = {r["$id"]: r["status"] for r in tables.list(
            TABLE, [Query.equal("$id", ids), Query.select(["$id", "status"]), Query.limit(len(ids))])}  # fmt: skip
        ops, written = [], {}
        for row_id, provider_id in accepted.items():
            update: dict[str, Any] = {"provider_id": provider_id, "sent_at": at, "updated_at": at}
            if statuses.get(row_id) == "sending":
                update |= {"status": "sent", "last_error": None}
            ops.append(tables.op("update", TABLE, row_id, update))
            written[row_id] = {"$id": row_id, "status": statuses.get(row_id)} | update
        tables.commit(ops, tx)
        return written
    except BaseException:
        tables.rollback(tx)
        raise


def suppress(tables: TableStore, row: dict[str, Any], reason: str, now: datetime) -> dict[str, Any]:
    """Not sent, on purpose (a cap reached); final."""
    return tables.update(
        TABLE, row["$id"], {"status": "suppressed", "last_error": reason[:300], "updated_at": iso(now)}
    )
