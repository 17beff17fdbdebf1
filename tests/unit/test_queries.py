"""Query JSON -> SQL, without a database (appwrite_local.queries)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from appwrite_local.queries import Attr, QueryError, compile_queries, fulltext_expression, parse

ATTRS = {
    "$id": Attr("_id", "string"),
    "$sequence": Attr("_seq", "integer"),
    "$createdAt": Attr("_createdAt", "datetime"),
    "name": Attr('"name"', "string", fts="fts_name"),
    "price": Attr('"price"', "integer"),
    "weight": Attr('"weight"', "float"),
    "live": Attr('"live"', "boolean"),
    "tags": Attr('"tags"', "string", True),
    "at": Attr('"at"', "datetime"),
}


def q(method: str, attribute: str | None = None, values: list | None = None) -> str:
    body: dict = {"method": method}
    if attribute is not None:
        body["attribute"] = attribute
    if values is not None:
        body["values"] = values
    return json.dumps(body)


def compile_(*queries: str):
    return compile_queries(parse(list(queries)), ATTRS)


def test_equal_with_a_list_means_any_of():
    compiled = compile_(q("equal", "price", [1, 2, 3]))
    assert compiled.where == ['"price" IN (?,?,?)'] and compiled.params == [1, 2, 3]


def test_booleans_and_datetimes_are_stored_forms():
    compiled = compile_(q("equal", "live", [True]), q("greaterThan", "at", ["2026-01-01T00:00:00Z"]))
    assert compiled.params == [1, "2026-01-01T00:00:00.000+00:00"]


def test_nested_or_and():
    compiled = compile_(
        q(
            "or",
            values=[
                json.loads(q("equal", "price", [1])),
                json.loads(q("and", values=[json.loads(q("lessThan", "price", [5])), json.loads(q("isNull", "name"))])),
            ],
        )
    )
    assert compiled.where == ['("price" = ? OR ("price" < ? AND "name" IS NULL))'] and compiled.params == [1, 5]


def test_paging_and_ordering_are_separate_from_filters():
    compiled = compile_(
        q("orderDesc", "price"),
        q("limit", values=[5]),
        q("offset", values=[10]),
        q("cursorAfter", values=["r1"]),
        q("select", values=["name"]),
    )
    assert (compiled.orders, compiled.limit, compiled.offset, compiled.cursor, compiled.select) == (
        [("price", True)],
        5,
        10,
        ("after", "r1"),
        ["name"],
    )
    assert compiled.where == []


@pytest.mark.parametrize(
    "query,message",
    [
        (q("equal", "ghost", [1]), "Attribute not found in schema: ghost"),
        (q("equal", "price", ["1"]), 'Query value is invalid for attribute "price"'),
        (q("equal", "live", [1]), 'Query value is invalid for attribute "live"'),
        (q("equal", "tags", ["a"]), "because it is an array"),
        (q("search", "$id", ["a"]), "requires a fulltext index"),
        (q("between", "price", [1]), "exactly two values"),
        (q("or", values=[json.loads(q("equal", "price", [1]))]), "at least two queries"),
        (q("limit", values=[0]), "Invalid limit"),
        (q("offset", values=[-1]), "Invalid offset"),
        (q("startsWith", "price", ["1"]), "since it is not a string"),
        (q("count", "price"), "Invalid query method: count"),
        ("{broken", "Syntax error"),
        (json.dumps({"attribute": "x"}), "Syntax error"),
        (q("equal", "price", list(range(501))), "greater than 500 values"),
    ],
)
def test_invalid_queries(query, message):
    with pytest.raises(QueryError, match=".*" + message.replace("(", r"\(").replace(")", r"\)")):
        compile_(query)


def test_more_than_100_queries_is_refused():
    with pytest.raises(QueryError):
        parse([q("limit", values=[1])] * 101)


def test_fulltext_expression_is_mariadb_boolean_mode():
    assert fulltext_expression("para cetamol") == '"para" OR "cetamol"*'
    assert fulltext_expression('"exact phrase"') == '"exact phrase"'
    assert fulltext_expression("+-*()") == ""


def test_compiled_sql_runs_on_sqlite():
    conn = sqlite3.connect(":memory:")
    conn.execute('CREATE TABLE t (_seq INTEGER PRIMARY KEY, _id TEXT, "name" TEXT, "price" INTEGER, "tags" TEXT)')
    conn.executemany(
        'INSERT INTO t (_id, "name", "price", "tags") VALUES (?, ?, ?, ?)',
        [("a", "alpha", 1, '["x","y"]'), ("b", "beta", 2, '["y"]'), ("c", "gamma", 3, "[]")],
    )
    attrs = {k: v for k, v in ATTRS.items() if k in ("$id", "name", "price", "tags")}
    for queries, expected in [
        ([q("contains", "tags", ["x"])], ["a"]),
        ([q("notContains", "tags", ["x"])], ["b", "c"]),
        ([q("isNull", "tags")], ["c"]),
        ([q("startsWith", "name", ["be"])], ["b"]),
        ([q("endsWith", "name", ["ma"])], ["c"]),
        ([q("contains", "name", ["lph", "amm"])], ["a", "c"]),
        ([q("notEqual", "price", [2])], ["a", "c"]),
        ([q("between", "price", [2, 3])], ["b", "c"]),
    ]:
        compiled = compile_queries(parse(queries), attrs)
        rows = conn.execute(f"SELECT _id FROM t WHERE {compiled.where_sql()} ORDER BY _seq", compiled.params)
        assert [r[0] for r in rows] == expected, queries
