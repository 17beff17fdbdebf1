"""SQLite in WAL mode: one writer connection behind a lock, one reader connection per thread.

WAL lets readers run while the single writer commits. `synchronous=NORMAL` in WAL mode keeps every
committed transaction across a process crash (kill -9); only a power loss can drop the last commits.
Readers are thread-local because handlers run in Starlette's thread pool (datasette does the same).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
    "PRAGMA mmap_size=268435456",
    # Checkpoint every 64 MB of WAL rather than every 4 MB: bulk writes into indexed tables dirty a page per row
    # per index, and with the default each commit would be followed by a checkpoint and its fsync.
    "PRAGMA wal_autocheckpoint=16384",
)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    for pragma in _PRAGMAS:
        conn.execute(pragma)
    return conn


class Database:
    def __init__(self, path: Path):
        self.path = path
        self._writer = _connect(path)
        self._write_lock = threading.RLock()
        self._in_write = threading.local()
        self._readers = threading.local()
        self._all_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._watchers: list[Callable[[], None]] = []
        self._touched: set[int] = set()  # watchers whose tables the current write transaction changed

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection; inside a write block, the writer (to see its own changes)."""
        if getattr(self._in_write, "depth", 0):
            return self._writer
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only=1")
            self._readers.conn = conn
            with self._readers_lock:
                self._all_readers.append(conn)
        return conn

    def update_by_id(self, table: str, row_id: str, fields: dict[str, Any]) -> None:
        """UPDATE one row of a server table (`id` = row_id) with `fields`, in a write transaction of its own.
        `table` and the field names are the server's own, never a caller's."""
        with self.write() as conn:
            conn.execute(
                f"UPDATE {table} SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?", (*fields.values(), row_id)
            )

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction. Re-entrant: a nested block joins the outer transaction."""
        with self._write_lock:
            depth = getattr(self._in_write, "depth", 0)
            if depth:
                self._in_write.depth = depth + 1
                try:
                    yield self._writer
                finally:
                    self._in_write.depth = depth
                return
            self._writer.execute("BEGIN IMMEDIATE")
            self._in_write.depth = 1
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            else:
                self._writer.execute("COMMIT")
                for index in self._touched:  # after the commit: a reader can no longer see the old rows
                    self._watchers[index]()
            finally:
                self._touched.clear()
                self._in_write.depth = 0

    def watch(self, tables: Iterable[str], on_change: Callable[[], None]) -> None:
        """Call `on_change` after every commit that wrote to one of `tables`, whatever code wrote it: temporary
        triggers on the writer connection (every write goes through it) mark the transaction."""
        index = len(self._watchers)
        self._watchers.append(on_change)
        name = f"_watched_{index}"
        self._writer.create_function(name, 0, lambda: self._touched.add(index) and None, deterministic=False)
        with self._write_lock:
            for table in tables:
                for op in ("INSERT", "UPDATE", "DELETE"):
                    self._writer.execute(
                        f"CREATE TEMP TRIGGER IF NOT EXISTS {name}_{table}_{op.lower()} AFTER {op} ON main.{table}"
                        f" BEGIN SELECT {name}(); END"
                    )

    @contextmanager
    def scratch(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that is always rolled back: used to read a transaction's staged state."""
        with self._write_lock:
            if getattr(self._in_write, "depth", 0):
                raise RuntimeError("scratch() inside a write block")
            self._writer.execute("BEGIN IMMEDIATE")
            self._in_write.depth = 1
            try:
                yield self._writer
            finally:
                self._writer.execute("ROLLBACK")
                self._touched.clear()  # nothing was committed: no watcher runs
                self._in_write.depth = 0

    def executescript(self, script: str) -> None:
        """Run DDL outside any transaction (sqlite3's executescript commits first), at start-up."""
        with self._write_lock:
            self._writer.executescript(script)

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._all_readers:
                conn.close()
            self._all_readers.clear()
        with self._write_lock:
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._writer.close()
