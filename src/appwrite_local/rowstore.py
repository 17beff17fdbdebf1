"""Rows: validation against the table's columns, permission checks, and the SQL for every row operation.

Every function takes the connection it runs on, so the same code serves a single request (inside
`db.write()`), a committed transaction (many operations in one SQLite transaction) and a read of a
transaction's staged state (inside `db.scratch()`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from . import permissions as perms
from .auth import Principal
from .catalog import ROW_HEAD, TableSchema, q
from .clock import Clock, format_datetime, normalise_datetime
from .columns import INTEGER_KINDS, structure_error
from .errors import AppwriteError
from .ids import custom_id, unique_id
from .listing import ListSpec, run_list
from .queries import Compiled, QueryError, compile_queries, parse

BULK_LIMIT = 100
MAX_SQL_VARIABLES = 32766  # SQLite's limit on ? in one statement (since 3.32)
SPARSE = 2000  # a caller who may read fewer rows than this has them looked up first when listing (read_filter)
CheckedRow = tuple[str, dict[str, Any], str | None]  # (id, checked values, its `$permissions` as JSON, if given)
SYSTEM_KEYS = {
    "$id",
    "$sequence",
    "$databaseId",
    "$tableId",
    "$collectionId",
    "$createdAt",
    "$updatedAt",
    "$permissions",
    "$collection",
    "$tenant",
}


def compile_row_queries(schema: TableSchema, raw: Any) -> Compiled:
    try:
        return compile_queries(parse(raw), schema.attrs)
    except QueryError as exc:
        raise AppwriteError("general_query_invalid", str(exc)) from None


class Rows:
    def __init__(self, clock: Clock, table_field: str = "$tableId"):
        self.clock = clock
        self.table_field = table_field

    # --- output --------------------------------------------------------------------------------------------------
    @staticmethod
    def select_sql(schema: TableSchema, select: list[str] | None = None) -> str:
        """The row's columns in `to_json`'s order; with a `select`, the columns it leaves out are read as NULL
        (a list of names need not read each row's large JSON column)."""
        if not select or "*" in select:
            return schema.select_all
        wanted = set(select)
        cols = "".join(", " + (q(c.key) if c.key in wanted else "NULL") for c in schema.available_columns)
        return ROW_HEAD + cols

    def to_json(self, schema: TableSchema, row: tuple, select: list[str] | None = None) -> dict[str, Any]:
        out = {
            "$id": row[1],
            "$sequence": str(row[0]),
            self.table_field: schema.id,
            "$databaseId": schema.database_id,
            "$createdAt": row[2],
            "$updatedAt": row[3],
            "$permissions": orjson.loads(row[4]),
        }
        if not select or "*" in select:  # the common case: every column, converted only where it must be
            out.update(zip(schema.column_keys, row[5:], strict=False))
            for key, convert in schema.conversions:
                out[key] = convert(out[key])
            return out
        wanted = set(select)
        for (key, convert), value in zip(schema.decoders, row[5:], strict=False):
            if key in wanted:
                out[key] = value if convert is None else convert(value)
        return out

    # --- permissions ---------------------------------------------------------------------------------------------
    @staticmethod
    def table_allows(schema: TableSchema, principal: Principal, ptype: str) -> bool:
        return principal.is_key or perms.allows(schema.permissions, ptype, principal.roles)

    def _row_allows(self, schema: TableSchema, principal: Principal, ptype: str, row_permissions: list[str]) -> bool:
        if self.table_allows(schema, principal, ptype):
            return True
        return schema.row_security and perms.allows(row_permissions, ptype, principal.roles)

    @staticmethod
    def read_filter(
        schema: TableSchema,
        principal: Principal,
        for_list: bool,
        conn: sqlite3.Connection | None = None,
        filtered: bool = False,
    ) -> tuple[str, tuple]:
        """SQL that keeps only rows the caller may read (row security).

        Per row, the check is one index lookup of the row's read entries in `r<seq>_perms` (row, type), so
        reading a row by id costs the same in a table of 200 rows or 200,000. A list walks its candidate rows (by
        its filters' index, in its order) and checks each the same way until the page is full; only an unfiltered
        list by a caller who may read few rows of the table (fewer than SPARSE) takes the set of readable rows
        first, as walking many unreadable rows to fill a page would cost more."""
        if Rows.table_allows(schema, principal, "read"):
            return "1", ()
        if not schema.row_security:
            if for_list:
                raise AppwriteError("user_unauthorized")
            return "0", ()
        roles = tuple(sorted(principal.roles))
        marks = ",".join("?" * len(roles))
        readable = f"SELECT _row FROM {schema.perms_sql} WHERE _type = 'read' AND _role IN ({marks})"
        if for_list and conn is not None and not filtered:
            few = conn.execute(f"SELECT COUNT(*) FROM ({readable} LIMIT {SPARSE})", roles).fetchone()[0] < SPARSE
            if few:
                return f"_seq IN ({readable})", roles
        # One row's check: its few read entries are found by (row, type) and the caller's roles looked for among
        # them (`+_role` keeps SQLite from seeking once per role of the caller for every row it walks: 50 vs 76 µs
        # for a list of 20 in `make bench-api`'s table, and a caller with many roles would pay per role).
        own = f"SELECT _row FROM {schema.perms_sql} WHERE _row = {schema.sql}._seq AND _type = 'read'"
        return f"EXISTS ({own} AND +_role IN ({marks}))", roles

    # --- reads ---------------------------------------------------------------------------------------------------
    def fetch(self, conn: sqlite3.Connection, schema: TableSchema, row_id: str) -> tuple | None:
        return conn.execute(f"SELECT {self.select_sql(schema)} FROM {schema.sql} WHERE _id = ?", (row_id,)).fetchone()

    def get(
        self,
        conn: sqlite3.Connection,
        schema: TableSchema,
        row_id: str,
        principal: Principal,
        select: list[str] | None = None,
    ) -> dict[str, Any]:
        where, params = self.read_filter(schema, principal, for_list=False)
        row = conn.execute(
            f"SELECT {self.select_sql(schema)} FROM {schema.sql} WHERE _id = ? AND {where}", (row_id, *params)
        ).fetchone()
        if row is None:
            raise AppwriteError("row_not_found")
        return self.to_json(schema, row, select)

    def list(
        self, conn: sqlite3.Connection, schema: TableSchema, compiled: Compiled, principal: Principal, want_total: bool
    ) -> tuple[list[dict[str, Any]], int]:
        where, params = self.read_filter(schema, principal, True, conn, filtered=bool(compiled.where))
        columns = self.select_sql(schema, compiled.select)
        spec = ListSpec(schema.sql, columns, schema.attrs, "_id", "_seq", where, params)
        rows, total = run_list(conn, spec, compiled, want_total)
        return [self.to_json(schema, r, compiled.select) for r in rows], total

    # --- validation ----------------------------------------------------------------------------------------------
    def prepare(self, schema: TableSchema, data: Any, principal: Principal, creating: bool) -> dict[str, Any]:
        """Client data -> {column: stored value}, plus `$createdAt`/`$updatedAt` kept for API keys only."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                raise AppwriteError(
                    "general_argument_invalid", "Invalid `data` param: Value must be a valid object."
                ) from None
        if not isinstance(data, dict):
            raise AppwriteError("general_argument_invalid", "Invalid `data` param: Value must be a valid object.")
        values: dict[str, Any] = {}
        checkers = schema.checkers
        for key, value in data.items():
            if key in SYSTEM_KEYS:
                if key in ("$createdAt", "$updatedAt") and principal.is_key and value is not None:
                    values["_" + key[1:]] = normalise_datetime(value)
                continue
            found = checkers.get(key)
            if found is None:
                raise structure_error(f'Unknown attribute: "{key}"')
            column, check = found
            if value is None:
                if column.required:
                    raise structure_error(f'Missing required attribute "{key}"')
                values[key] = None
                continue
            try:
                values[key] = check(value)
            except ValueError as exc:
                raise structure_error(f'Attribute "{key}" has invalid type. {exc}') from None
        if creating:
            self._fill_defaults(schema, values)
        return values

    @staticmethod
    def _fill_defaults(schema: TableSchema, values: dict[str, Any]) -> None:
        """A new row's columns the request left out: their default, else NULL; a required one is an error."""
        for column in schema.available_columns:
            if column.key in values:
                continue
            if column.default is not None:
                values[column.key] = column.check_value(column.default)
            elif column.required:
                raise structure_error(f'Missing required attribute "{column.key}"')
            else:
                values[column.key] = None

    def row_permissions(self, raw: Any, principal: Principal) -> list[str]:
        """Validate requested row permissions (None means the caller's defaults)."""
        if raw is None:
            return perms.default_row_permissions(principal.user_id)
        normalised = perms.normalise(raw, perms.ROW_TYPES)
        if not principal.is_key:
            perms.check_grantable(normalised, principal.roles)
        return normalised

    # --- writes --------------------------------------------------------------------------------------------------
    def _insert(
        self, conn: sqlite3.Connection, schema: TableSchema, row_id: str, values: dict[str, Any], permissions: list[str]
    ) -> None:
        now = format_datetime(self.clock.now())
        created = values.pop("_createdAt", now)
        updated = values.pop("_updatedAt", now)
        cols = ["_id", "_createdAt", "_updatedAt", "_permissions", *values]
        sql = (
            f"INSERT INTO {schema.sql} ({', '.join(c if c.startswith('_') else q(c) for c in cols)})"
            f" VALUES ({', '.join('?' * len(cols))})"
        )
        try:
            cur = conn.execute(sql, (row_id, created, updated, json.dumps(permissions), *values.values()))
        except sqlite3.IntegrityError as exc:
            raise _integrity(exc, schema) from None
        self._write_perms(conn, schema, cur.lastrowid, permissions)

    def _write_perms(
        self, conn: sqlite3.Connection, schema: TableSchema, seq: int, permissions: list[str], replace: bool = False
    ) -> None:
        if replace:
            conn.execute(f"DELETE FROM {schema.perms_sql} WHERE _row = ?", (seq,))
        if permissions:
            conn.executemany(
                f"INSERT OR IGNORE INTO {schema.perms_sql} (_type, _role, _row) VALUES (?, ?, ?)",
                [(*perms.parse(p), seq) for p in permissions],
            )

    def _update(
        self,
        conn: sqlite3.Connection,
        schema: TableSchema,
        seq: int,
        values: dict[str, Any],
        permissions: list[str] | None,
    ) -> None:
        values.setdefault("_updatedAt", format_datetime(self.clock.now()))
        sets = {**values}
        if permissions is not None:
            sets["_permissions"] = json.dumps(permissions)
        assignments = ", ".join(f"{c if c.startswith('_') else q(c)} = ?" for c in sets)
        try:
            conn.execute(f"UPDATE {schema.sql} SET {assignments} WHERE _seq = ?", (*sets.values(), seq))
        except sqlite3.IntegrityError as exc:
            raise _integrity(exc, schema) from None
        if permissions is not None:
            self._write_perms(conn, schema, seq, permissions, replace=True)

    def create(
        self,
        conn: sqlite3.Connection,
        schema: TableSchema,
        row_id: str,
        data: Any,
        raw_permissions: Any,
        principal: Principal,
    ) -> dict[str, Any]:
        self._create_one(conn, schema, row_id, data, raw_permissions, principal)
        return self.to_json(schema, self.fetch(conn, schema, row_id))  # type: ignore[arg-type]

    def _create_one(
        self,
        conn: sqlite3.Connection,
        schema: TableSchema,
        row_id: str,
        data: Any,
        raw_permissions: Any,
        principal: Principal,
    ) -> None:
        if not self.table_allows(schema, principal, "create"):
            raise AppwriteError("user_unauthorized")
        values = self.prepare(schema, data, principal, creating=True)
        permissions = self.row_permissions(raw_permissions, principal)
        self._insert(conn, schema, row_id, values, permissions)

    def update(
        self,
        conn: sqlite3.Connection,
        schema: TableSchema,
        row_id: str,
        data: Any,
        raw_permissions: Any,
        principal: Principal,
    ) -> dict[str, Any]:
        old = self.fetch(conn, schema, row_id)
        if old is None:
            raise AppwriteError("row_not_found")
        if not self._row_allows(schema, principal, "update", json.loads(old[4])):
            raise AppwriteError("user_unauthorized")
        values = self.prepare(schema, data if data is not None else {}, principal, creating=False)
        permissions = None if raw_permissions is None else self.row_permissions(raw_permissions, principal)
        self._update(conn, schema, old[0], values, permissions)
        return self.to_json(schema, self.fetch(conn, schema, row_id))  # type: ignore[arg-type]

    def upsert(
        self,
        conn: sqlite3.Connection,
        schema: TableSchema,
        row_id: str,
        data: Any,
        raw_permissions: Any,
        principal: Principal,
    ) -> tuple[dict[str, Any], bool]:
        """Create the row if it is missing, else update it; returns (row, created)."""
        if self.fetch(conn, schema, row_id) is None:
            return self.create(conn, schema, row_id, data, raw_permissions, principal), True
        return self.update(conn, schema, row_id, data, raw_permissions, principal), False

    def delete(
        self, conn: sqlite3.Connection, schema: TableSchema, row_id: str, principal: Principal
    ) -> dict[str, Any]:
        old = self.fetch(conn, schema, row_id)
        if old is None:
            raise AppwriteError("row_not_found")
        if not self._row_allows(schema, principal, "delete", json.loads(old[4])):
            raise AppwriteError("user_unauthorized")
        conn.execute(f"DELETE FROM {schema.sql} WHERE _seq = ?", (old[0],))
        conn.execute(f"DELETE FROM {schema.perms_sql} WHERE _row = ?", (old[0],))
        return self.to_json(schema, old)

    def add_to_column(
        self,
        conn: sqlite3.Connection,
        schema: TableSchema,
        row_id: str,
        key: str,
        delta: float,
        bound: float | None,
        principal: Principal,
    ) -> dict[str, Any]:
        """Increment (delta > 0, bound = max) or decrement (delta < 0, bound = min) atomically."""
        column = schema.columns.get(key)
        if column is None:
            raise AppwriteError("column_not_found")
        if column.array or (column.kind not in INTEGER_KINDS and column.kind != "float"):
            raise AppwriteError("column_type_invalid", f'Column "{key}" is not numeric and cannot be incremented.')
        old = self.fetch(conn, schema, row_id)
        if old is None:
            raise AppwriteError("row_not_found")
        if not self._row_allows(schema, principal, "update", json.loads(old[4])):
            raise AppwriteError("user_unauthorized")
        position = 5 + [c.key for c in schema.available_columns].index(key)
        current = old[position] or 0
        result = current + delta
        if column.kind in INTEGER_KINDS and isinstance(result, float) and result.is_integer():
            result = int(result)
        highs = [v for v in (bound if delta > 0 else None, column.max) if v is not None]
        lows = [v for v in (bound if delta < 0 else None, column.min) if v is not None]
        high, low = (min(highs) if highs else None), (max(lows) if lows else None)
        if high is not None and result > high:
            raise AppwriteError("column_limit_exceeded", f'tablesDB "{key}" has reached the maximum value of {high}')
        if low is not None and result < low:
            raise AppwriteError("column_limit_exceeded", f'tablesDB "{key}" has reached the minimum value of {low}')
        conn.execute(
            f"UPDATE {schema.sql} SET {q(key)} = COALESCE({q(key)}, 0) + ?, _updatedAt = ? WHERE _seq = ?",
            (delta, format_datetime(self.clock.now()), old[0]),
        )
        return self.to_json(schema, self.fetch(conn, schema, row_id))  # type: ignore[arg-type]

    # --- bulk (API keys only; at most 100 rows a request) --------------------------------------------------------
    def _bulk_items(self, items: Any) -> list[dict[str, Any]]:
        if not isinstance(items, list) or len(items) > BULK_LIMIT:
            raise AppwriteError(
                "general_argument_invalid",
                f"Invalid `rows` param: Value must a valid array no longer than {BULK_LIMIT} items "
                "and Value must be a valid object.",
            )
        for item in items:
            if not isinstance(item, dict):
                raise AppwriteError("general_argument_invalid", "Invalid `rows` param: Value must be a valid object.")
        return items

    def bulk_create(
        self, conn: sqlite3.Connection, schema: TableSchema, items: Any, principal: Principal
    ) -> list[dict[str, Any]]:
        ids = []
        for item in self._bulk_items(items):
            row_id = custom_id(item.get("$id", "unique()"), "$id")
            self._create_one(conn, schema, row_id, item, item.get("$permissions"), principal)
            ids.append(row_id)
        return self._fetch_many(conn, schema, ids)

    def bulk_upsert(
        self, conn: sqlite3.Connection, schema: TableSchema, items: Any, principal: Principal
    ) -> list[dict[str, Any]]:
        checked = self.check_upsert(schema, items, principal)
        return self.rows_json(schema, self.write_upsert(conn, schema, checked, principal))

    def check_upsert(self, schema: TableSchema, items: Any, principal: Principal) -> list[CheckedRow]:
        """A bulk upsert's rows checked against the columns without reading the database, so that a request can
        be checked while another holds the write lock (`write_upsert` then writes it)."""
        checked = []
        for item in self._bulk_items(items):
            row_id = custom_id(item.get("$id", "unique()"), "$id")
            values = self.prepare(schema, item, principal, creating=False)
            raw_perms = item.get("$permissions")
            given = None if raw_perms is None else json.dumps(self.row_permissions(raw_perms, principal))
            checked.append((row_id, values, given))
        return checked

    def write_upsert(
        self, conn: sqlite3.Connection, schema: TableSchema, checked: list[CheckedRow], principal: Principal
    ) -> list[tuple]:
        """Write checked rows (a new row gets the columns' defaults and, without `$permissions`, the caller's
        default permissions; an existing row keeps what the request leaves out) and answer them as stored."""
        ids = [row_id for row_id, _, _ in checked]
        existing = self._existing_ids(conn, schema, ids)
        now = format_datetime(self.clock.now())
        default_perms = None
        groups: dict[tuple, list[tuple]] = {}
        for row_id, given_values, given_perms in checked:
            values = dict(given_values)
            permissions = given_perms
            if row_id not in existing:
                self._fill_defaults(schema, values)
                if permissions is None:
                    default_perms = default_perms or json.dumps(self.row_permissions(None, principal))
                    permissions = default_perms
            created = values.pop("_createdAt", now)
            updated = values.pop("_updatedAt", now)
            key = (tuple(values), permissions is not None)
            groups.setdefault(key, []).append((row_id, created, updated, permissions or "[]", *values.values()))
        for (columns, with_perms), rows in groups.items():
            names = ["_id", "_createdAt", "_updatedAt", "_permissions", *columns]
            updates = ["_updatedAt = excluded._updatedAt", *(f"{q(c)} = excluded.{q(c)}" for c in columns)]
            if with_perms:
                updates.append("_permissions = excluded._permissions")
            # One statement for the group (not executemany): SQLite gives up the GIL once per statement step, and
            # taking it back for each of 100 rows while other requests run Python costs more than the insert.
            # A row later in the statement with the id of an earlier one updates it, as a second request would.
            one = f"({', '.join('?' * len(names))})"
            head = f"INSERT INTO {schema.sql} ({', '.join(n if n.startswith('_') else q(n) for n in names)}) VALUES "
            tail = f" ON CONFLICT(_id) DO UPDATE SET {', '.join(updates)}"
            per_statement = max(1, MAX_SQL_VARIABLES // len(names))
            try:
                for start in range(0, len(rows), per_statement):
                    part = rows[start : start + per_statement]
                    conn.execute(head + ", ".join([one] * len(part)) + tail, [v for row in part for v in row])
            except sqlite3.IntegrityError as exc:
                raise _integrity(exc, schema) from None
            if with_perms:
                # New rows have no permission rows to replace; only rows that existed need the delete.
                entries = [(r[0], json.loads(r[3])) for r in rows if r[0] in existing or r[3] != "[]"]
                if entries:
                    self._replace_perms_by_id(conn, schema, entries)
        return self._fetch_stored(conn, schema, ids)

    def rows_json(self, schema: TableSchema, stored: list[tuple]) -> list[dict[str, Any]]:
        """Stored rows -> the API's rows (no database read: done after the write lock is released)."""
        return [self.to_json(schema, row) for row in stored]

    def _replace_perms_by_id(
        self, conn: sqlite3.Connection, schema: TableSchema, entries: list[tuple[str, list[str]]]
    ) -> None:
        seqs = dict(self._seq_by_id(conn, schema, [e[0] for e in entries]))
        conn.executemany(f"DELETE FROM {schema.perms_sql} WHERE _row = ?", [(seqs[i],) for i, _ in entries])
        conn.executemany(
            f"INSERT OR IGNORE INTO {schema.perms_sql} (_type, _role, _row) VALUES (?, ?, ?)",
            [(*perms.parse(p), seqs[i]) for i, plist in entries for p in plist],
        )

    def bulk_update(
        self, conn: sqlite3.Connection, schema: TableSchema, data: Any, compiled: Compiled, principal: Principal
    ) -> tuple[int, list[dict[str, Any]]]:
        values = self.prepare(schema, data if data is not None else {}, principal, creating=False)
        values.setdefault("_updatedAt", format_datetime(self.clock.now()))
        seqs = self._matching_seqs(conn, schema, compiled)
        if seqs and values:
            assignments = ", ".join(f"{c if c.startswith('_') else q(c)} = ?" for c in values)
            try:
                conn.executemany(
                    f"UPDATE {schema.sql} SET {assignments} WHERE _seq = ?", [(*values.values(), s) for s in seqs]
                )
            except sqlite3.IntegrityError as exc:
                raise _integrity(exc, schema) from None
        return len(seqs), self._fetch_seqs(conn, schema, seqs[:BULK_LIMIT])

    def bulk_delete(
        self, conn: sqlite3.Connection, schema: TableSchema, compiled: Compiled, principal: Principal
    ) -> tuple[int, list[dict[str, Any]]]:
        seqs = self._matching_seqs(conn, schema, compiled)
        shown = self._fetch_seqs(conn, schema, seqs[:BULK_LIMIT])
        conn.executemany(f"DELETE FROM {schema.sql} WHERE _seq = ?", [(s,) for s in seqs])
        conn.executemany(f"DELETE FROM {schema.perms_sql} WHERE _row = ?", [(s,) for s in seqs])
        return len(seqs), shown

    # --- helpers -------------------------------------------------------------------------------------------------
    def _matching_seqs(self, conn: sqlite3.Connection, schema: TableSchema, compiled: Compiled) -> list[int]:
        """Every row the filters match (bulk update/delete ignore limit unless one is given)."""
        limit = f" LIMIT {compiled.limit}" if compiled.limit else ""
        offset = f" OFFSET {compiled.offset}" if compiled.offset else ""
        if offset and not limit:
            limit = " LIMIT -1"
        sql = f"SELECT _seq FROM {schema.sql} WHERE {compiled.where_sql()} ORDER BY _seq{limit}{offset}"
        return [r[0] for r in conn.execute(sql, compiled.params)]

    def _existing_ids(self, conn: sqlite3.Connection, schema: TableSchema, ids: list[str]) -> set[str]:
        return {row_id for row_id, _ in self._seq_by_id(conn, schema, ids)}

    @staticmethod
    def _seq_by_id(conn: sqlite3.Connection, schema: TableSchema, ids: list[str]) -> list[tuple[str, int]]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return conn.execute(f"SELECT _id, _seq FROM {schema.sql} WHERE _id IN ({marks})", ids).fetchall()

    def _fetch_many(self, conn: sqlite3.Connection, schema: TableSchema, ids: list[str]) -> list[dict[str, Any]]:
        return self.rows_json(schema, self._fetch_stored(conn, schema, ids))

    def _fetch_stored(self, conn: sqlite3.Connection, schema: TableSchema, ids: list[str]) -> list[tuple]:
        """The stored rows with these ids, in the order asked, each once."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = conn.execute(f"SELECT {self.select_sql(schema)} FROM {schema.sql} WHERE _id IN ({marks})", ids)
        by_id = {r[1]: r for r in rows}
        return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]

    def _fetch_seqs(self, conn: sqlite3.Connection, schema: TableSchema, seqs: Iterable[int]) -> list[dict[str, Any]]:
        seqs = list(seqs)
        if not seqs:
            return []
        marks = ",".join("?" * len(seqs))
        rows = conn.execute(
            f"SELECT {self.select_sql(schema)} FROM {schema.sql} WHERE _seq IN ({marks}) ORDER BY _seq", seqs
        )
        return [self.to_json(schema, r) for r in rows]

    def staged_row(self, schema: TableSchema, row_id: str, data: Any, permissions: list[str]) -> dict[str, Any]:
        """The placeholder Appwrite returns for a write staged in a transaction."""
        now = format_datetime(self.clock.now())
        out = {
            "$id": row_id,
            "$sequence": "0",
            self.table_field: schema.id,
            "$databaseId": schema.database_id,
            "$createdAt": now,
            "$updatedAt": now,
            "$permissions": permissions,
        }
        if isinstance(data, dict):
            out.update({k: v for k, v in data.items() if not k.startswith("$")})
        return out


def _integrity(exc: sqlite3.IntegrityError, schema: TableSchema) -> AppwriteError:
    if f"{schema.sql}._id" in str(exc):
        return AppwriteError("row_already_exists")
    return AppwriteError("row_unique_constraint_violation")


def new_row_id(value: Any) -> str:
    return custom_id(value if value is not None else unique_id(), "rowId")
