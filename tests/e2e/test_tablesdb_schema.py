"""TablesDB schema through the official SDK: databases, tables, every column type, indexes, and their errors."""

from __future__ import annotations

import pytest
from appwrite.id import ID
from appwrite.permission import Permission
from appwrite.query import Query
from appwrite.role import Role
from appwrite.services.tables_db import TablesDB

from tests.support.sdk import error_of, val

pytestmark = pytest.mark.e2e


@pytest.fixture
def db(admin):
    tables = TablesDB(admin)
    database_id = ID.unique()
    tables.create(database_id, "Schema tests")
    yield tables, database_id
    tables.delete(database_id)


def test_database_crud_and_list_shape(admin):
    tables = TablesDB(admin)
    database_id = ID.unique()
    created = tables.create(database_id, "Clinic data")
    assert created.id == database_id and val(created.type) == "tablesdb" and created.enabled is True
    assert tables.get(database_id).name == "Clinic data"
    assert tables.update(database_id, "Renamed").name == "Renamed"
    listed = tables.list(queries=[Query.equal("$id", database_id)])
    assert listed.total == 1 and listed.databases[0].id == database_id
    assert error_of(tables.create, database_id, "Again").type == "database_already_exists"
    tables.delete(database_id)
    err = error_of(tables.get, database_id)
    assert (err.code, err.type) == (404, "database_not_found")


def test_every_column_type_with_options(db):
    tables, database_id = db
    tables.create_table(database_id, "all", "All types", row_security=True, permissions=[Permission.read(Role.any())])
    tables.create_varchar_column(database_id, "all", "title", 64, True)
    tables.create_string_column(database_id, "all", "legacy", 20, False, default="x")
    tables.create_text_column(database_id, "all", "body", False)
    tables.create_mediumtext_column(database_id, "all", "notes", False)
    tables.create_longtext_column(database_id, "all", "blob", False)
    tables.create_integer_column(database_id, "all", "count", False, min=0, max=100, default=5)
    tables.create_float_column(database_id, "all", "price", False, min=0.0, max=999.5)
    tables.create_boolean_column(database_id, "all", "live", False, default=False)
    tables.create_datetime_column(database_id, "all", "at", False)
    tables.create_email_column(database_id, "all", "email", False)
    tables.create_enum_column(database_id, "all", "state", ["draft", "live"], False, default="draft")
    tables.create_url_column(database_id, "all", "site", False)
    tables.create_ip_column(database_id, "all", "ip", False)
    tables.create_varchar_column(database_id, "all", "tags", 16, False, array=True)

    columns = tables.list_columns(database_id, "all")
    assert columns.total == 14
    by_key = {c["key"] if isinstance(c, dict) else c.key: c for c in columns.columns}
    assert set(by_key) == {
        "title",
        "legacy",
        "body",
        "notes",
        "blob",
        "count",
        "price",
        "live",
        "at",
        "email",
        "state",
        "site",
        "ip",
        "tags",
    }
    count = tables.get_column(database_id, "all", "count")
    assert (count.type, count.min, count.max, count.default, val(count.status)) == ("integer", 0, 100, 5, "available")
    price = tables.get_column(database_id, "all", "price")
    assert price.type == "double"
    email = tables.get_column(database_id, "all", "email")
    assert (email.type, email.format) == ("string", "email")
    state = tables.get_column(database_id, "all", "state")
    assert state.elements == ["draft", "live"] and state.default == "draft"
    tags = tables.get_column(database_id, "all", "tags")
    assert tags.array is True and tags.size == 16

    table = tables.get_table(database_id, "all")
    assert table.rowsecurity is True and len(table.columns) == 14
    assert table.permissions == ['read("any")']

    only_required = tables.list_columns(database_id, "all", queries=[Query.equal("required", True)])
    assert only_required.total == 1


def test_column_errors(db):
    tables, database_id = db
    tables.create_table(database_id, "t", "T")
    tables.create_varchar_column(database_id, "t", "name", 10, True)
    assert error_of(tables.create_varchar_column, database_id, "t", "name", 10, True).type == "column_already_exists"
    err = error_of(tables.create_varchar_column, database_id, "t", "other", 10, True, default="x")
    assert (err.code, err.type) == (400, "column_default_unsupported")
    err = error_of(tables.create_integer_column, database_id, "t", "n", False, min=10, max=1)
    assert err.type == "column_value_invalid"
    err = error_of(tables.create_varchar_column, database_id, "t", "_bad", 10, False)
    assert (err.code, err.type) == (400, "general_argument_invalid")
    assert error_of(tables.get_column, database_id, "t", "missing").type == "column_not_found"
    assert error_of(tables.get_table, database_id, "missing").type == "table_not_found"


def test_indexes_and_column_update_delete(db):
    tables, database_id = db
    tables.create_table(database_id, "ix", "Indexes")
    tables.create_varchar_column(database_id, "ix", "code", 20, True)
    tables.create_varchar_column(database_id, "ix", "name", 200, False)
    tables.create_integer_column(database_id, "ix", "rank", False)
    index = tables.create_index(database_id, "ix", "code_unique", "unique", ["code"], orders=["ASC"])
    assert val(index.status) in ("available", "processing") and index.columns == ["code"]
    tables.create_index(database_id, "ix", "name_ft", "fulltext", ["name"])
    tables.create_index(database_id, "ix", "rank_code", "key", ["rank", "code"], orders=["DESC", "ASC"])
    listed = tables.list_indexes(database_id, "ix")
    assert [i.key for i in listed.indexes] == ["code_unique", "name_ft", "rank_code"]
    assert tables.get_index(database_id, "ix", "rank_code").orders == ["DESC", "ASC"]
    assert error_of(tables.create_index, database_id, "ix", "bad", "key", ["nope"]).type == "column_unknown"
    assert (
        error_of(tables.create_index, database_id, "ix", "code_unique", "key", ["code"]).type
        == "column_index_already_exists"
    )
    err = error_of(tables.create_index, database_id, "ix", "ft_int", "fulltext", ["rank"])
    assert err.type == "column_index_invalid"

    updated = tables.update_varchar_column(database_id, "ix", "name", False, "unnamed", size=300)
    assert (updated.default, updated.size) == ("unnamed", 300)
    err = error_of(tables.update_integer_column, database_id, "ix", "rank", False, None, new_key="position")
    assert (err.code, err.type) == (409, "column_index_dependency")
    tables.delete_index(database_id, "ix", "rank_code")
    renamed = tables.update_integer_column(database_id, "ix", "rank", False, None, new_key="position")
    assert renamed.key == "position"

    tables.delete_index(database_id, "ix", "name_ft")
    assert error_of(tables.get_index, database_id, "ix", "name_ft").type == "column_index_not_found"
    tables.delete_column(database_id, "ix", "code")  # drops the unique index that used it
    remaining = [i.key for i in tables.list_indexes(database_id, "ix").indexes]
    assert remaining == []
    assert [c.key for c in tables.get_table(database_id, "ix").columns] == ["name", "position"]


def test_inline_columns_and_indexes_on_create(db):
    tables, database_id = db
    table = tables.create_table(
        database_id,
        "inline",
        "Inline",
        columns=[
            {"key": "code", "type": "varchar", "size": 18, "required": True},
            {"key": "email", "type": "string", "format": "email", "required": False},
            {"key": "score", "type": "double", "required": False},
        ],
        indexes=[{"key": "code_uq", "type": "unique", "columns": ["code"]}],
    )
    assert [c.key for c in table.columns] == ["code", "email", "score"]
    assert table.indexes[0].key == "code_uq"


def test_session_user_cannot_touch_schema(db, people):
    tables, database_id = db
    person = people.create()
    user_tables = TablesDB(people.session_client(person))
    err = error_of(user_tables.list_tables, database_id)
    assert (err.code, err.type) == (401, "general_unauthorized_scope")
    err = error_of(user_tables.create, ID.unique(), "Nope")
    assert (err.code, err.type) == (401, "general_unauthorized_scope")
