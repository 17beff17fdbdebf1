"""Permission checks are index lookups, never scans (issue 19): SQLite's own query plans for a signed-in user's
get and filtered list, on a table with row security and 5,000 rows. Not timed: the plan is what scales."""

from __future__ import annotations

import json

import pytest

from appwrite_local.app import Services, Settings
from appwrite_local.auth import USER_SCOPES, Principal
from appwrite_local.catalog import Index
from appwrite_local.columns import Column
from appwrite_local.listing import ListSpec
from appwrite_local.rowstore import SPARSE, Rows, compile_row_queries


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    services = Services(Settings(data_dir=tmp_path_factory.mktemp("plans")))
    services.catalog.create_database("db", "DB", True, "tablesdb")
    schema = services.catalog.create_table(
        "db",
        "owned",
        "Owned",
        ['create("users")'],
        True,
        True,
        [Column(key="form", kind="varchar", required=False, array=False, size=20)],
        [Index(key="form_ix", type="key", columns=["form"], orders=["ASC"], lengths=[])],
    )
    owner = Principal("key", frozenset({"any"}), frozenset(), key_id="test")
    rows = [{"$id": f"r{i}", "form": f"f{i % 50}", "$permissions": [f'read("user:u{i % 2}")']} for i in range(5000)]
    with services.db.write() as conn:
        for start in range(0, len(rows), 100):
            services.rows.bulk_create(conn, schema, rows[start : start + 100], owner)
    yield services, schema
    services.close()


def _user(user_id: str) -> Principal:
    roles = frozenset({"any", "users", f"user:{user_id}", f"user:{user_id}/unverified", "users/unverified"})
    return Principal("user", roles, USER_SCOPES)


def _plan(conn, sql: str, params) -> str:
    return "\n".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())


def test_a_get_looks_up_only_that_rows_permissions(world):
    services, schema = world
    where, params = Rows.read_filter(schema, _user("u0"), for_list=False)
    sql = f"SELECT _seq FROM {schema.sql} WHERE _id = ? AND {where}"
    plan = _plan(services.db.reader(), sql, ("r2", *params))
    assert f"SEARCH {schema.perms_sql} USING" in plan and "_row=?" in plan, plan  # one row's entries, by index
    assert f"SCAN {schema.perms_sql}" not in plan and f"SCAN {schema.sql}" not in plan, plan


def test_a_filtered_list_walks_the_filter_index_and_looks_each_row_up(world):
    services, schema = world
    conn = services.db.reader()
    compiled = compile_row_queries(schema, [json.dumps({"method": "equal", "attribute": "form", "values": ["f4"]})])
    where, params = Rows.read_filter(schema, _user("u0"), True, conn, filtered=True)
    spec = ListSpec(schema.sql, "_seq", schema.attrs, "_id", "_seq", where, params)
    sql = f"SELECT _seq FROM {spec.table} WHERE ({spec.base_where}) AND ({compiled.where_sql()}) LIMIT 20"
    plan = _plan(conn, sql, (*params, *compiled.params))
    assert f"SEARCH {schema.sql} USING COVERING INDEX" in plan or f"SEARCH {schema.sql} USING INDEX" in plan, plan
    assert f"SEARCH {schema.perms_sql} USING" in plan and "_row=?" in plan, plan
    assert f"SCAN {schema.perms_sql}" not in plan, plan
    # One seek per walked row, by (row, type), whatever the caller's role count: not one seek per role.
    assert "(_row=? AND _type=?)" in plan and "_role=?" not in plan, plan


def test_an_unfiltered_list_by_a_user_who_reads_few_rows_starts_from_them(world):
    services, schema = world
    conn = services.db.reader()
    few = _user("u9")  # reads none of the 5,000 rows
    where, params = Rows.read_filter(schema, few, True, conn)
    assert where.startswith("_seq IN"), "fewer than SPARSE readable rows: looked up first"
    plan = _plan(conn, f"SELECT _seq FROM {schema.sql} WHERE {where} LIMIT 20", params)
    assert f"SEARCH {schema.perms_sql} USING PRIMARY KEY" in plan, plan
    many = _user("u0")  # reads 2,500 rows, more than SPARSE
    assert SPARSE < 2500
    where, _ = Rows.read_filter(schema, many, True, conn)
    assert where.startswith("EXISTS"), "many readable rows: each candidate is looked up"
