"""scripts/apply_schema.py applies appwrite.json through the SDK, idempotently, never dropping anything."""

from __future__ import annotations

import copy
import json

import pytest
from appwrite.id import ID
from appwrite.services.storage import Storage
from appwrite.services.tables_db import TablesDB
from appwrite.services.teams import Teams
from scripts import apply_schema

pytestmark = pytest.mark.e2e


def document(database_id: str, suffix: str) -> dict:
    return {
        "tablesDB": [{"$id": database_id, "name": "Applied", "enabled": True}],
        "tables": [
            {
                "$id": "patients",
                "databaseId": database_id,
                "name": "Patients",
                "enabled": True,
                "rowSecurity": True,
                "$permissions": ['create("users")'],
                "columns": [
                    {"key": "nhs_number", "type": "varchar", "size": 10, "required": True, "array": False},
                    {"key": "email", "type": "string", "format": "email", "required": False, "array": False},
                    {
                        "key": "sex",
                        "type": "string",
                        "format": "enum",
                        "elements": ["female", "male", "unknown"],
                        "required": False,
                        "array": False,
                        "default": "unknown",
                    },
                    {"key": "visits", "type": "integer", "required": False, "array": False, "min": 0, "default": 0},
                    {"key": "born", "type": "datetime", "required": False, "array": False},
                    {"key": "notes", "type": "text", "required": False, "array": False},
                ],
                "indexes": [{"key": "nhs_uq", "type": "unique", "columns": ["nhs_number"], "orders": ["ASC"]}],
            }
        ],
        "buckets": [
            {
                "$id": f"receipts{suffix}",
                "name": "Receipts",
                "enabled": True,
                "fileSecurity": True,
                "$permissions": [],
                "maximumFileSize": 5000000,
                "allowedFileExtensions": ["pdf"],
                "compression": "none",
                "encryption": False,
                "antivirus": False,
            }
        ],
        "teams": [{"$id": f"clinic{suffix}", "name": "Clinic"}],
    }


def run(tmp_path, server, doc: dict, capsys) -> tuple[int, str]:
    path = tmp_path / "appwrite.json"
    path.write_text(json.dumps(doc))
    code = apply_schema.main(["--file", str(path), "--credentials", str(server.data_dir / "credentials.json")])
    return code, capsys.readouterr().out


def test_apply_twice_then_change(tmp_path, server, admin, capsys):
    database_id = ID.unique()
    suffix = database_id[-8:]
    doc = document(database_id, suffix)
    code, out = run(tmp_path, server, doc, capsys)
    assert code == 0 and "created   column" in out and "created   index" in out
    tables = TablesDB(admin)
    table = tables.get_table(database_id, "patients")
    assert [c.key for c in table.columns] == ["nhs_number", "email", "sex", "visits", "born", "notes"]
    assert table.rowsecurity is True and table.indexes[0].key == "nhs_uq"
    assert Storage(admin).get_bucket(f"receipts{suffix}").allowedfileextensions == ["pdf"]
    assert Teams(admin).get(f"clinic{suffix}").name == "Clinic"

    code, out = run(tmp_path, server, doc, capsys)
    assert code == 0 and out.strip().endswith("0 change(s), 0 difference(s) not applied")

    changed = copy.deepcopy(doc)
    columns = changed["tables"][0]["columns"]
    columns[3]["default"] = 1  # updatable in place
    columns[0]["type"] = "integer"  # a type change cannot be applied
    columns[0].pop("size")
    code, out = run(tmp_path, server, changed, capsys)
    assert code == 1
    assert "updated   column" in out and "visits" in out
    assert "DIFFERS   column" in out and "nhs_number" in out and "nothing dropped" in out
    assert tables.get_column(database_id, "patients", "visits").default == 1
    assert tables.get_column(database_id, "patients", "nhs_number").type == "varchar"  # untouched

    fewer = copy.deepcopy(doc)
    fewer["tables"][0]["columns"].pop()  # "notes" no longer declared
    code, out = run(tmp_path, server, fewer, capsys)
    assert "extra     column" in out and "notes" in out
    assert "notes" in [c.key for c in tables.get_table(database_id, "patients").columns]  # kept
    tables.delete(database_id)
