"""Rows through the official SDK: writes, the query language, bulk operations, counters and their errors."""

from __future__ import annotations

import pytest
from appwrite.id import ID
from appwrite.query import Query
from appwrite.services.tables_db import TablesDB

from tests.support.sdk import error_of

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def catalogue(admin):
    """A medicines-like table with one column of every scalar type, indexes and 30 rows."""
    tables = TablesDB(admin)
    database_id = ID.unique()
    tables.create(database_id, "Rows tests")
    tables.create_table(
        database_id,
        "meds",
        "Medicines",
        columns=[
            {"key": "code", "type": "varchar", "size": 20, "required": True},
            {"key": "name", "type": "varchar", "size": 200, "required": True},
            {"key": "form", "type": "varchar", "size": 40, "required": False},
            {"key": "price", "type": "integer", "required": False, "min": 0},
            {"key": "weight", "type": "double", "required": False},
            {"key": "live", "type": "boolean", "required": False, "default": True},
            {"key": "since", "type": "datetime", "required": False},
            {"key": "tags", "type": "varchar", "size": 20, "required": False, "array": True},
            {"key": "category", "type": "string", "format": "enum", "elements": ["GSL", "P", "POM"], "required": False},
        ],
        indexes=[
            {"key": "code_uq", "type": "unique", "columns": ["code"]},
            {"key": "name_ft", "type": "fulltext", "columns": ["name"]},
            {"key": "form_ix", "type": "key", "columns": ["form"]},
        ],
    )
    forms = ["tablet", "capsule", "liquid"]
    rows = [
        {
            "$id": f"m{i:02d}",
            "code": f"{1000 + i}",
            "name": f"Medicine {i} {'paracetamol' if i % 5 == 0 else 'ibuprofen'}",
            "form": forms[i % 3],
            "price": i * 10,
            "weight": i / 4,
            "live": i % 2 == 0,
            "since": f"2026-01-{(i % 28) + 1:02d}T10:00:00.000+00:00",
            "tags": ["a", f"t{i % 4}"],
            "category": ["GSL", "P", "POM"][i % 3],
        }
        for i in range(30)
    ]
    created = tables.create_rows(database_id, "meds", rows)
    assert created.total == 30
    yield tables, database_id
    tables.delete(database_id)


def ids(result) -> list[str]:
    return [row.id for row in result.rows]


def test_row_shape_and_types(catalogue):
    tables, database_id = catalogue
    row = tables.get_row(database_id, "meds", "m03")
    data = row.data
    assert (row.id, row.tableid, row.databaseid) == ("m03", "meds", database_id)
    assert isinstance(row.sequence, str) and int(row.sequence) >= 1
    assert data["price"] == 30 and data["weight"] == 0.75 and data["live"] is False
    assert data["tags"] == ["a", "t3"] and data["since"] == "2026-01-04T10:00:00.000+00:00"
    selected = tables.get_row(database_id, "meds", "m03", queries=[Query.select(["code"])])
    assert "code" in selected.data and "name" not in selected.data and selected.id == "m03"


@pytest.mark.parametrize(
    "queries,expected",
    [
        ([Query.equal("form", "liquid"), Query.limit(3)], ["m02", "m05", "m08"]),
        ([Query.equal("code", ["1001", "1004"])], ["m01", "m04"]),
        ([Query.not_equal("form", "tablet"), Query.less_than("price", 40)], ["m01", "m02"]),
        ([Query.greater_than_equal("price", 270)], ["m27", "m28", "m29"]),
        ([Query.less_than_equal("weight", 0.5)], ["m00", "m01", "m02"]),
        ([Query.between("price", 100, 120)], ["m10", "m11", "m12"]),
        ([Query.starts_with("code", "102")], [f"m2{i}" for i in range(10)]),
        ([Query.ends_with("code", "7")], ["m07", "m17", "m27"]),
        ([Query.contains("name", "paracetamol"), Query.less_than("price", 100)], ["m00", "m05"]),
        ([Query.contains("tags", ["t1"]), Query.less_than("price", 100)], ["m01", "m05", "m09"]),
        ([Query.search("name", "paracetamol"), Query.greater_than("price", 200)], ["m25"]),
        ([Query.equal("live", True), Query.less_than("price", 50)], ["m00", "m02", "m04"]),
        ([Query.or_queries([Query.equal("code", "1001"), Query.equal("code", "1029")])], ["m01", "m29"]),
        ([Query.and_queries([Query.equal("form", "tablet"), Query.greater_than("price", 250)])], ["m27"]),
        ([Query.equal("category", "POM"), Query.greater_than("price", 250)], ["m26", "m29"]),
        ([Query.greater_than("since", "2026-01-27T00:00:00Z")], ["m26", "m27"]),
        ([Query.order_desc("price"), Query.limit(2)], ["m29", "m28"]),
        ([Query.order_asc("form"), Query.order_desc("price"), Query.limit(2)], ["m28", "m25"]),
        ([Query.limit(2), Query.offset(10)], ["m10", "m11"]),
        ([Query.cursor_after("m05"), Query.limit(2)], ["m06", "m07"]),
        ([Query.cursor_before("m05"), Query.limit(2)], ["m03", "m04"]),
        ([Query.order_desc("price"), Query.cursor_after("m05"), Query.limit(2)], ["m04", "m03"]),
        ([Query.is_null("form"), Query.limit(1)], []),
        ([Query.is_not_null("form"), Query.limit(1)], ["m00"]),
        ([Query.equal("$id", "m07")], ["m07"]),
    ],
)
def test_query_language(catalogue, queries, expected):
    tables, database_id = catalogue
    assert ids(tables.list_rows(database_id, "meds", queries=queries)) == expected


def test_created_before_after_and_totals(catalogue):
    tables, database_id = catalogue
    first = tables.get_row(database_id, "meds", "m00")
    after = tables.list_rows(database_id, "meds", queries=[Query.created_after("2000-01-01T00:00:00Z")])
    assert after.total == 30 and len(after.rows) == 25  # default page size
    assert tables.list_rows(database_id, "meds", queries=[Query.created_before(first.createdat)]).total == 0
    no_total = tables.list_rows(database_id, "meds", queries=[Query.limit(5)], total=False)
    assert no_total.total == 0 and len(no_total.rows) == 5
    assert ids(tables.list_rows(database_id, "meds", queries=[Query.select(["code"]), Query.limit(1)])) == ["m00"]


@pytest.mark.parametrize(
    "query,message",
    [
        (Query.equal("nope", "x"), "Attribute not found in schema: nope"),
        (Query.equal("price", "ten"), 'Query value is invalid for attribute "price"'),
        (Query.search("form", "tab"), 'Searching by attribute "form" requires a fulltext index.'),
        (Query.equal("tags", "a"), 'Cannot query equal on attribute "tags" because it is an array.'),
        ('{"method":"equal",', "Syntax error"),
        ('{"method":"count","attribute":"price"}', "Invalid query method: count"),
    ],
)
def test_invalid_queries(catalogue, query, message):
    tables, database_id = catalogue
    err = error_of(tables.list_rows, database_id, "meds", queries=[query])
    assert (err.code, err.type) == (400, "general_query_invalid")
    assert message in err.message


def test_cursor_not_found(catalogue):
    tables, database_id = catalogue
    err = error_of(tables.list_rows, database_id, "meds", queries=[Query.cursor_after("ghost")])
    assert (err.code, err.type) == (400, "general_cursor_not_found")


@pytest.fixture
def scratch(admin):
    tables = TablesDB(admin)
    database_id = ID.unique()
    tables.create(database_id, "Scratch")
    tables.create_table(
        database_id,
        "items",
        "Items",
        columns=[
            {"key": "sku", "type": "varchar", "size": 10, "required": True},
            {"key": "qty", "type": "integer", "required": False, "min": 0, "max": 50, "default": 0},
            {"key": "note", "type": "text", "required": False},
        ],
        indexes=[{"key": "sku_uq", "type": "unique", "columns": ["sku"]}],
    )
    yield tables, database_id
    tables.delete(database_id)


def test_create_update_upsert_delete(scratch):
    tables, database_id = scratch
    row = tables.create_row(database_id, "items", "r1", {"sku": "A1"})
    assert row.data["qty"] == 0 and row.data["note"] is None and row.permissions == []
    updated = tables.update_row(database_id, "items", "r1", {"note": "hello"})
    assert updated.data["note"] == "hello" and updated.data["sku"] == "A1"
    assert updated.updatedat >= row.updatedat
    upserted = tables.upsert_row(database_id, "items", "r2", {"sku": "B2", "qty": 3})
    assert upserted.data["qty"] == 3
    again = tables.upsert_row(database_id, "items", "r2", {"sku": "B2", "qty": 4})
    assert again.data["qty"] == 4 and again.sequence == upserted.sequence
    generated = tables.create_row(database_id, "items", "unique()", {"sku": "C3"})
    assert len(generated.id) == 20
    tables.delete_row(database_id, "items", "r1")
    assert error_of(tables.get_row, database_id, "items", "r1").type == "row_not_found"
    assert error_of(tables.delete_row, database_id, "items", "r1").type == "row_not_found"


@pytest.mark.parametrize(
    "data,expected_type,fragment",
    [
        ({"qty": 1}, "row_invalid_structure", 'Missing required attribute "sku"'),
        ({"sku": "A", "extra": 1}, "row_invalid_structure", 'Unknown attribute: "extra"'),
        ({"sku": "A", "qty": "1"}, "row_invalid_structure", 'Attribute "qty" has invalid type'),
        ({"sku": "A", "qty": 51}, "row_invalid_structure", 'Attribute "qty" has invalid type'),
        ({"sku": "TOO-LONG-SKU"}, "row_invalid_structure", 'Attribute "sku" has invalid type'),
    ],
)
def test_structure_errors_write_nothing(scratch, data, expected_type, fragment):
    tables, database_id = scratch
    err = error_of(tables.create_row, database_id, "items", "bad", data)
    assert (err.code, err.type) == (400, expected_type) and fragment in err.message
    assert tables.list_rows(database_id, "items").total == 0


def test_duplicates(scratch):
    tables, database_id = scratch
    tables.create_row(database_id, "items", "r1", {"sku": "A1"})
    err = error_of(tables.create_row, database_id, "items", "r1", {"sku": "Z9"})
    assert (err.code, err.type) == (409, "row_already_exists")
    err = error_of(tables.create_row, database_id, "items", "r2", {"sku": "A1"})
    assert (err.code, err.type) == (409, "row_unique_constraint_violation")
    err = error_of(tables.create_row, database_id, "items", "-bad-id", {"sku": "Q"})
    assert (err.code, err.type) == (400, "general_argument_invalid")


def test_bulk_operations(scratch, people):
    tables, database_id = scratch
    created = tables.create_rows(database_id, "items", [{"$id": f"b{i}", "sku": f"S{i}"} for i in range(100)])
    assert created.total == 100 and created.rows[0].id == "b0"
    err = error_of(tables.create_rows, database_id, "items", [{"sku": f"X{i}"} for i in range(101)])
    assert (err.code, err.type) == (400, "general_argument_invalid")
    err = error_of(tables.create_rows, database_id, "items", [{"$id": "n1", "sku": "N1"}, {"$id": "n2", "sku": "S5"}])
    assert err.type == "row_unique_constraint_violation"
    assert tables.list_rows(database_id, "items", queries=[Query.equal("$id", "n1")]).total == 0  # nothing half-written

    upserted = tables.upsert_rows(
        database_id, "items", [{"$id": "b1", "sku": "S1", "qty": 7}, {"$id": "new", "sku": "NEW"}]
    )
    assert upserted.total == 2 and upserted.rows[0].data["qty"] == 7 and upserted.rows[1].data["qty"] == 0
    # An existing row keeps what the request leaves out; a new row must still carry its required columns, and
    # a refused row (its column missing, or of the wrong type) refuses the whole request.
    kept = tables.upsert_rows(database_id, "items", [{"$id": "b2", "note": "kept"}]).rows[0]
    assert (kept.data["sku"], kept.data["qty"], kept.data["note"]) == ("S2", 0, "kept")
    err = error_of(tables.upsert_rows, database_id, "items", [{"$id": "b3", "qty": 1}, {"$id": "nosku", "qty": 2}])
    assert (err.code, err.type) == (400, "row_invalid_structure") and "sku" in err.message
    err = error_of(tables.upsert_rows, database_id, "items", [{"$id": "b3", "qty": 1}, {"$id": "b4", "qty": "x"}])
    assert (err.code, err.type) == (400, "row_invalid_structure")
    assert tables.get_row(database_id, "items", "b3").data["qty"] == 0
    assert tables.list_rows(database_id, "items", queries=[Query.equal("$id", "nosku")]).total == 0
    changed = tables.update_rows(database_id, "items", {"note": "bulk"}, queries=[Query.less_than("qty", 1)])
    assert changed.total == 100 and all(r.data["note"] == "bulk" for r in changed.rows)
    deleted = tables.delete_rows(database_id, "items", queries=[Query.starts_with("sku", "S")])
    assert deleted.total == 100
    assert ids(tables.list_rows(database_id, "items")) == ["new"]

    user_tables = TablesDB(people.session_client(people.create()))
    err = error_of(user_tables.create_rows, database_id, "items", [{"sku": "U1"}])
    assert (err.code, err.type) == (401, "general_unauthorized_scope")


def test_increment_and_decrement(scratch):
    tables, database_id = scratch
    tables.create_row(database_id, "items", "c", {"sku": "CNT", "qty": 5})
    assert tables.increment_row_column(database_id, "items", "c", "qty").data["qty"] == 6
    assert tables.increment_row_column(database_id, "items", "c", "qty", value=4, max=10).data["qty"] == 10
    err = error_of(tables.increment_row_column, database_id, "items", "c", "qty", value=1, max=10)
    assert (err.code, err.type) == (400, "column_limit_exceeded")
    assert tables.decrement_row_column(database_id, "items", "c", "qty", value=3, min=0).data["qty"] == 7
    err = error_of(tables.decrement_row_column, database_id, "items", "c", "qty", value=8, min=0)
    assert err.type == "column_limit_exceeded"
    assert error_of(tables.increment_row_column, database_id, "items", "c", "sku").type == "column_type_invalid"
    assert tables.get_row(database_id, "items", "c").data["qty"] == 7
