"""The catalogue's storage port over the Appwrite API (rxcore.tables), so the same sync runs against the local
server and a real Appwrite: bulk upserts of <= 100 rows with several requests in flight, retries with backoff on
transient failures, bulk updates by id to retire rows, and the dmd_releases provenance rows."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from appwrite.client import Client
from appwrite.query import Query

from rxcore.tables import BULK, Tables

PAGE = 5000


class AppwriteCatalogue:
    def __init__(
        self,
        client: Client,
        database_id: str = "main",
        workers: int = 4,
        retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        batch_size: int = BULK,
    ):
        # Every write here is idempotent (an upsert by id, an update by id), so a transient failure is retried.
        self.tables = Tables(client, database_id, transient_retries=retries, sleep=sleep)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dmd-write")
        self.max_in_flight = workers * 2
        self.in_flight: deque[Future] = deque()
        self.batches: dict[str, list[dict[str, Any]]] = {}
        self.batch_size = min(batch_size, BULK)

    # --- catalogue rows -----------------------------------------------------------------------------------------
    def existing(self, table: str) -> dict[str, str | None]:
        """Every row's id -> content digest (None for a retired row, so that it is written again if it returns)."""
        rows = self.tables.each(table, [Query.select(["$id", "digest", "retired"])], page=PAGE)
        return {row["$id"]: None if row.get("retired") else row.get("digest") for row in rows}

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        batch = self.batches.setdefault(table, [])
        batch.append(row)
        if len(batch) >= self.batch_size:
            self._submit(table, batch)
            self.batches[table] = []

    def _submit(self, table: str, rows: list[dict[str, Any]]) -> None:
        while len(self.in_flight) >= self.max_in_flight:
            self.in_flight.popleft().result()  # back-pressure; raises the first failure
        self.in_flight.append(self.pool.submit(self.tables.upsert_many, table, rows))

    def flush(self) -> None:
        for table, batch in self.batches.items():
            if batch:
                self._submit(table, batch)
        self.batches = {}
        while self.in_flight:
            self.in_flight.popleft().result()

    def retire(self, table: str, ids: list[str], data: dict[str, Any]) -> None:
        self.tables.update_where(table, ids, data)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    # --- provenance -------------------------------------------------------------------------------------------
    def get_release(self, key: str) -> dict[str, Any] | None:
        return self.tables.get("dmd_releases", key)

    def save_release(self, key: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.tables.upsert("dmd_releases", key, data)

    def _releases(self, *queries: str) -> list[dict[str, Any]]:
        return self.tables.list("dmd_releases", list(queries))

    def completed_release(self, sha256: str) -> dict[str, Any] | None:
        rows = self._releases(Query.equal("sha256", sha256), Query.equal("status", "complete"), Query.limit(1))
        return rows[0] if rows else None

    def running_releases(self) -> list[dict[str, Any]]:
        return self._releases(Query.equal("status", "running"), Query.limit(25))

    def last_complete_release(self) -> dict[str, Any] | None:
        rows = self._releases(Query.equal("status", "complete"), Query.order_desc("finished_at"), Query.limit(1))
        return rows[0] if rows else None

    def last_release(self) -> dict[str, Any] | None:
        rows = self._releases(Query.order_desc("started_at"), Query.limit(1))
        return rows[0] if rows else None
