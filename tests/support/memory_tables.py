"""An in-memory `TableStore` (rxcore.tables) for unit tests of services: rows as dicts, the queries services use,
and transactions that apply all their operations or none.

It answers the way the server does where services depend on it: a create of an existing id is a 409
`row_already_exists`; a transaction that began before a row it updates was changed fails with 409
`transaction_conflict`; a missing row reads as None. It is not a database: no permissions, no types, no indexes.
The end-to-end tests (the real server) remain the proof; this lets services be tested without one."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

from appwrite.exception import AppwriteException


def _error(code: int, type_: str) -> AppwriteException:
    return AppwriteException(type_, code, type_)


def _matcher(query: dict[str, Any]) -> Callable[[dict[str, Any]], bool] | None:
    method, attribute, values = query["method"], query.get("attribute"), query.get("values") or []
    tests: dict[str, Callable[[Any], bool]] = {
        "equal": lambda v: v in values,
        "notEqual": lambda v: v not in values,
        "lessThan": lambda v: v is not None and v < values[0],
        "lessThanEqual": lambda v: v is not None and v <= values[0],
        "greaterThan": lambda v: v is not None and v > values[0],
        "greaterThanEqual": lambda v: v is not None and v >= values[0],
        "isNull": lambda v: v is None,
        "isNotNull": lambda v: v is not None,
    }
    test = tests.get(method)
    return None if test is None else (lambda row: test(row.get(attribute)))


class MemoryTables:
    def __init__(self, database_id: str = "main"):
        self.database_id = database_id
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}
        self.clock = itertools.count(1)  # a logical time: each write is later than every earlier begin
        self.transactions: dict[str, int] = {}  # id -> when it began
        self.fail_next_commit: AppwriteException | None = None  # to test a lost race

    # --- reads -------------------------------------------------------------------------------------------------
    def get(self, table: str, row_id: str) -> dict[str, Any] | None:
        row = self.rows.get(table, {}).get(row_id)
        return copy.deepcopy(row) if row is not None else None

    def list(self, table: str, queries: list[str]) -> list[dict[str, Any]]:
        rows = list(self.rows.get(table, {}).values())
        limit, after = 25, None
        for query in map(json.loads, queries):
            method = query["method"]
            if (match := _matcher(query)) is not None:
                rows = [r for r in rows if match(r)]
            elif method in ("orderAsc", "orderDesc"):
                rows.sort(key=lambda r: (r.get(query["attribute"]) is None, r.get(query["attribute"])),
                          reverse=method == "orderDesc")  # fmt: skip
            elif method == "limit":
                limit = query["values"][0]
            elif method == "cursorAfter":
                after = query["values"][0]
            elif method != "select":
                raise NotImplementedError(f"MemoryTables does not know the query {method}")
        if after is not None:
            ids = [r["$id"] for r in rows]
            rows = rows[ids.index(after) + 1 :] if after in ids else []
        return copy.deepcopy(rows[:limit])

    def each(self, table: str, queries: list[str], page: int = 1000) -> Iterator[dict[str, Any]]:
        yield from self.list(table, [*queries, json.dumps({"method": "limit", "values": [10**9]})])

    # --- writes ------------------------------------------------------------------------------------------------
    def _write(self, table: str, row_id: str, data: dict[str, Any], permissions: list[str] | None) -> dict:
        existing = self.rows.setdefault(table, {}).get(row_id, {"$id": row_id, "$permissions": []})
        row = existing | {k: v for k, v in data.items() if k != "$permissions"}
        if permissions is not None or "$permissions" in data:
            row["$permissions"] = list(permissions if permissions is not None else data["$permissions"])
        row["$updatedAt"] = next(self.clock)
        self.rows[table][row_id] = row
        return copy.deepcopy(row)

    def create(self, table: str, row_id: str, data: dict[str, Any], permissions: list[str] | None = None) -> dict:
        if row_id in self.rows.get(table, {}):
            raise _error(409, "row_already_exists")
        return self._write(table, row_id, data, permissions)

    def update(self, table: str, row_id: str, data: dict[str, Any], permissions: list[str] | None = None) -> dict:
        if row_id not in self.rows.get(table, {}):
            raise _error(404, "row_not_found")
        return self._write(table, row_id, data, permissions)

    def upsert(self, table: str, row_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._write(table, row_id, data, None)

    def upsert_many(self, table: str, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._write(table, row["$id"], {k: v for k, v in row.items() if k != "$id"}, None)

    def update_where(self, table: str, ids: list[str], data: dict[str, Any]) -> None:
        for row_id in ids:
            if row_id in self.rows.get(table, {}):
                self._write(table, row_id, data, None)

    def update_matching(self, table: str, queries: list[str], data: dict[str, Any]) -> list[dict[str, Any]]:
        matched = self.list(table, [*queries, *([] if any('"limit"' in q for q in queries) else
                                              [json.dumps({"method": "limit", "values": [10**9]})])])  # fmt: skip
        return [self._write(table, row["$id"], data, None) for row in matched]

    def increment(self, table: str, row_id: str, column: str, value: float = 1, max: float | None = None) -> dict:  # noqa: A002
        row = self.get(table, row_id)
        if row is None:
            raise _error(404, "row_not_found")
        if max is not None and (row.get(column) or 0) + value > max:
            raise _error(400, "row_limit_exceeded")
        return self._write(table, row_id, {column: (row.get(column) or 0) + value}, None)

    # --- transactions ------------------------------------------------------------------------------------------
    def op(self, action: str, table: str, row_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"action": action, "databaseId": self.database_id, "tableId": table, "rowId": row_id, "data": data}

    def begin(self) -> str:
        tx = f"tx{len(self.transactions) + 1}"
        self.transactions[tx] = next(self.clock)
        return tx

    def commit(self, operations: list[dict[str, Any]], transaction_id: str | None = None) -> None:
        began = self.transactions.pop(transaction_id, None) if transaction_id else None
        if self.fail_next_commit is not None:
            failure, self.fail_next_commit = self.fail_next_commit, None
            raise failure
        for op in operations:  # check everything first: all or nothing
            current = self.rows.get(op["tableId"], {}).get(op["rowId"])
            if op["action"] == "create" and current is not None:
                raise _error(409, "row_already_exists")
            if op["action"] in ("update", "increment", "decrement") and current is None:
                raise _error(404, "row_not_found")
            if began is not None and current is not None and op["action"] != "create" and current["$updatedAt"] > began:
                raise _error(409, "transaction_conflict")
        for op in operations:
            data = op["data"]
            if op["action"] in ("increment", "decrement"):  # atomic: applied to the value at commit, bounded
                current = self.rows[op["tableId"]][op["rowId"]].get(data["column"]) or 0
                value = current + (data.get("value", 1) if op["action"] == "increment" else -data.get("value", 1))
                if value < data.get("min", value) or value > data.get("max", value):
                    raise _error(400, "column_limit_exceeded")
                data = {data["column"]: value}
            self._write(op["tableId"], op["rowId"], data, None)

    def rollback(self, transaction_id: str) -> None:
        self.transactions.pop(transaction_id, None)
