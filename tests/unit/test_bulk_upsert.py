"""The server's bulk upsert writes a request's rows in as few statements as SQLite's variable limit allows: the
rows must come out as before (an id new to the table and repeated in the request is written whole by its last
row), a wide table is split over several statements, and a refused row leaves nothing written."""

from __future__ import annotations

import pytest

from appwrite_local import rowstore
from appwrite_local.app import Services, Settings
from appwrite_local.auth import Principal
from appwrite_local.columns import Column
from appwrite_local.errors import AppwriteError

KEY = Principal("key", frozenset({"any"}), frozenset(), key_id="test")


@pytest.fixture
def world(tmp_path):
    services = Services(Settings(data_dir=tmp_path))
    services.catalog.create_database("db", "DB", True, "tablesdb")
    columns = [Column(key="sku", kind="varchar", required=True, array=False, size=10)]
    columns += [Column(key=f"c{i}", kind="integer", required=False, array=False) for i in range(6)]
    schema = services.catalog.create_table("db", "items", "Items", [], True, True, columns, [])
    yield services, schema
    services.close()


def _in_write(services, schema, items):
    with services.db.write() as conn:
        return services.rows.bulk_upsert(conn, schema, items, KEY)


def test_a_new_id_repeated_in_one_request_is_written_whole_by_its_last_row(world):
    services, schema = world
    answer = _in_write(services, schema, [{"$id": "a", "sku": "A", "c0": 1}, {"$id": "a", "sku": "A2", "c1": 2}])
    assert [(r["$id"], r["sku"], r["c0"], r["c1"]) for r in answer] == [("a", "A2", None, 2)]
    stored = _in_write(services, schema, [{"$id": "a", "c2": 3}])[0]  # an existing row keeps what is left out
    assert (stored["sku"], stored["c0"], stored["c1"], stored["c2"]) == ("A2", None, 2, 3)


def test_rows_beyond_the_variable_limit_go_in_further_statements(world, monkeypatch):
    services, schema = world
    monkeypatch.setattr(rowstore, "MAX_SQL_VARIABLES", 25)  # 11 values a row: two rows a statement
    items = [{"$id": f"r{i}", "sku": f"S{i}", "c0": i} for i in range(7)]
    answer = _in_write(services, schema, items)
    assert [(r["$id"], r["sku"], r["c0"]) for r in answer] == [(f"r{i}", f"S{i}", i) for i in range(7)]
    with pytest.raises(AppwriteError) as refused:  # the fourth statement fails: the first three are undone too
        _in_write(services, schema, [*[{"$id": f"n{i}", "sku": f"N{i}"} for i in range(6)], {"$id": "n6", "c0": 1}])
    assert refused.value.type == "row_invalid_structure"
    count = services.db.reader().execute(f"SELECT COUNT(*) FROM {schema.sql} WHERE _id LIKE 'n%'").fetchone()[0]
    assert count == 0
