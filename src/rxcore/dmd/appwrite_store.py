"""The catalogue's storage port over the Appwrite API (official SDK transport), so the same sync runs against the
local server and a real Appwrite: bulk upserts of <= 100 rows with several requests in flight, retries with backoff
on transient failures, bulk updates by id to retire rows, and the dmd_releases provenance rows."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import requests
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.query import Query

BATCH = 100  # Appwrite's bulk limit per request
PAGE = 5000
TRANSIENT = {0, 408, 425, 429, 500, 502, 503, 504}


class AppwriteCatalogue:
    def __init__(
        self,
        client: Client,
        database_id: str = "main",
        workers: int = 4,
        retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        batch_size: int = BATCH,
    ):
        self.client = client
        self.database_id = database_id
        self.retries = retries
        self.sleep = sleep
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dmd-write")
        self.max_in_flight = workers * 2
        self.in_flight: deque[Future] = deque()
        self.batches: dict[str, list[dict[str, Any]]] = {}
        self.batch_size = min(batch_size, BATCH)
        # SDK 27 services add the project header per call; the raw transport needs it spelled out.
        self.headers = {"content-type": "application/json", "X-Appwrite-Project": client.get_config("project")}

    def _path(self, table: str, row_id: str | None = None) -> str:
        path = f"/tablesdb/{self.database_id}/tables/{table}/rows"
        return f"{path}/{row_id}" if row_id else path

    def _call(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """One API call through the SDK's transport, retried with exponential backoff when the failure is
        transient. No response models: a bulk write answers with its 100 rows, and building models for them would
        cost more than the write."""
        for attempt in range(self.retries + 1):
            try:
                return self.client.call(method, path, self.headers, params or {})
            except AppwriteException as exc:
                if exc.code not in TRANSIENT or attempt == self.retries:
                    raise
            except requests.RequestException:
                if attempt == self.retries:
                    raise
            self.sleep(min(0.2 * 2**attempt, 5.0))
        raise AssertionError("unreachable")

    # --- catalogue rows -----------------------------------------------------------------------------------------
    def existing(self, table: str) -> dict[str, str | None]:
        """Every row's id -> content digest (None for a retired row, so that it is written again if it returns)."""
        out: dict[str, str | None] = {}
        cursor = None
        while True:
            queries = [Query.select(["$id", "digest", "retired"]), Query.limit(PAGE)]
            if cursor:
                queries.append(Query.cursor_after(cursor))
            page = self._call("get", self._path(table), {"queries": queries, "total": False})["rows"]
            for row in page:
                out[row["$id"]] = None if row.get("retired") else row.get("digest")
            if len(page) < PAGE:
                return out
            cursor = page[-1]["$id"]

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        batch = self.batches.setdefault(table, [])
        batch.append(row)
        if len(batch) >= self.batch_size:
            self._submit(table, batch)
            self.batches[table] = []

    def _submit(self, table: str, rows: list[dict[str, Any]]) -> None:
        while len(self.in_flight) >= self.max_in_flight:
            self.in_flight.popleft().result()  # back-pressure; raises the first failure
        self.in_flight.append(self.pool.submit(self._call, "put", self._path(table), {"rows": rows}))

    def flush(self) -> None:
        for table, batch in self.batches.items():
            if batch:
                self._submit(table, batch)
        self.batches = {}
        while self.in_flight:
            self.in_flight.popleft().result()

    def retire(self, table: str, ids: list[str], data: dict[str, Any]) -> None:
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            self._call("patch", self._path(table), {"data": data, "queries": [Query.equal("$id", chunk)]})

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    # --- provenance -------------------------------------------------------------------------------------------
    def get_release(self, key: str) -> dict[str, Any] | None:
        try:
            return self._call("get", self._path("dmd_releases", key))
        except AppwriteException as exc:
            if exc.code == 404:
                return None
            raise

    def save_release(self, key: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._call("put", self._path("dmd_releases", key), {"data": data})

    def _releases(self, *queries: str) -> list[dict[str, Any]]:
        return self._call("get", self._path("dmd_releases"), {"queries": list(queries), "total": False})["rows"]

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
