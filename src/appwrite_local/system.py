"""The server's own SQLite tables: project keys, users, sessions, teams, schema metadata, buckets, files.

Functions, their variables and executions (functions.py, executor.py) are here too.
User tables live beside these as `r<seq>` (rows) and `r<seq>_perms` (row permissions); see catalog.py.
"""

from __future__ import annotations

import sqlite3

from .db import Database

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, secret TEXT NOT NULL UNIQUE, scopes TEXT NOT NULL,
    expire TEXT, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',
    email TEXT UNIQUE, phone TEXT UNIQUE, password TEXT, hash TEXT, hash_options TEXT,
    registration TEXT NOT NULL, status INTEGER NOT NULL DEFAULT 1, labels TEXT NOT NULL DEFAULT '[]',
    password_update TEXT NOT NULL DEFAULT '', email_verification INTEGER NOT NULL DEFAULT 0,
    phone_verification INTEGER NOT NULL DEFAULT 0, prefs TEXT NOT NULL DEFAULT '{}',
    accessed_at TEXT NOT NULL DEFAULT '', created TEXT NOT NULL, updated TEXT NOT NULL,
    search TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS _sessions (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, secret_hash TEXT NOT NULL UNIQUE, provider TEXT NOT NULL,
    provider_uid TEXT NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL DEFAULT '', expire TEXT NOT NULL,
    factors TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS _sessions_user ON _sessions (user_id);
CREATE TABLE IF NOT EXISTS _teams (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    prefs TEXT NOT NULL DEFAULT '{}', created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _memberships (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, team_id TEXT NOT NULL,
    user_id TEXT NOT NULL, roles TEXT NOT NULL, invited TEXT NOT NULL, joined TEXT NOT NULL DEFAULT '',
    confirm INTEGER NOT NULL, secret_hash TEXT NOT NULL DEFAULT '', created TEXT NOT NULL,
    updated TEXT NOT NULL, UNIQUE (team_id, user_id));
CREATE INDEX IF NOT EXISTS _memberships_user ON _memberships (user_id);
CREATE TABLE IF NOT EXISTS _databases (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    enabled INTEGER NOT NULL, type TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _tables (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, database_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
    enabled INTEGER NOT NULL, row_security INTEGER NOT NULL, permissions TEXT NOT NULL,
    columns TEXT NOT NULL DEFAULT '[]', indexes TEXT NOT NULL DEFAULT '[]', description TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL, updated TEXT NOT NULL, UNIQUE (database_id, id));
CREATE TABLE IF NOT EXISTS _buckets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    permissions TEXT NOT NULL, file_security INTEGER NOT NULL, enabled INTEGER NOT NULL,
    maximum_file_size INTEGER NOT NULL, allowed_file_extensions TEXT NOT NULL, compression TEXT NOT NULL,
    encryption INTEGER NOT NULL, antivirus INTEGER NOT NULL, transformations INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '', created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, bucket_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
    folder TEXT NOT NULL DEFAULT '', permissions TEXT NOT NULL, signature TEXT NOT NULL DEFAULT '',
    mime_type TEXT NOT NULL DEFAULT '', size_original INTEGER NOT NULL, size_actual INTEGER NOT NULL DEFAULT 0,
    chunks_total INTEGER NOT NULL, chunks_uploaded INTEGER NOT NULL, chunks TEXT NOT NULL DEFAULT '[]',
    created TEXT NOT NULL, updated TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '', UNIQUE (bucket_id, id));
CREATE TABLE IF NOT EXISTS _file_perms (
    type TEXT NOT NULL, role TEXT NOT NULL, file INTEGER NOT NULL, PRIMARY KEY (type, role, file)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS _file_perms_file ON _file_perms (file);
CREATE TABLE IF NOT EXISTS _functions (
    id TEXT PRIMARY KEY, spec TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _variables (
    id TEXT PRIMARY KEY, function_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    secret INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, updated TEXT NOT NULL, UNIQUE (function_id, key));
CREATE TABLE IF NOT EXISTS _executions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, function_id TEXT NOT NULL,
    deployment_id TEXT NOT NULL, trigger TEXT NOT NULL, status TEXT NOT NULL, request_method TEXT NOT NULL,
    request_path TEXT NOT NULL, request_headers TEXT NOT NULL, request_body BLOB,
    call_headers TEXT NOT NULL DEFAULT '{}', response_status INTEGER NOT NULL
    DEFAULT 0, response_body TEXT NOT NULL DEFAULT '', response_headers TEXT NOT NULL DEFAULT '[]',
    logs TEXT NOT NULL DEFAULT '', errors TEXT NOT NULL DEFAULT '', duration REAL NOT NULL DEFAULT 0,
    scheduled_at TEXT, permissions TEXT NOT NULL DEFAULT '[]', user_id TEXT NOT NULL DEFAULT '',
    session_id TEXT NOT NULL DEFAULT '', event TEXT NOT NULL DEFAULT '', client_ip TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS _executions_function ON _executions (function_id, seq);
CREATE INDEX IF NOT EXISTS _executions_due ON _executions (status, scheduled_at);
CREATE INDEX IF NOT EXISTS _executions_user ON _executions (function_id, user_id, seq);
CREATE TABLE IF NOT EXISTS _deployments (
    id TEXT PRIMARY KEY, function_id TEXT NOT NULL, status TEXT NOT NULL, entrypoint TEXT NOT NULL,
    commands TEXT NOT NULL, source_size INTEGER NOT NULL, build_logs TEXT NOT NULL, build_duration REAL NOT NULL,
    python TEXT NOT NULL, activate INTEGER NOT NULL, type TEXT NOT NULL, created TEXT NOT NULL,
    updated TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS _deployments_function ON _deployments (function_id, created);
CREATE TABLE IF NOT EXISTS _rules (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, domain TEXT NOT NULL UNIQUE,
    resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, trigger TEXT NOT NULL, created TEXT NOT NULL,
    updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _transactions (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, operations TEXT NOT NULL DEFAULT '[]', expires TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '', created TEXT NOT NULL, updated TEXT NOT NULL);
"""


# Columns added after a data directory may already exist: (table, column, definition).
ADDED_COLUMNS = (("_files", "owner", "TEXT NOT NULL DEFAULT ''"),)


def bootstrap(db: Database) -> None:
    db.executescript(DDL)
    with db.write() as conn:
        conn.execute("INSERT OR IGNORE INTO _meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        for table, column, definition in ADDED_COLUMNS:
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def meta_get(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def meta_set(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO _meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
