"""One SELECT for every list endpoint: filters, permission filter, cursor, orders, limit/offset, total.

Callers pass the compiled queries (queries.py) plus their own base condition (a permission sub-select for
rows and files, a team for memberships, ...). The total is counted with the filters only, capped at 5000,
as Appwrite's `count(..., APP_LIMIT_COUNT)` does.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from .errors import AppwriteError, invalid_argument
from .queries import Attr, Compiled, QueryError, compile_queries, parse

TOTAL_CAP = 5000
DEFAULT_LIMIT = 25


@dataclass
class ListSpec:
    table: str  # SQL table
    columns: str  # SQL select list
    attrs: dict[str, Attr]  # queryable attributes
    id_col: str  # SQL column holding the public ID (for cursors)
    seq_col: str  # SQL column with the insertion order (default sort, tie-breaker)
    base_where: str = "1"
    base_params: tuple = ()


def run_list(
    conn: sqlite3.Connection,
    spec: ListSpec,
    compiled: Compiled,
    want_total: bool,
    cursor_error: str = "general_cursor_not_found",
) -> tuple[list[tuple], int]:
    where = f"({spec.base_where}) AND ({compiled.where_sql()})"
    params: list[Any] = [*spec.base_params, *compiled.params]

    total = 0
    if want_total:
        total = conn.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {spec.table} WHERE {where} LIMIT {TOTAL_CAP})", params
        ).fetchone()[0]

    orders = [(spec.attrs[a].sql, a, desc) for a, desc in compiled.orders]
    last_desc = orders[-1][2] if orders else False
    if not any(sql == spec.seq_col for sql, _, _ in orders):
        orders.append((spec.seq_col, "$sequence", last_desc))

    before = compiled.cursor is not None and compiled.cursor[0] == "before"
    if before:  # walk backwards from the cursor, then restore the order
        orders = [(sql, a, not desc) for sql, a, desc in orders]

    cursor_sql, cursor_params = "", []
    if compiled.cursor is not None:
        cursor_sql, cursor_params = _keyset(conn, spec, compiled.cursor[1], orders, cursor_error)

    if compiled.random:
        order_sql = "random()"
    else:
        order_sql = ", ".join(f"{sql} {'DESC' if desc else 'ASC'}" for sql, _, desc in orders)
    limit = compiled.limit if compiled.limit is not None else DEFAULT_LIMIT
    offset = compiled.offset or 0
    sql = f"SELECT {spec.columns} FROM {spec.table} WHERE {where}{cursor_sql} ORDER BY {order_sql} LIMIT ? OFFSET ?"
    rows = conn.execute(sql, [*params, *cursor_params, limit, offset]).fetchall()
    if before:
        rows.reverse()
    return rows, total


def _keyset(
    conn: sqlite3.Connection, spec: ListSpec, cursor_id: str, orders: list[tuple[str, str, bool]], cursor_error: str
) -> tuple[str, list[Any]]:
    select = ", ".join(sql for sql, _, _ in orders)
    row = conn.execute(
        f"SELECT {select} FROM {spec.table} WHERE ({spec.base_where}) AND {spec.id_col} = ?",
        [*spec.base_params, cursor_id],
    ).fetchone()
    if row is None:
        raise AppwriteError(cursor_error, f"Row '{cursor_id}' for the 'cursor' value not found.")
    for (_sql, attribute, _), value in zip(orders, row, strict=True):
        if value is None:
            raise AppwriteError(
                "database_query_order_null",
                f'Order attribute "{attribute}" is empty for the cursor row; cannot paginate.',
                400,
            )
    # (a > x) OR (a = x AND b > y) OR ...  with each comparison following that column's direction
    terms, params = [], []
    for i, (sql, _, desc) in enumerate(orders):
        parts = [f"{orders[j][0]} = ?" for j in range(i)]
        parts.append(f"{sql} {'<' if desc else '>'} ?")
        params.extend([*row[:i], row[i]])
        terms.append("(" + " AND ".join(parts) + ")")
    return " AND (" + " OR ".join(terms) + ")", params


def list_resources(
    conn: sqlite3.Connection,
    spec: ListSpec,
    raw_queries: Any,
    want_total: bool,
    search: str | None = None,
    search_sql: str | None = None,
) -> tuple[list[tuple], int]:
    """List endpoints other than rows: invalid queries are `general_argument_invalid` (param validators)."""
    try:
        compiled = compile_queries(parse(raw_queries), spec.attrs)
    except QueryError as exc:
        raise invalid_argument("queries", str(exc)) from None
    if compiled.select is not None:
        raise invalid_argument("queries", "Invalid query: Select queries are not allowed here")
    words = search.split() if search_sql and search else []
    if words:
        clauses = " AND ".join(f"{search_sql} LIKE ?" for _ in words)
        spec = ListSpec(
            spec.table,
            spec.columns,
            spec.attrs,
            spec.id_col,
            spec.seq_col,
            f"({spec.base_where}) AND {clauses}",
            (*spec.base_params, *(f"%{w}%" for w in words)),
        )
    return run_list(conn, spec, compiled, want_total)
