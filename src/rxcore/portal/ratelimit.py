"""Fixed-window rate limits held in the `rate_limits` table, so they hold across function workers and restarts.

A window's counter is a row whose id is derived from (limit name, key, window start); each attempt is one atomic
increment bounded by the limit (Appwrite refuses an increment past `max`), so concurrent workers can never let
more through than the limit. Windows follow the function's clock (the local server's movable one in tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from appwrite.exception import AppwriteException
from appwrite.query import Query

from rxcore.clock import iso
from rxcore.errors import ServiceError
from rxcore.ids import derived_id
from rxcore.tables import Tables, is_conflict

TABLE = "rate_limits"


@dataclass(frozen=True)
class Limit:
    name: str
    attempts: int
    window: timedelta


class RateLimited(ServiceError):
    def __init__(self, limit: Limit, retry_after: int):
        super().__init__(
            429,
            "general_rate_limit_exceeded",
            f"Too many attempts ({limit.attempts} per {int(limit.window.total_seconds() // 60)} minutes). "
            f"Try again in {retry_after} seconds.",
        )
        self.retry_after = retry_after

    def to_json(self) -> dict[str, object]:
        return super().to_json() | {"retryAfter": self.retry_after}


def window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, now.tzinfo)


def hit(tables: Tables, limit: Limit, key: str, now: datetime, cost: int = 1) -> None:
    """Count `cost` (one attempt; a block of sends; a text's price) against `limit` for `key`; RateLimited when it
    does not fit in what is left of the window (nothing is counted then)."""
    start = window_start(now, limit.window)
    row_id = derived_id(limit.name, key, start.timestamp())
    retry = max(1, int((start + limit.window - now).total_seconds()))
    for _ in range(3):
        try:
            tables.increment(TABLE, row_id, "count", cost, max=limit.attempts)
            return
        except AppwriteException as exc:
            if exc.code == 404:
                try:
                    row = {
                        "limit": limit.name,
                        "window_start": iso(start),
                        "expires_at": iso(start + limit.window),
                        "count": cost,
                    }
                    if cost > limit.attempts:
                        raise RateLimited(limit, retry)
                    tables.create(TABLE, row_id, row)
                    return
                except AppwriteException as again:
                    if not is_conflict(again):
                        raise
                    continue  # another worker made the row first: count on it
            if exc.code == 400 and "limit_exceeded" in (exc.type or ""):  # the increment would pass `max`
                raise RateLimited(limit, retry) from None
            raise
    raise RateLimited(limit, retry)


def hit_operation(tables: Tables, limit: Limit, key: str, now: datetime) -> dict:
    """Count one attempt inside the caller's transaction, for a limit on things made (not tried): the attempt
    is the create of row n of the window (n = 1 … limit), so it counts only if the transaction commits, and two
    racing attempts that both read n - 1 collide on row n. RateLimited when all `limit.attempts` rows exist."""
    start = window_start(now, limit.window)
    ids = [derived_id(limit.name, key, start.timestamp(), n) for n in range(1, limit.attempts + 1)]
    taken = {
        r["$id"] for r in tables.list(TABLE, [Query.equal("$id", ids), Query.select(["$id"]), Query.limit(len(ids))])
    }
    free = [row_id for row_id in ids if row_id not in taken]
    if not free:
        raise RateLimited(limit, max(1, int((start + limit.window - now).total_seconds())))
    row = {"limit": limit.name, "window_start": iso(start), "expires_at": iso(start + limit.window), "count": 1}
    return tables.op("create", TABLE, free[0], row)
