"""Rows (documents) and transactions for TablesDB and the legacy Databases API."""

from __future__ import annotations

from typing import Any

from ..api import Ctx, RouteTable, json_response, list_response, no_content
from ..catalog import TableSchema
from ..errors import AppwriteError
from ..ids import custom_id
from ..rowstore import Rows, compile_row_queries
from . import transactions as tx
from .databases import table_for
from .flavour import LEGACY, TABLESDB, Flavour

routes = RouteTable()


def _select(ctx: Ctx, schema: TableSchema) -> list[str] | None:
    """GET row accepts only select queries."""
    compiled = compile_row_queries(schema, ctx.raw("queries", []))
    if compiled.where or compiled.orders or compiled.limit or compiled.offset or compiled.cursor:
        raise AppwriteError("general_query_invalid", "Invalid query: Only select queries are allowed here")
    return compiled.select


def _require_key(ctx: Ctx, fl: Flavour) -> None:
    """Bulk row operations are for API keys only (Appwrite checks this explicitly for bulk create)."""
    if not ctx.principal.is_key:
        raise AppwriteError("general_unauthorized_scope", f"Bulk {fl.rows} operations require an API key.")


def register(fl: Flavour) -> None:
    table = f"{fl.base}/{{databaseId}}/{fl.tables}/{{{fl.table_param}}}"
    rows_path = f"{table}/{fl.rows}"
    row_path = f"{rows_path}/{{{fl.row_param}}}"
    sr = fl.scope_rows
    legacy = {"legacy": fl.legacy}

    def store(ctx: Ctx) -> Rows:
        return ctx.services.rows_legacy if fl.legacy else ctx.services.rows

    def emit(ctx: Ctx, schema: TableSchema, row: dict[str, Any], action: str) -> None:
        ctx.services.events.row_changed(schema, row, action)

    def list_rows(ctx: Ctx, raw_queries: Any):
        schema = table_for(ctx, fl)
        compiled = compile_row_queries(schema, raw_queries)
        want_total = ctx.boolean("total", True)
        tx_id = ctx.text("transactionId", None, 36)
        if tx_id:
            with tx.staged_view(ctx, tx_id) as conn:
                rows, total = store(ctx).list(conn, schema, compiled, ctx.principal, want_total)
        else:
            rows, total = store(ctx).list(ctx.services.db.reader(), schema, compiled, ctx.principal, want_total)
        return list_response(fl.rows, rows, total)

    def rows_list(ctx: Ctx):
        return list_rows(ctx, ctx.raw("queries", []))

    def rows_query(ctx: Ctx):
        return list_rows(ctx, ctx.raw("queries", []))

    def rows_create(ctx: Ctx):
        schema = table_for(ctx, fl)
        bulk = ctx.raw(fl.rows, None)
        tx_id = ctx.text("transactionId", None, 36)
        if bulk is not None:
            if ctx.has(fl.row_param) or ctx.has("data") or ctx.has("permissions"):
                raise AppwriteError(
                    "general_bad_request", f"You cannot provide both {fl.rows} and {fl.row_param}/data/permissions."
                )
            _require_key(ctx, fl)
            if tx_id:
                tx.stage(ctx, tx_id, [tx.op("bulkCreate", schema, "", {fl.rows: bulk})])
                return list_response(fl.rows, [], 0)
            with ctx.services.db.write() as conn:
                created = store(ctx).bulk_create(conn, schema, bulk, ctx.principal)
            for row in created:
                emit(ctx, schema, row, "create")
            return json_response({"total": len(created), fl.rows: created}, 201)
        if not ctx.has("data"):
            raise AppwriteError("row_missing_data")
        if not ctx.has(fl.row_param):
            raise AppwriteError("row_missing_data", "Row ID is required when creating a single row.")
        row_id = ctx.new_id(fl.row_param)
        data, raw_perms = ctx.obj("data"), ctx.raw("permissions", None)
        if tx_id:
            permissions = store(ctx).row_permissions(raw_perms, ctx.principal)
            tx.stage(ctx, tx_id, [tx.op("create", schema, row_id, {**data, "$permissions": permissions})])
            return json_response(store(ctx).staged_row(schema, row_id, data, permissions), 201)
        with ctx.services.db.write() as conn:
            row = store(ctx).create(conn, schema, row_id, data, raw_perms, ctx.principal)
        emit(ctx, schema, row, "create")
        return json_response(row, 201)

    def rows_upsert_bulk(ctx: Ctx):
        schema = table_for(ctx, fl)
        _require_key(ctx, fl)
        items = ctx.raw(fl.rows)
        tx_id = ctx.text("transactionId", None, 36)
        if tx_id:
            tx.stage(ctx, tx_id, [tx.op("bulkUpsert", schema, "", {fl.rows: items})])
            return list_response(fl.rows, [], 0)
        # Checking the rows and building the answer need no lock: only the write itself holds it, so the next
        # request is checked while this one writes.
        checked = store(ctx).check_upsert(schema, items, ctx.principal)
        with ctx.services.db.write() as conn:
            stored = store(ctx).write_upsert(conn, schema, checked, ctx.principal)
        rows = store(ctx).rows_json(schema, stored)
        for row in rows:
            emit(ctx, schema, row, "upsert")
        return json_response({"total": len(rows), fl.rows: rows})

    def rows_update_bulk(ctx: Ctx):
        schema = table_for(ctx, fl)
        _require_key(ctx, fl)
        compiled = compile_row_queries(schema, ctx.raw("queries", []))
        data = ctx.obj("data", {})
        tx_id = ctx.text("transactionId", None, 36)
        if tx_id:
            tx.stage(ctx, tx_id, [tx.op("bulkUpdate", schema, "", {"data": data, "queries": ctx.raw("queries", [])})])
            return list_response(fl.rows, [], 0)
        with ctx.services.db.write() as conn:
            total, rows = store(ctx).bulk_update(conn, schema, data, compiled, ctx.principal)
        for row in rows:
            emit(ctx, schema, row, "update")
        return list_response(fl.rows, rows, total)

    def rows_delete_bulk(ctx: Ctx):
        schema = table_for(ctx, fl)
        _require_key(ctx, fl)
        compiled = compile_row_queries(schema, ctx.raw("queries", []))
        tx_id = ctx.text("transactionId", None, 36)
        if tx_id:
            tx.stage(ctx, tx_id, [tx.op("bulkDelete", schema, "", {"queries": ctx.raw("queries", [])})])
            return list_response(fl.rows, [], 0)
        with ctx.services.db.write() as conn:
            total, rows = store(ctx).bulk_delete(conn, schema, compiled, ctx.principal)
        for row in rows:
            emit(ctx, schema, row, "delete")
        return list_response(fl.rows, rows, total)

    def row_get(ctx: Ctx):
        schema = table_for(ctx, fl)
        select = _select(ctx, schema)
        tx_id = ctx.text("transactionId", None, 36)
        if tx_id:
            with tx.staged_view(ctx, tx_id) as conn:
                row = store(ctx).get(conn, schema, ctx.p(fl.row_param), ctx.principal, select)
        else:
            row = store(ctx).get(ctx.services.db.reader(), schema, ctx.p(fl.row_param), ctx.principal, select)
        return json_response(row)

    def row_upsert(ctx: Ctx):
        schema = table_for(ctx, fl)
        row_id = ctx.p(fl.row_param)
        custom_id(row_id, fl.row_param)
        data, raw_perms = ctx.obj("data", {}), ctx.raw("permissions", None)
        tx_id = ctx.text("transactionId", None, 36)
        if tx_id:
            staged = dict(data)
            if raw_perms is not None:
                staged["$permissions"] = store(ctx).row_permissions(raw_perms, ctx.principal)
            tx.stage(ctx, tx_id, [tx.op("upsert", schema, row_id, staged)])
            return json_response(store(ctx).staged_row(schema, row_id, data, staged.get("$permissions", [])), 201)
        with ctx.services.db.write() as conn:
            row, created = store(ctx).upsert(conn, schema, row_id, data, raw_perms, ctx.principal)
        emit(ctx, schema, row, "create" if created else "update")
        return json_response(row, 201)

    def row_update(ctx: Ctx):
        schema = table_for(ctx, fl)
        data, raw_perms = ctx.obj("data", None), ctx.raw("permissions", None)
        if data is None and raw_perms is None:
            raise AppwriteError("row_missing_payload")
        tx_id = ctx.text("transactionId", None, 36)
        row_id = ctx.p(fl.row_param)
        if tx_id:
            staged = dict(data or {})
            if raw_perms is not None:
                staged["$permissions"] = store(ctx).row_permissions(raw_perms, ctx.principal)
            tx.stage(ctx, tx_id, [tx.op("update", schema, row_id, staged)])
            return json_response(store(ctx).staged_row(schema, row_id, data, staged.get("$permissions", [])))
        with ctx.services.db.write() as conn:
            row = store(ctx).update(conn, schema, row_id, data, raw_perms, ctx.principal)
        emit(ctx, schema, row, "update")
        return json_response(row)

    def row_delete(ctx: Ctx):
        schema = table_for(ctx, fl)
        tx_id = ctx.text("transactionId", None, 36)
        row_id = ctx.p(fl.row_param)
        if tx_id:
            tx.stage(ctx, tx_id, [tx.op("delete", schema, row_id, {})])
            return no_content()
        with ctx.services.db.write() as conn:
            row = store(ctx).delete(conn, schema, row_id, ctx.principal)
        emit(ctx, schema, row, "delete")
        return no_content()

    def make_counter(sign: int):
        bound_name = "max" if sign > 0 else "min"

        def handler(ctx: Ctx):
            schema = table_for(ctx, fl)
            value = ctx.number("value", 1)
            if value <= 0:
                raise AppwriteError("general_argument_invalid", "Invalid `value` param: Value must be greater than 0")
            bound = ctx.number(bound_name, None)
            row_id, column = ctx.p(fl.row_param), ctx.p("column")
            tx_id = ctx.text("transactionId", None, 36)
            if tx_id:
                action = "increment" if sign > 0 else "decrement"
                tx.stage(
                    ctx, tx_id, [tx.op(action, schema, row_id, {"column": column, "value": value, bound_name: bound})]
                )
                return json_response(store(ctx).staged_row(schema, row_id, {}, []))
            with ctx.services.db.write() as conn:
                row = store(ctx).add_to_column(conn, schema, row_id, column, sign * value, bound, ctx.principal)
            emit(ctx, schema, row, "update")
            return json_response(row)

        return handler

    routes.add("GET", rows_path, rows_list, f"{sr}.read", **legacy)
    routes.add("POST", f"{rows_path}/query", rows_query, f"{sr}.read", **legacy)
    routes.add("POST", rows_path, rows_create, f"{sr}.write", **legacy, inline=True)
    routes.add("PUT", rows_path, rows_upsert_bulk, f"{sr}.write", **legacy)
    routes.add("PATCH", rows_path, rows_update_bulk, f"{sr}.write", **legacy)
    routes.add("DELETE", rows_path, rows_delete_bulk, f"{sr}.write", **legacy)
    routes.add("GET", row_path, row_get, f"{sr}.read", **legacy)
    routes.add("PUT", row_path, row_upsert, f"{sr}.write", **legacy, inline=True)
    routes.add("PATCH", row_path, row_update, f"{sr}.write", **legacy, inline=True)
    routes.add("DELETE", row_path, row_delete, f"{sr}.write", **legacy, inline=True)
    routes.add("PATCH", f"{row_path}/{{column}}/increment", make_counter(1), f"{sr}.write", inline=True, **legacy)
    routes.add("PATCH", f"{row_path}/{{column}}/decrement", make_counter(-1), f"{sr}.write", inline=True, **legacy)


register(TABLESDB)
register(LEGACY)
