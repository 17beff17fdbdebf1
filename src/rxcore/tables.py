"""Row access for the functions over the official SDK's transport, answering plain dicts.

The SDK's typed models cost more than the calls on hot paths (prescribing, dispensing), so rows stay dicts.
`commit` stages every write in one Appwrite transaction: they all land or none does. `retry_conflicts` re-runs
a read-decide-write step when a concurrent writer got there first (a deterministic row id that already exists,
or a row changed since the transaction began)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.query import Query

T = TypeVar("T")
CONFLICT_TYPES = {
    "row_already_exists",
    "document_already_exists",
    "transaction_conflict",
    "row_unique_constraint_violation",
    "document_unique_constraint_violation",
}


def is_conflict(exc: AppwriteException) -> bool:
    return exc.code == 409 and exc.type in CONFLICT_TYPES


def retry_conflicts(step: Callable[[], T], attempts: int = 40, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `step` again (after a short random pause) while it loses a race to another writer."""
    for attempt in range(attempts):
        try:
            return step()
        except AppwriteException as exc:
            if not is_conflict(exc) or attempt == attempts - 1:
                raise
            sleep(random.uniform(0.002, 0.01) * min(attempt + 1, 8))
    raise AssertionError("unreachable")


class Tables:
    def __init__(self, client: Client, database_id: str = "main"):
        self.client = client
        self.database_id = database_id
        # SDK services add the project header per call; the raw transport needs it spelled out.
        self.headers = {"content-type": "application/json", "X-Appwrite-Project": client.get_config("project")}

    def _rows(self, table: str, row_id: str | None = None) -> str:
        path = f"/tablesdb/{self.database_id}/tables/{table}/rows"
        return f"{path}/{row_id}" if row_id else path

    def call(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.call(method, path, self.headers, params or {})

    def get(self, table: str, row_id: str) -> dict[str, Any] | None:
        try:
            return self.call("get", self._rows(table, row_id))
        except AppwriteException as exc:
            if exc.code == 404:
                return None
            raise

    def list(self, table: str, queries: list[str]) -> list[dict[str, Any]]:
        return self.call("get", self._rows(table), {"queries": queries, "total": False})["rows"]

    def each(self, table: str, queries: list[str], page: int = 1000) -> Iterator[dict[str, Any]]:
        """Every row `queries` select, read page by page with a cursor (so `total`'s 5,000 cap does not apply and
        memory holds one page). `queries` must not hold a limit or a cursor; a select must include `$id`."""
        cursor: list[str] = []
        while True:
            rows = self.list(table, [*queries, Query.limit(page), *cursor])
            yield from rows
            if len(rows) < page:
                return
            cursor = [Query.cursor_after(rows[-1]["$id"])]

    def create(self, table: str, row_id: str, data: dict[str, Any], permissions: list[str] | None = None) -> dict:
        params: dict[str, Any] = {"rowId": row_id, "data": data}
        if permissions is not None:
            params["permissions"] = permissions
        return self.call("post", self._rows(table), params)

    def update(self, table: str, row_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.call("patch", self._rows(table, row_id), {"data": data})

    def increment(self, table: str, row_id: str, column: str, value: float = 1) -> dict[str, Any]:
        return self.call("patch", f"{self._rows(table, row_id)}/{column}/increment", {"value": value})

    def op(self, action: str, table: str, row_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """One operation for `commit`."""
        return {"action": action, "databaseId": self.database_id, "tableId": table, "rowId": row_id, "data": data}

    def begin(self) -> str:
        return self.call("post", "/tablesdb/transactions", {"ttl": 60})["$id"]

    def commit(self, operations: list[dict[str, Any]], transaction_id: str | None = None) -> None:
        """Stage `operations` and commit them as one transaction (rolled back if staging fails)."""
        tx = transaction_id or self.begin()
        try:
            for start in range(0, len(operations), 100):
                self.call(
                    "post", f"/tablesdb/transactions/{tx}/operations", {"operations": operations[start : start + 100]}
                )
        except Exception:
            self.rollback(tx)
            raise
        self.call("patch", f"/tablesdb/transactions/{tx}", {"commit": True})

    def rollback(self, transaction_id: str) -> None:
        try:
            self.call("patch", f"/tablesdb/transactions/{transaction_id}", {"rollback": True})
        except AppwriteException:
            pass  # already failed or expired: nothing was applied either way
