"""Schema metadata (databases, tables, columns, indexes) and the SQL each one becomes.

Every Appwrite table is a real SQLite table `r<seq>` with typed columns, plus `r<seq>_perms` holding one
row per (permission type, role, row) so that row-level read checks are a SQL sub-select. Indexes are real
SQLite indexes; a fulltext index is an FTS5 table kept in step by triggers.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .clock import Clock, format_datetime
from .columns import INTEGER_KINDS, STRING_KINDS, Column, value_checker
from .db import Database
from .errors import AppwriteError
from .queries import Attr

SYSTEM_ATTRS = {
    "$id": Attr("_id", "string"),
    "$sequence": Attr("_seq", "integer"),
    "$createdAt": Attr("_createdAt", "datetime"),
    "$updatedAt": Attr("_updatedAt", "datetime"),
}
MAX_COLUMNS = 1000
ROW_HEAD = "_seq, _id, _createdAt, _updatedAt, _permissions"  # every row's system columns, in `Rows.to_json`'s order
MAX_INDEXES = 64


def q(name: str) -> str:
    """Quote an identifier (keys never contain a double quote: the Key validator forbids it)."""
    return '"' + name.replace('"', '""') + '"'


def _query_kind(column: Column) -> str:
    if column.kind in STRING_KINDS:
        return "string"
    if column.kind in INTEGER_KINDS:
        return "integer"
    return column.kind  # float, boolean, datetime


@dataclass
class Index:
    key: str
    type: str
    columns: list[str]
    orders: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    status: str = "available"
    error: str = ""
    created: str = ""
    updated: str = ""

    def to_json(self, columns_field: str = "columns") -> dict[str, Any]:
        return {
            "$id": self.key,
            "$createdAt": self.created,
            "$updatedAt": self.updated,
            "key": self.key,
            "description": "",
            "type": self.type,
            "status": self.status,
            "error": self.error,
            columns_field: list(self.columns),
            "lengths": list(self.lengths),
            "orders": list(self.orders),
        }


@dataclass
class TableSchema:
    seq: int
    database_id: str
    id: str
    name: str
    enabled: bool
    row_security: bool
    permissions: list[str]
    columns: dict[str, Column]
    indexes: list[Index]
    description: str
    created: str
    updated: str

    @property
    def sql(self) -> str:
        return f"r{self.seq}"

    @property
    def perms_sql(self) -> str:
        return f"r{self.seq}_perms"

    def fts_table(self, index: Index) -> str:
        return f"r{self.seq}_fts_{index.key}"

    @cached_property
    def attrs(self) -> dict[str, Attr]:
        """Query attributes: system fields plus every available column."""
        fulltext = {
            ix.columns[0]: self.fts_table(ix) for ix in self.indexes if ix.type == "fulltext" and len(ix.columns) == 1
        }
        out = dict(SYSTEM_ATTRS)
        for col in self.columns.values():
            if col.status == "available":
                out[col.key] = Attr(q(col.key), _query_kind(col), col.array, fulltext.get(col.key))
        return out

    @cached_property
    def available_columns(self) -> list[Column]:
        return [c for c in self.columns.values() if c.status == "available"]

    @cached_property
    def select_all(self) -> str:
        """The SELECT list of a whole row, in `Rows.to_json`'s order."""
        return ROW_HEAD + "".join(", " + q(c.key) for c in self.available_columns)

    @cached_property
    def decoders(self) -> list[tuple[str, Callable[[Any], Any] | None]]:
        """(key, stored value -> API value) for every available column, in order; None where they are the same."""
        return [
            (c.key, c.from_sql if c.array or c.kind in ("boolean", "float") else None) for c in self.available_columns
        ]

    @cached_property
    def column_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.available_columns)

    @cached_property
    def conversions(self) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
        """The `decoders` that change a value (booleans, floats, arrays)."""
        return tuple((key, convert) for key, convert in self.decoders if convert is not None)

    @cached_property
    def checkers(self) -> dict[str, tuple[Column, Callable[[Any], Any]]]:
        """Every available column's check of a client value (columns.value_checker), by key."""
        return {c.key: (c, value_checker(c)) for c in self.available_columns}


class Catalog:
    """Reads and changes schema metadata; keeps a cache of table schemas for the request path."""

    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock
        self._cache: dict[tuple[str, str], TableSchema] = {}
        self._databases: dict[str, dict[str, Any]] = {}
        self._generation = 0
        self._cache_lock = threading.Lock()

    # --- cache ---------------------------------------------------------------------------------------------------
    def _invalidate(self) -> None:
        with self._cache_lock:
            self._generation += 1
            self._cache.clear()
            self._databases.clear()

    def _cached(self, cache: dict[Any, Any], key: Any, load: Callable[[], Any]) -> Any:
        """`cache[key]`, else what `load` reads, remembered unless the schema changed while it read (a missing
        database or table is not remembered: it may be created next)."""
        with self._cache_lock:
            hit = cache.get(key)
            generation = self._generation
        if hit is not None:
            return hit
        value = load()
        if value is not None:
            with self._cache_lock:
                if generation == self._generation:
                    cache[key] = value
        return value

    @contextmanager
    def _schema_write(self) -> Iterator[sqlite3.Connection]:
        """A write that changes schema: the cache is dropped before it starts and after it ends."""
        self._invalidate()
        try:
            with self.db.write() as conn:
                yield conn
        finally:
            self._invalidate()

    def now(self) -> str:
        return format_datetime(self.clock.now())

    # --- databases -----------------------------------------------------------------------------------------------
    def get_database(self, database_id: str) -> dict[str, Any] | None:
        """The database's metadata (cached like table schemas: every route under it reads it first)."""
        database = self._cached(self._databases, database_id, lambda: self._read_database(database_id))
        return dict(database) if database is not None else None

    def _read_database(self, database_id: str) -> dict[str, Any] | None:
        row = (
            self.db.reader()
            .execute(
                "SELECT id, name, enabled, type, description, created, updated FROM _databases WHERE id = ?",
                (database_id,),
            )
            .fetchone()
        )
        return database_json(row) if row else None

    def create_database(self, database_id: str, name: str, enabled: bool, db_type: str) -> dict[str, Any]:
        now = self.now()
        with self.db.write() as conn:
            try:
                conn.execute(
                    "INSERT INTO _databases (id, name, enabled, type, created, updated) VALUES (?,?,?,?,?,?)",
                    (database_id, name, int(enabled), db_type, now, now),
                )
            except sqlite3.IntegrityError:
                raise AppwriteError("database_already_exists") from None
        return self.get_database(database_id)  # type: ignore[return-value]

    def update_database(self, database_id: str, name: str, enabled: bool | None) -> dict[str, Any]:
        with self._schema_write() as conn:
            cur = conn.execute(
                "UPDATE _databases SET name = ?, enabled = COALESCE(?, enabled), updated = ? WHERE id = ?",
                (name, None if enabled is None else int(enabled), self.now(), database_id),
            )
            if cur.rowcount == 0:
                raise AppwriteError("database_not_found")
        return self.get_database(database_id)  # type: ignore[return-value]

    def delete_database(self, database_id: str) -> None:
        with self._schema_write() as conn:
            tables = conn.execute("SELECT seq FROM _tables WHERE database_id = ?", (database_id,)).fetchall()
            for (seq,) in tables:
                _drop_table_sql(conn, seq)
            conn.execute("DELETE FROM _tables WHERE database_id = ?", (database_id,))
            if conn.execute("DELETE FROM _databases WHERE id = ?", (database_id,)).rowcount == 0:
                raise AppwriteError("database_not_found")

    # --- tables --------------------------------------------------------------------------------------------------
    def get_table(self, database_id: str, table_id: str) -> TableSchema | None:
        key = (database_id, table_id)
        return self._cached(self._cache, key, lambda: self._read_table(key))

    def _read_table(self, key: tuple[str, str]) -> TableSchema | None:
        row = (
            self.db.reader()
            .execute(
                "SELECT seq, database_id, id, name, enabled, row_security, permissions, columns, indexes, description,"
                " created, updated FROM _tables WHERE database_id = ? AND id = ?",
                key,
            )
            .fetchone()
        )
        return _table_from_row(row) if row else None

    def create_table(
        self,
        database_id: str,
        table_id: str,
        name: str,
        permissions: list[str],
        row_security: bool,
        enabled: bool,
        columns: list[Column],
        indexes: list[Index],
    ) -> TableSchema:
        now = self.now()
        with self._schema_write() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO _tables (database_id, id, name, enabled, row_security, permissions, created, updated)"
                    " VALUES (?,?,?,?,?,?,?,?)",
                    (database_id, table_id, name, int(enabled), int(row_security), json.dumps(permissions), now, now),
                )
            except sqlite3.IntegrityError:
                raise AppwriteError("table_already_exists") from None
            seq = cur.lastrowid
            conn.execute(
                f"CREATE TABLE r{seq} (_seq INTEGER PRIMARY KEY AUTOINCREMENT, _id TEXT NOT NULL UNIQUE,"
                " _createdAt TEXT NOT NULL, _updatedAt TEXT NOT NULL, _permissions TEXT NOT NULL DEFAULT '[]')"
            )
            conn.execute(f"CREATE INDEX r{seq}_created ON r{seq} (_createdAt)")
            conn.execute(f"CREATE INDEX r{seq}_updated ON r{seq} (_updatedAt)")
            conn.execute(
                f"CREATE TABLE r{seq}_perms (_type TEXT NOT NULL, _role TEXT NOT NULL, _row INTEGER NOT NULL,"
                " PRIMARY KEY (_type, _role, _row)) WITHOUT ROWID"
            )
            conn.execute(f"CREATE INDEX r{seq}_perms_row ON r{seq}_perms (_row)")
            schema = self._load(conn, database_id, table_id)
            for column in columns:
                schema = self._add_column(conn, schema, column)
            for index in indexes:
                schema = self._add_index(conn, schema, index)
        return self.get_table(database_id, table_id)  # type: ignore[return-value]

    def update_table(
        self,
        schema: TableSchema,
        name: str,
        permissions: list[str] | None,
        row_security: bool | None,
        enabled: bool | None,
    ) -> TableSchema:
        with self._schema_write() as conn:
            conn.execute(
                "UPDATE _tables SET name = ?, permissions = COALESCE(?, permissions),"
                " row_security = COALESCE(?, row_security), enabled = COALESCE(?, enabled), updated = ? WHERE seq = ?",
                (
                    name,
                    None if permissions is None else json.dumps(permissions),
                    None if row_security is None else int(row_security),
                    None if enabled is None else int(enabled),
                    self.now(),
                    schema.seq,
                ),
            )
        return self.get_table(schema.database_id, schema.id)  # type: ignore[return-value]

    def delete_table(self, schema: TableSchema) -> None:
        with self._schema_write() as conn:
            _drop_table_sql(conn, schema.seq)
            conn.execute("DELETE FROM _tables WHERE seq = ?", (schema.seq,))

    def _load(self, conn: sqlite3.Connection, database_id: str, table_id: str) -> TableSchema:
        row = conn.execute(
            "SELECT seq, database_id, id, name, enabled, row_security, permissions, columns, indexes, description,"
            " created, updated FROM _tables WHERE database_id = ? AND id = ?",
            (database_id, table_id),
        ).fetchone()
        return _table_from_row(row)

    def _save(
        self, conn: sqlite3.Connection, schema: TableSchema, columns: Iterable[Column], indexes: Iterable[Index]
    ) -> TableSchema:
        conn.execute(
            "UPDATE _tables SET columns = ?, indexes = ?, updated = ? WHERE seq = ?",
            (
                json.dumps([c.to_record() for c in columns]),
                json.dumps([_index_record(i) for i in indexes]),
                self.now(),
                schema.seq,
            ),
        )
        return self._load(conn, schema.database_id, schema.id)

    # --- columns -------------------------------------------------------------------------------------------------
    def add_column(self, schema: TableSchema, column: Column) -> Column:
        with self._schema_write() as conn:
            fresh = self._load(conn, schema.database_id, schema.id)
            fresh = self._add_column(conn, fresh, column)
        return fresh.columns[column.key]

    def _add_column(self, conn: sqlite3.Connection, schema: TableSchema, column: Column) -> TableSchema:
        if column.key in schema.columns:
            raise AppwriteError("column_already_exists")
        if len(schema.columns) >= MAX_COLUMNS:
            raise AppwriteError("column_limit_exceeded")
        column.created = column.updated = self.now()
        column.status = "available"
        conn.execute(f"ALTER TABLE {schema.sql} ADD COLUMN {q(column.key)} {column.sql_type}")
        return self._save(conn, schema, [*schema.columns.values(), column], schema.indexes)

    def update_column(self, schema: TableSchema, key: str, changes: dict[str, Any], new_key: str | None) -> Column:
        with self._schema_write() as conn:
            fresh = self._load(conn, schema.database_id, schema.id)
            column = fresh.columns.get(key)
            if column is None:
                raise AppwriteError("column_not_found")
            for attr, value in changes.items():
                setattr(column, attr, value)
            column.updated = self.now()
            columns = list(fresh.columns.values())
            if new_key and new_key != key:
                if new_key in fresh.columns:
                    raise AppwriteError("column_already_exists")
                if any(key in ix.columns for ix in fresh.indexes):
                    raise AppwriteError(
                        "column_index_dependency", "Column cannot be renamed because it is used in an index.", 409
                    )
                conn.execute(f"ALTER TABLE {fresh.sql} RENAME COLUMN {q(key)} TO {q(new_key)}")
                column.key = new_key
            fresh = self._save(conn, fresh, columns, fresh.indexes)
        return fresh.columns[new_key or key]

    def delete_column(self, schema: TableSchema, key: str) -> None:
        with self._schema_write() as conn:
            fresh = self._load(conn, schema.database_id, schema.id)
            if key not in fresh.columns:
                raise AppwriteError("column_not_found")
            # Appwrite's database worker drops indexes that used the column before removing it.
            kept = []
            for index in fresh.indexes:
                if key in index.columns:
                    _drop_index_sql(conn, fresh, index)
                else:
                    kept.append(index)
            conn.execute(f"ALTER TABLE {fresh.sql} DROP COLUMN {q(key)}")
            self._save(conn, fresh, [c for c in fresh.columns.values() if c.key != key], kept)

    # --- indexes -------------------------------------------------------------------------------------------------
    def add_index(self, schema: TableSchema, index: Index) -> Index:
        with self._schema_write() as conn:
            fresh = self._load(conn, schema.database_id, schema.id)
            fresh = self._add_index(conn, fresh, index)
        return next(ix for ix in fresh.indexes if ix.key == index.key)

    def _add_index(self, conn: sqlite3.Connection, schema: TableSchema, index: Index) -> TableSchema:
        if any(ix.key == index.key for ix in schema.indexes):
            raise AppwriteError("column_index_already_exists")
        if len(schema.indexes) >= MAX_INDEXES:
            raise AppwriteError("column_index_limit_exceeded")
        _validate_index(schema, index)
        index.created = index.updated = self.now()
        index.status = "available"
        _create_index_sql(conn, schema, index)
        return self._save(conn, schema, schema.columns.values(), [*schema.indexes, index])

    def delete_index(self, schema: TableSchema, key: str) -> None:
        with self._schema_write() as conn:
            fresh = self._load(conn, schema.database_id, schema.id)
            index = next((ix for ix in fresh.indexes if ix.key == key), None)
            if index is None:
                raise AppwriteError("column_index_not_found")
            _drop_index_sql(conn, fresh, index)
            self._save(conn, fresh, fresh.columns.values(), [ix for ix in fresh.indexes if ix.key != key])


def database_json(row: tuple) -> dict[str, Any]:
    return {
        "$id": row[0],
        "name": row[1],
        "$createdAt": row[5],
        "$updatedAt": row[6],
        "enabled": bool(row[2]),
        "type": row[3],
        "description": row[4],
    }


def _table_from_row(row: tuple) -> TableSchema:
    columns = [Column.from_record(r) for r in json.loads(row[7])]
    indexes = [Index(**r) for r in json.loads(row[8])]
    return TableSchema(
        seq=row[0],
        database_id=row[1],
        id=row[2],
        name=row[3],
        enabled=bool(row[4]),
        row_security=bool(row[5]),
        permissions=json.loads(row[6]),
        columns={c.key: c for c in columns},
        indexes=indexes,
        description=row[9],
        created=row[10],
        updated=row[11],
    )


def _index_record(index: Index) -> dict[str, Any]:
    return {
        "key": index.key,
        "type": index.type,
        "columns": index.columns,
        "orders": index.orders,
        "lengths": index.lengths,
        "status": index.status,
        "error": index.error,
        "created": index.created,
        "updated": index.updated,
    }


def _sql_column(schema: TableSchema, key: str) -> str:
    return SYSTEM_ATTRS[key].sql if key in SYSTEM_ATTRS else q(key)


def _validate_index(schema: TableSchema, index: Index) -> None:
    if index.type not in ("key", "unique", "fulltext"):
        raise AppwriteError(
            "column_index_invalid", f'Index type "{index.type}" is not supported here; use key, unique or fulltext.'
        )
    if not index.columns:
        raise AppwriteError("column_index_invalid", "Index must have at least one column.")
    if len(set(index.columns)) != len(index.columns):
        raise AppwriteError("column_index_invalid", "Duplicate columns provided.")
    for key in index.columns:
        if key in SYSTEM_ATTRS:
            if index.type == "fulltext":
                raise AppwriteError("column_index_invalid", f'Attribute "{key}" cannot be part of a fulltext index.')
            continue
        column = schema.columns.get(key)
        if column is None:
            raise AppwriteError(
                "column_unknown", f"Unknown column: {key}. Verify the column name or create the column."
            )
        if column.status != "available":
            raise AppwriteError("column_not_available")
        if index.type == "fulltext" and (column.kind not in STRING_KINDS or column.array):
            raise AppwriteError(
                "column_index_invalid", f'Attribute "{key}" cannot be part of a fulltext index, must be of type string'
            )
    if len(index.orders) > len(index.columns):
        raise AppwriteError("column_index_invalid", "Invalid index orders: more orders than columns.")


def _create_index_sql(conn: sqlite3.Connection, schema: TableSchema, index: Index) -> None:
    if index.type == "fulltext":
        fts = q(schema.fts_table(index))
        cols = ", ".join(q(c) for c in index.columns)
        conn.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{schema.sql}', content_rowid='_seq',"
            " tokenize='unicode61 remove_diacritics 2')"
        )
        conn.execute(f"INSERT INTO {fts} ({fts}) VALUES ('rebuild')")
        new_vals = ", ".join(f"new.{q(c)}" for c in index.columns)
        old_vals = ", ".join(f"old.{q(c)}" for c in index.columns)
        base = schema.fts_table(index)
        conn.execute(
            f"CREATE TRIGGER {q(base + '_ai')} AFTER INSERT ON {schema.sql} BEGIN "
            f"INSERT INTO {fts} (rowid, {cols}) VALUES (new._seq, {new_vals}); END"
        )
        conn.execute(
            f"CREATE TRIGGER {q(base + '_ad')} AFTER DELETE ON {schema.sql} BEGIN "
            f"INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES ('delete', old._seq, {old_vals}); END"
        )
        conn.execute(
            f"CREATE TRIGGER {q(base + '_au')} AFTER UPDATE OF {cols} ON {schema.sql} BEGIN "
            f"INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES ('delete', old._seq, {old_vals}); "
            f"INSERT INTO {fts} (rowid, {cols}) VALUES (new._seq, {new_vals}); END"
        )
        return
    parts = []
    for i, key in enumerate(index.columns):
        order = index.orders[i].upper() if i < len(index.orders) and index.orders[i] else ""
        parts.append(_sql_column(schema, key) + (f" {order}" if order in ("ASC", "DESC") else ""))
    unique = "UNIQUE " if index.type == "unique" else ""
    try:
        conn.execute(f"CREATE {unique}INDEX {q(schema.sql + '_ix_' + index.key)} ON {schema.sql} ({', '.join(parts)})")
    except sqlite3.IntegrityError:
        raise AppwriteError(
            "column_index_invalid", "Unique index cannot be created: the table already holds duplicate values."
        ) from None


def _drop_index_sql(conn: sqlite3.Connection, schema: TableSchema, index: Index) -> None:
    if index.type == "fulltext":
        base = schema.fts_table(index)
        for suffix in ("_ai", "_ad", "_au"):
            conn.execute(f"DROP TRIGGER IF EXISTS {q(base + suffix)}")
        conn.execute(f"DROP TABLE IF EXISTS {q(base)}")
    else:
        conn.execute(f"DROP INDEX IF EXISTS {q(schema.sql + '_ix_' + index.key)}")


def _drop_table_sql(conn: sqlite3.Connection, seq: int) -> None:
    row = conn.execute("SELECT indexes FROM _tables WHERE seq = ?", (seq,)).fetchone()
    for record in json.loads(row[0]) if row else []:
        if record["type"] == "fulltext":
            conn.execute(f"DROP TABLE IF EXISTS {q(f'r{seq}_fts_' + record['key'])}")
    conn.execute(f"DROP TABLE IF EXISTS r{seq}")
    conn.execute(f"DROP TABLE IF EXISTS r{seq}_perms")
