"""Database.watch: a committed write to a watched table, by any code, moves the caller cache on; a rolled back
one, or a write elsewhere, does not (issue 19)."""

from __future__ import annotations

import pytest

from appwrite_local.db import Database


def test_watchers_run_after_commits_that_touch_their_tables(tmp_path):
    db = Database(tmp_path / "w.sqlite")
    db.executescript("CREATE TABLE a (x INTEGER); CREATE TABLE b (x INTEGER);")
    seen = []
    db.watch(["a"], lambda: seen.append("a"))
    with db.write() as conn:
        conn.execute("INSERT INTO b VALUES (1)")
    assert seen == []
    with db.write() as conn:
        conn.execute("INSERT INTO a VALUES (1)")
        conn.execute("UPDATE a SET x = 2")
        assert seen == [], "not before the commit: a reader could still see the old rows"
    assert seen == ["a"]
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.execute("DELETE FROM a")
        raise RuntimeError("rolled back")
    assert seen == ["a"]
    with db.write() as conn:
        conn.execute("DELETE FROM a")
    assert seen == ["a", "a"]
    db.close()
