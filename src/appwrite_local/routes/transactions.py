"""Transactions: row writes staged with `transactionId`, applied atomically on commit.

Staged operations are stored with the transaction. Commit applies them all inside one SQLite transaction,
so they land together or not at all. A read with `transactionId` applies them in a transaction that is
always rolled back, so it sees the staged state without anyone else seeing it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from ..api import Ctx, RouteTable, json_response, list_response, no_content
from ..catalog import TableSchema
from ..clock import format_datetime, parse_datetime
from ..errors import AppwriteError
from ..ids import custom_id, unique_id
from ..listing import ListSpec, list_resources
from ..queries import Attr
from ..rowstore import compile_row_queries
from .flavour import LEGACY, TABLESDB, Flavour, legacy_error

MAX_OPERATIONS = 100
ACTIONS = {
    "create",
    "update",
    "upsert",
    "delete",
    "increment",
    "decrement",
    "bulkCreate",
    "bulkUpdate",
    "bulkUpsert",
    "bulkDelete",
}
SINGLE_ACTIONS = {"create", "update", "upsert", "delete", "increment", "decrement"}
TX_ATTRS = {
    "$id": Attr("id", "string"),
    "$createdAt": Attr("created", "datetime"),
    "$updatedAt": Attr("updated", "datetime"),
    "status": Attr("status", "string"),
}

routes = RouteTable()


def op(action: str, schema: TableSchema, row_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"action": action, "databaseId": schema.database_id, "tableId": schema.id, "rowId": row_id, "data": data}


def _tx_json(row: tuple) -> dict[str, Any]:
    tid, status, operations, expires, _, created, updated = row
    return {
        "$id": tid,
        "$createdAt": created,
        "$updatedAt": updated,
        "status": status,
        "operations": len(json.loads(operations)),
        "expiresAt": expires,
    }


def _load(ctx: Ctx, tx_id: str, conn: sqlite3.Connection | None = None) -> tuple:
    conn = conn or ctx.services.db.reader()
    row = conn.execute(
        "SELECT id, status, operations, expires, owner, created, updated FROM _transactions WHERE id = ?", (tx_id,)
    ).fetchone()
    # Only the identity that began a transaction sees it: the same user, or the same key (a project key, or
    # one execution's function key). Anyone else, other keys included, is told it does not exist.
    owner = ctx.principal.owner_tag
    if row is None or not owner or row[4] != owner:
        raise AppwriteError("transaction_not_found")
    return row


def _pending(ctx: Ctx, row: tuple) -> None:
    if row[1] != "pending":
        raise AppwriteError("transaction_not_ready")
    if parse_datetime(row[3]) <= ctx.services.clock.now():
        raise AppwriteError("transaction_expired")


def stage(ctx: Ctx, tx_id: str, operations: list[dict[str, Any]]) -> tuple:
    with ctx.services.db.write() as conn:
        row = _load(ctx, tx_id, conn)
        _pending(ctx, row)
        staged = json.loads(row[2]) + operations
        if len(staged) > MAX_OPERATIONS:
            raise AppwriteError("transaction_limit_exceeded")
        conn.execute(
            "UPDATE _transactions SET operations = ?, updated = ? WHERE id = ?",
            (json.dumps(staged), format_datetime(ctx.services.clock.now()), tx_id),
        )
        return _load(ctx, tx_id, conn)


def apply_ops(ctx: Ctx, conn: sqlite3.Connection, row: tuple, check_conflicts: bool) -> list[tuple]:
    """Run every staged operation on `conn`; returns (schema, row json, action) for the events.

    The caller is the transaction's owner (`_load` saw to that), so the operations run with the caller's rights.
    """
    principal = ctx.principal
    created_at = row[5]
    rows = ctx.services.rows
    touched: set[tuple[int, str]] = set()
    changes: list[tuple] = []
    for item in json.loads(row[2]):
        schema = ctx.services.catalog.get_table(item["databaseId"], item["tableId"])
        if schema is None:
            raise AppwriteError("table_not_found")
        action, row_id, data = item["action"], item.get("rowId", ""), item.get("data") or {}
        if check_conflicts and action in SINGLE_ACTIONS and (schema.seq, row_id) not in touched:
            current = rows.fetch(conn, schema, row_id)
            if current is not None and current[3] > created_at and action != "create":
                raise AppwriteError("transaction_conflict")
        touched.add((schema.seq, row_id))
        if action == "create":
            changes.append(
                (schema, rows.create(conn, schema, row_id, data, data.get("$permissions"), principal), "create")
            )
        elif action in ("update", "upsert"):
            perms = data.get("$permissions")
            body = {k: v for k, v in data.items() if k != "$permissions"}
            if action == "update":
                changes.append((schema, rows.update(conn, schema, row_id, body, perms, principal), "update"))
            else:
                row, created = rows.upsert(conn, schema, row_id, body, perms, principal)
                changes.append((schema, row, "create" if created else "update"))
        elif action == "delete":
            changes.append((schema, rows.delete(conn, schema, row_id, principal), "delete"))
        elif action in ("increment", "decrement"):
            sign = 1 if action == "increment" else -1
            column = data.get("column", data.get("attribute"))
            bound = data.get("max" if sign > 0 else "min")
            changes.append(
                (
                    schema,
                    rows.add_to_column(conn, schema, row_id, column, sign * data.get("value", 1), bound, principal),
                    "update",
                )
            )
        elif action in ("bulkCreate", "bulkUpsert"):
            items = data.get("rows", data.get("documents", []))
            method = rows.bulk_create if action == "bulkCreate" else rows.bulk_upsert
            changes.extend(
                (schema, r, "create" if action == "bulkCreate" else "upsert")
                for r in method(conn, schema, items, principal)
            )
        elif action == "bulkUpdate":
            compiled = compile_row_queries(schema, data.get("queries", []))
            _, updated = rows.bulk_update(conn, schema, data.get("data", {}), compiled, principal)
            changes.extend((schema, r, "update") for r in updated)
        elif action == "bulkDelete":
            compiled = compile_row_queries(schema, data.get("queries", []))
            _, deleted = rows.bulk_delete(conn, schema, compiled, principal)
            changes.extend((schema, r, "delete") for r in deleted)
    return changes


@contextmanager
def staged_view(ctx: Ctx, tx_id: str) -> Iterator[sqlite3.Connection]:
    row = _load(ctx, tx_id)
    _pending(ctx, row)
    with ctx.services.db.scratch() as conn:
        apply_ops(ctx, conn, row, check_conflicts=False)
        yield conn


def _validate_operation(ctx: Ctx, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or item.get("action") not in ACTIONS:
        raise AppwriteError(
            "general_argument_invalid",
            "Invalid `operations` param: each operation needs an action, one of " + ", ".join(sorted(ACTIONS)),
        )
    table_id = item.get("tableId", item.get("collectionId"))
    database_id = item.get("databaseId")
    schema = (
        ctx.services.catalog.get_table(database_id, table_id)
        if isinstance(database_id, str) and isinstance(table_id, str)
        else None
    )
    if schema is None:
        raise AppwriteError("table_not_found")
    row_id = item.get("rowId", item.get("documentId", ""))
    if item["action"] in SINGLE_ACTIONS:
        row_id = custom_id(row_id, "rowId")
    data = item.get("data") or {}
    if not isinstance(data, dict):
        raise AppwriteError("general_argument_invalid", "Invalid `operations` param: data must be an object")
    return op(item["action"], schema, row_id, data)


def register(fl: Flavour) -> None:
    base = f"{fl.base}/transactions"
    legacy = {"legacy": fl.legacy}

    def transactions_list(ctx: Ctx):
        where, params = "owner = ?", (ctx.principal.owner_tag or "-",)
        spec = ListSpec(
            "_transactions",
            "id, status, operations, expires, owner, created, updated",
            TX_ATTRS,
            "id",
            "rowid",
            where,
            params,
        )
        rows, total = list_resources(ctx.services.db.reader(), spec, ctx.raw("queries", []), True)
        return list_response("transactions", [_tx_json(r) for r in rows], total)

    def transactions_create(ctx: Ctx):
        ttl = ctx.integer("ttl", 300, 60, 3600)
        if not ctx.principal.owner_tag:
            # Appwrite lets a guest create one but gives it no permissions, so no guest can ever use it; refusing
            # up front says so plainly (docs/security.md).
            raise AppwriteError("user_unauthorized", "Transactions need a signed-in user or an API key.")
        now = ctx.services.clock.now()
        tx_id = unique_id()
        with ctx.services.db.write() as conn:
            conn.execute(
                "INSERT INTO _transactions (id, status, expires, owner, created, updated)"
                " VALUES (?, 'pending', ?, ?, ?, ?)",
                (
                    tx_id,
                    format_datetime(now + timedelta(seconds=ttl)),
                    ctx.principal.owner_tag,
                    format_datetime(now),
                    format_datetime(now),
                ),
            )
        return json_response(_tx_json(_load(ctx, tx_id)), 201)

    def transactions_get(ctx: Ctx):
        return json_response(_tx_json(_load(ctx, ctx.p("transactionId"))))

    def transactions_update(ctx: Ctx):
        commit, rollback = ctx.boolean("commit", False), ctx.boolean("rollback", False)
        if commit == rollback:
            raise AppwriteError("general_bad_request", "Exactly one of commit or rollback must be true.")
        tx_id = ctx.p("transactionId")
        row = _load(ctx, tx_id)
        _pending(ctx, row)
        now = format_datetime(ctx.services.clock.now())
        if rollback:
            with ctx.services.db.write() as conn:
                conn.execute("UPDATE _transactions SET status = 'failed', updated = ? WHERE id = ?", (now, tx_id))
            return json_response(_tx_json(_load(ctx, tx_id)))
        try:
            with ctx.services.db.write() as conn:
                changes = apply_ops(ctx, conn, row, check_conflicts=True)
                conn.execute("UPDATE _transactions SET status = 'committed', updated = ? WHERE id = ?", (now, tx_id))
        except AppwriteError as exc:
            with ctx.services.db.write() as conn:
                conn.execute("UPDATE _transactions SET status = 'failed', updated = ? WHERE id = ?", (now, tx_id))
            raise legacy_error(exc) from None
        for schema, changed, action in changes:
            ctx.services.events.row_changed(schema, changed, action)
        return json_response(_tx_json(_load(ctx, tx_id)))

    def transactions_delete(ctx: Ctx):
        tx_id = ctx.p("transactionId")
        _load(ctx, tx_id)
        with ctx.services.db.write() as conn:
            conn.execute("DELETE FROM _transactions WHERE id = ?", (tx_id,))
        return no_content()

    def operations_create(ctx: Ctx):
        operations = ctx.array("operations", max_items=MAX_OPERATIONS)
        staged = [_validate_operation(ctx, item) for item in operations]
        row = stage(ctx, ctx.p("transactionId"), staged)
        return json_response(_tx_json(row), 201)

    routes.add("GET", base, transactions_list, f"{fl.scope_rows}.read", **legacy)
    routes.add("POST", base, transactions_create, f"{fl.scope_rows}.write", **legacy)
    routes.add("GET", f"{base}/{{transactionId}}", transactions_get, f"{fl.scope_rows}.read", **legacy)
    routes.add("PATCH", f"{base}/{{transactionId}}", transactions_update, f"{fl.scope_rows}.write", **legacy)
    routes.add("DELETE", f"{base}/{{transactionId}}", transactions_delete, f"{fl.scope_rows}.write", **legacy)
    routes.add("POST", f"{base}/{{transactionId}}/operations", operations_create, f"{fl.scope_rows}.write", **legacy)


register(TABLESDB)
register(LEGACY)
