"""Transactions (staged writes that land together or not at all) and the legacy Databases API."""

from __future__ import annotations

import pytest
from appwrite.id import ID
from appwrite.query import Query
from appwrite.services.databases import Databases
from appwrite.services.tables_db import TablesDB

from tests.support.sdk import error_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def ledger(admin):
    tables = TablesDB(admin)
    database_id = ID.unique()
    tables.create(database_id, "Ledger")
    tables.create_table(
        database_id,
        "accounts",
        "Accounts",
        columns=[
            {"key": "owner", "type": "varchar", "size": 40, "required": True},
            {"key": "balance", "type": "integer", "required": True, "min": 0},
        ],
        indexes=[{"key": "owner_uq", "type": "unique", "columns": ["owner"]}],
    )
    tables.create_row(database_id, "accounts", "a", {"owner": "alice", "balance": 100})
    tables.create_row(database_id, "accounts", "b", {"owner": "bob", "balance": 0})
    yield tables, database_id
    tables.delete(database_id)


def balances(tables, database_id) -> dict[str, int]:
    return {r.id: r.data["balance"] for r in tables.list_rows(database_id, "accounts").rows}


def test_commit_applies_everything_at_once(ledger):
    tables, database_id = ledger
    tx = tables.create_transaction(ttl=120)
    assert tx.status == "pending" and tx.operations == 0
    tables.decrement_row_column(database_id, "accounts", "a", "balance", value=30, min=0, transaction_id=tx.id)
    tables.increment_row_column(database_id, "accounts", "b", "balance", value=30, transaction_id=tx.id)
    tables.create_row(database_id, "accounts", "c", {"owner": "carol", "balance": 5}, transaction_id=tx.id)
    assert balances(tables, database_id) == {"a": 100, "b": 0}  # staged, not visible
    staged = tables.list_rows(database_id, "accounts", transaction_id=tx.id)
    assert {r.id: r.data["balance"] for r in staged.rows} == {"a": 70, "b": 30, "c": 5}
    assert tables.get_transaction(tx.id).operations == 3
    done = tables.update_transaction(tx.id, commit=True)
    assert done.status == "committed"
    assert balances(tables, database_id) == {"a": 70, "b": 30, "c": 5}
    assert error_of(tables.update_transaction, tx.id, commit=True).type == "transaction_not_ready"


def test_failed_commit_writes_nothing(ledger):
    tables, database_id = ledger
    tx = tables.create_transaction()
    tables.create_operations(
        tx.id,
        [
            {
                "action": "update",
                "databaseId": database_id,
                "tableId": "accounts",
                "rowId": "a",
                "data": {"balance": 1},
            },
            {
                "action": "create",
                "databaseId": database_id,
                "tableId": "accounts",
                "rowId": "dup",
                "data": {"owner": "bob", "balance": 1},
            },  # violates the unique owner index
        ],
    )
    err = error_of(tables.update_transaction, tx.id, commit=True)
    assert (err.code, err.type) == (409, "document_unique_constraint_violation")
    assert tables.get_transaction(tx.id).status == "failed"
    assert balances(tables, database_id) == {"a": 100, "b": 0}


def test_rollback_and_conflict(ledger):
    tables, database_id = ledger
    tx = tables.create_transaction()
    tables.update_row(database_id, "accounts", "a", {"balance": 1}, transaction_id=tx.id)
    assert tables.update_transaction(tx.id, rollback=True).status == "failed"
    assert balances(tables, database_id)["a"] == 100

    tx = tables.create_transaction()
    tables.update_row(database_id, "accounts", "a", {"balance": 2}, transaction_id=tx.id)
    tables.update_row(database_id, "accounts", "a", {"balance": 3})  # someone else writes first
    err = error_of(tables.update_transaction, tx.id, commit=True)
    assert (err.code, err.type) == (409, "transaction_conflict")
    assert balances(tables, database_id)["a"] == 3
    assert error_of(tables.update_transaction, "nope", commit=True).type == "transaction_not_found"
    err = error_of(tables.update_transaction, tables.create_transaction().id, commit=True, rollback=True)
    assert err.type == "general_bad_request"


def test_legacy_databases_api_shares_storage(ledger, admin):
    tables, database_id = ledger
    legacy = Databases(admin)
    collection = legacy.get_collection(database_id, "accounts")
    assert collection.documentsecurity is False and [
        a["key"] if isinstance(a, dict) else a.key for a in collection.attributes
    ] == ["owner", "balance"]
    document = legacy.get_document(database_id, "accounts", "a")
    assert document.collectionid == "accounts" and document.data["balance"] == 100
    legacy.create_document(database_id, "accounts", "d", {"owner": "dave", "balance": 9})
    assert tables.get_row(database_id, "accounts", "d").data["owner"] == "dave"
    listed = legacy.list_documents(database_id, "accounts", queries=[Query.greater_than("balance", 5)])
    assert sorted(d.id for d in listed.documents) == ["a", "d"]
    err = error_of(legacy.get_document, database_id, "accounts", "missing")
    assert (err.code, err.type) == (404, "document_not_found")
    err = error_of(legacy.get_collection, database_id, "missing")
    assert err.type == "collection_not_found"
    legacy.create_integer_attribute(database_id, "accounts", "age", False)
    assert [c.key for c in tables.get_table(database_id, "accounts").columns][-1] == "age"
    assert (
        error_of(legacy.create_integer_attribute, database_id, "accounts", "age", False).type
        == "attribute_already_exists"
    )
