"""Row access for the functions over the official SDK's transport, answering plain dicts: the one place that
knows the TablesDB REST paths (no service builds one).

The SDK's typed models cost more than the calls on hot paths (prescribing, dispensing, a dm+d bulk write of 100
rows), so rows stay dicts. `commit` stages every write in one Appwrite transaction: they all land or none does.
`retry_conflicts` re-runs a read-decide-write step when a concurrent writer got there first (a deterministic row
id that already exists, or a row changed since the transaction began). With `transient_retries`, a call that
fails in a passing way (a dropped connection, 429, 5xx) is retried with backoff: for idempotent bulk writers.

`TableStore` is the interface services use; tests/support/memory_tables.py is an in-memory one for unit tests."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import requests
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.query import Query

from rxcore.retry import exponential, jittered, retry

T = TypeVar("T")
CONFLICT_TYPES = {
    "row_already_exists",
    "document_already_exists",
    "transaction_conflict",
    "row_unique_constraint_violation",
    "document_unique_constraint_violation",
}
TRANSIENT_CODES = {0, 408, 425, 429, 500, 502, 503, 504}
BULK = 100  # Appwrite's limit of rows per bulk request and operations per staging call
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$"  # Appwrite's ID rule (request models use it too: actions.RowId)
VALID_ID = re.compile(ID_PATTERN)
ID_RULE = "an id is at most 36 letters, digits, periods, hyphens and underscores, not starting with a special character"


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, AppwriteException) and exc.code == 409 and exc.type in CONFLICT_TYPES


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, AppwriteException):
        return exc.code in TRANSIENT_CODES
    return isinstance(exc, requests.RequestException)


def retry_conflicts(step: Callable[[], T], attempts: int = 40, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `step` again (after a short random pause) while it loses a race to another writer."""
    return retry(step, worth_retrying=is_conflict, attempts=attempts, pause=jittered(0.002, 0.01), sleep=sleep)


def page(
    tables: TableStore, table: str, queries: list[str], limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the rows `queries` select (filters and order, no limit), after the row `cursor`; and the cursor of
    the next page, None after a short page (the last)."""
    paged = [*queries, Query.limit(limit), *([Query.cursor_after(cursor)] if cursor else [])]
    rows = tables.list(table, paged)
    return rows, rows[-1]["$id"] if len(rows) == limit else None


def update_if(
    tables: TableStore, table: str, row_id: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
) -> dict[str, Any] | None:
    """Compare-and-set one row: read it inside a transaction, write what `change` answers for it (None: nothing),
    and answer the row as written; None when `change` declined or another writer changed the row first (the
    transaction began before the read, so their commit fails ours). For claims with a lease (the outbox, the
    notification queue)."""
    tx = tables.begin()
    try:
        row = tables.get(table, row_id)
        update = change(row)
        if row is None or update is None:
            tables.rollback(tx)
            return None
        tables.commit([tables.op("update", table, row_id, update)], tx)
        return row | update
    except Exception as exc:
        tables.rollback(tx)
        if is_conflict(exc):
            return None
        raise


class TableStore(Protocol):
    """What services need from the database (Tables here; an in-memory fake in the unit tests)."""

    database_id: str

    def get(self, table: str, row_id: str) -> dict[str, Any] | None: ...
    def list(self, table: str, queries: list[str]) -> list[dict[str, Any]]: ...
    def each(self, table: str, queries: list[str], page: int = 1000) -> Iterator[dict[str, Any]]: ...
    def create(self, table: str, row_id: str, data: dict[str, Any], permissions: list[str] | None = None) -> dict: ...
    def update(
        self, table: str, row_id: str, data: dict[str, Any], permissions: list[str] | None = None
    ) -> dict[str, Any]: ...
    def upsert_many(self, table: str, rows: list[dict[str, Any]]) -> None: ...
    def update_where(self, table: str, ids: list[str], data: dict[str, Any]) -> None: ...
    def update_matching(self, table: str, queries: list[str], data: dict[str, Any]) -> list[dict[str, Any]]: ...
    def increment(self, table: str, row_id: str, column: str, value: float = 1, max: float | None = None) -> dict: ...
    def op(self, action: str, table: str, row_id: str, data: dict[str, Any]) -> dict[str, Any]: ...
    def begin(self) -> str: ...
    def commit(self, operations: list[dict[str, Any]], transaction_id: str | None = None) -> None: ...
    def rollback(self, transaction_id: str) -> None: ...


class Tables:
    def __init__(
        self,
        client: Client,
        database_id: str = "main",
        *,
        transient_retries: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.database_id = database_id
        self.transient_retries = transient_retries
        self.sleep = sleep
        # SDK services add the project header per call; the raw transport needs it spelled out.
        self.headers = {"content-type": "application/json", "X-Appwrite-Project": client.get_config("project")}

    def _rows(self, table: str, row_id: str | None = None) -> str:
        path = f"/tablesdb/{self.database_id}/tables/{table}/rows"
        if row_id is None:
            return path
        if not VALID_ID.match(row_id):  # never let an id change the path ("../../other/rows/x")
            raise AppwriteException(f"Invalid `rowId` param: {ID_RULE}", 400, "general_argument_invalid")
        return f"{path}/{row_id}"

    def _call(self, method: str, path: str, params: dict[str, Any] | None = None, response_type: str = "json") -> Any:
        def once() -> Any:
            return self.client.call(method, path, self.headers, params or {}, response_type)

        if not self.transient_retries:
            return once()
        pause = exponential(0.2, 5.0)
        attempts = self.transient_retries + 1
        return retry(once, worth_retrying=is_transient, attempts=attempts, pause=pause, sleep=self.sleep)

    # --- reads ---------------------------------------------------------------------------------------------------
    def get(self, table: str, row_id: str) -> dict[str, Any] | None:
        try:
            return self._call("get", self._rows(table, row_id))
        except AppwriteException as exc:
            if exc.code == 404:
                return None
            raise

    def list(self, table: str, queries: list[str]) -> list[dict[str, Any]]:
        return self._call("get", self._rows(table), {"queries": queries, "total": False})["rows"]

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

    # --- single-row writes ---------------------------------------------------------------------------------------
    def create(self, table: str, row_id: str, data: dict[str, Any], permissions: list[str] | None = None) -> dict:
        params: dict[str, Any] = {"rowId": row_id, "data": data}
        if permissions is not None:
            params["permissions"] = permissions
        return self._call("post", self._rows(table), params)

    def update(
        self, table: str, row_id: str, data: dict[str, Any], permissions: list[str] | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"data": data}
        if permissions is not None:
            params["permissions"] = permissions
        return self._call("patch", self._rows(table, row_id), params)

    def upsert(self, table: str, row_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._call("put", self._rows(table, row_id), {"data": data})

    def increment(
        self,
        table: str,
        row_id: str,
        column: str,
        value: float = 1,
        max: float | None = None,  # noqa: A002
    ) -> dict[str, Any]:
        """Add `value` atomically; with `max`, Appwrite refuses (400 *_limit_exceeded) an increment past it."""
        params: dict[str, Any] = {"value": value}
        if max is not None:
            params["max"] = max
        return self._call("patch", f"{self._rows(table, row_id)}/{column}/increment", params)

    # --- bulk writes ---------------------------------------------------------------------------------------------
    def upsert_many(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Create or replace rows (each with its `$id`, optionally `$permissions`), 100 per request."""
        for start in range(0, len(rows), BULK):
            # The answer (the rows as written) is not read: as text it is not parsed, which for 100 wide rows costs
            # the caller more than sending them.
            self._call("put", self._rows(table), {"rows": rows[start : start + BULK]}, response_type="text")

    def update_where(self, table: str, ids: list[str], data: dict[str, Any]) -> None:
        """Set `data` on the rows with these ids, 100 per request."""
        for start in range(0, len(ids), BULK):
            self.update_matching(table, [Query.equal("$id", ids[start : start + BULK])], data)

    def update_matching(self, table: str, queries: list[str], data: dict[str, Any]) -> list[dict[str, Any]]:
        """Set `data` on every row `queries` select (with a limit: at most that many, oldest first) in one atomic
        write, and answer the rows as written: concurrent callers get disjoint sets (a bulk claim)."""
        return self._call("patch", self._rows(table), {"data": data, "queries": queries})["rows"]

    # --- transactions --------------------------------------------------------------------------------------------
    def op(self, action: str, table: str, row_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """One operation for `commit`."""
        return {"action": action, "databaseId": self.database_id, "tableId": table, "rowId": row_id, "data": data}

    def begin(self) -> str:
        return self._call("post", "/tablesdb/transactions", {"ttl": 60})["$id"]

    def commit(self, operations: list[dict[str, Any]], transaction_id: str | None = None) -> None:
        """Stage `operations` and commit them as one transaction (rolled back if staging fails)."""
        tx = transaction_id or self.begin()
        try:
            for start in range(0, len(operations), BULK):
                staged = {"operations": operations[start : start + BULK]}
                self._call("post", f"/tablesdb/transactions/{tx}/operations", staged)
        except Exception:
            self.rollback(tx)
            raise
        self._call("patch", f"/tablesdb/transactions/{tx}", {"commit": True})

    def rollback(self, transaction_id: str) -> None:
        try:
            self._call("patch", f"/tablesdb/transactions/{transaction_id}", {"rollback": True})
        except AppwriteException:
            pass  # already failed or expired: nothing was applied either way
