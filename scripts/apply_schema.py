"""Apply appwrite.json (databases, tables with columns and indexes, buckets, teams) through the official SDK.

Idempotent: what exists and matches is left alone, what is missing is created, what differs is updated where
Appwrite allows it and reported otherwise; nothing is ever dropped. The same script sets up a real
self-hosted Appwrite and the local server:

    python scripts/apply_schema.py --endpoint https://appwrite.example/v1 --project rx --key $APPWRITE_KEY
    python scripts/apply_schema.py --credentials .appwrite-local/credentials.json

Exit status: 0 when the server matches the file afterwards, 1 when a difference could not be applied
(for example a column whose type changed), 2 on a usage error. Functions are deployed with the Appwrite CLI
(`appwrite push functions`), not by this script; the local server registers them from the same file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.services.storage import Storage
from appwrite.services.tables_db import TablesDB
from appwrite.services.teams import Teams

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from scripts import connection  # noqa: E402

COLUMN_FIELDS = ("type", "format", "size", "required", "array", "default", "min", "max", "elements")
UPDATABLE = {"required", "default", "size", "min", "max", "elements"}


class Report:
    def __init__(self, verbose: bool = True) -> None:
        self.lines: list[str] = []
        self.problems = 0
        self.changes = 0
        self.verbose = verbose

    def say(self, kind: str, what: str) -> None:
        if kind in ("created", "updated"):
            self.changes += 1
        if kind == "DIFFERS":
            self.problems += 1
        self.lines.append(f"{kind:9s} {what}")
        if self.verbose or kind == "DIFFERS":  # a difference not applied is always shown
            print(f"{kind:9s} {what}", flush=True)


def _missing(call, *args, **kwargs) -> Any | None:
    """The resource, or None when the server answers 404."""
    try:
        return call(*args, **kwargs)
    except AppwriteException as exc:
        if exc.code == 404:
            return None
        raise


def _plain(model: Any) -> dict[str, Any]:
    data = model if isinstance(model, dict) else model.to_dict()
    return {k: (v.value if hasattr(v, "value") else v) for k, v in data.items()}


def normalise_column(column: dict[str, Any]) -> dict[str, Any]:
    """The comparable definition of a column, in the API's type/format vocabulary."""
    ctype, fmt = column.get("type"), column.get("format") or ""
    if ctype in ("email", "url", "ip", "enum"):
        ctype, fmt = "string", ctype
    if ctype == "float":
        ctype = "double"
    out = {
        "type": ctype,
        "format": fmt if ctype == "string" else "",
        "required": bool(column.get("required", False)),
        "array": bool(column.get("array", False)),
        "default": column.get("default"),
    }
    if ctype in ("varchar", "string") and fmt == "":
        out["size"] = column.get("size")
    if fmt == "enum":
        out["elements"] = list(column.get("elements") or [])
    if ctype in ("integer", "bigint", "double"):
        for bound in ("min", "max"):
            if column.get(bound) is not None:
                out[bound] = column[bound]
    return out


def differences(wanted: dict[str, Any], actual: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    want, have = normalise_column(wanted), normalise_column(actual)
    diff = {}
    for key, value in want.items():
        if key in ("min", "max") and key not in wanted:
            continue
        if have.get(key) != value:
            diff[key] = (have.get(key), value)
    return diff


def create_column(tables: TablesDB, db: str, table: str, column: dict[str, Any]) -> None:
    n = normalise_column(column)
    key, required, array, default = column["key"], n["required"], n["array"], n["default"]
    common = {"database_id": db, "table_id": table, "key": key, "required": required, "array": array}
    if not required and not array:
        common["default"] = default
    ctype, fmt = n["type"], n["format"]
    if fmt == "email":
        tables.create_email_column(**common)
    elif fmt == "url":
        tables.create_url_column(**common)
    elif fmt == "ip":
        tables.create_ip_column(**common)
    elif fmt == "enum":
        tables.create_enum_column(elements=n["elements"], **common)
    elif ctype == "string":  # what the Appwrite CLI (12) writes and pushes: a string with a size
        # SDK 27 marks create_string_column deprecated (for 1.9's text types, which the CLI cannot push yet:
        # docs/deploy.md) and its warning cannot be silenced, so this one call goes through the transport.
        params = {k: v for k, v in common.items() if k not in ("database_id", "table_id")}
        params |= {"size": n.get("size") or 255, "encrypt": bool(column.get("encrypt"))}
        headers = {"content-type": "application/json", "X-Appwrite-Project": tables.client.get_config("project")}
        tables.client.call("post", f"/tablesdb/{db}/tables/{table}/columns/string", headers, params)
    elif ctype == "varchar":
        tables.create_varchar_column(size=n.get("size") or 255, **common)
    elif ctype in ("text", "mediumtext", "longtext"):
        getattr(tables, f"create_{ctype}_column")(**common)
    elif ctype in ("integer", "bigint"):
        tables.create_integer_column(min=column.get("min"), max=column.get("max"), **common)
    elif ctype == "double":
        tables.create_float_column(min=column.get("min"), max=column.get("max"), **common)
    elif ctype == "boolean":
        tables.create_boolean_column(**common)
    elif ctype == "datetime":
        tables.create_datetime_column(**common)
    else:
        raise ValueError(f"column {key}: type {ctype!r} is not supported by this script")


def update_column(tables: TablesDB, db: str, table: str, column: dict[str, Any]) -> None:
    n = normalise_column(column)
    args = {
        "database_id": db,
        "table_id": table,
        "key": column["key"],
        "required": n["required"],
        "default": None if n["required"] or n["array"] else n["default"],
    }
    fmt, ctype = n["format"], n["type"]
    if fmt == "enum":
        tables.update_enum_column(elements=n["elements"], **args)
    elif fmt in ("email", "url", "ip"):
        getattr(tables, f"update_{fmt}_column")(**args)
    elif ctype in ("varchar", "string"):
        tables.update_varchar_column(size=n.get("size"), **args)
    elif ctype in ("integer", "bigint"):
        tables.update_integer_column(min=column.get("min"), max=column.get("max"), **args)
    elif ctype == "double":
        tables.update_float_column(min=column.get("min"), max=column.get("max"), **args)
    else:
        getattr(tables, f"update_{ctype}_column")(**args)


def raw_list(client: Client, path: str, plural: str) -> list[dict[str, Any]]:
    """A list as the server sent it. The SDK's column models are a Union that pydantic may resolve to the
    wrong class (a varchar parsed as a boolean column loses `size`), so compare against the raw JSON."""
    headers = {"content-type": "application/json", "X-Appwrite-Project": client.get_config("project")}
    return client.call("get", path, headers, {"queries": ['{"method":"limit","values":[5000]}']})[plural]


def wait_available(client: Client, db: str, table: str, keys: list[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        statuses = {
            c["key"]: c.get("status") for c in raw_list(client, f"/tablesdb/{db}/tables/{table}/columns", "columns")
        }
        if all(statuses.get(k) == "available" for k in keys):
            return
        time.sleep(0.5)
    raise TimeoutError(f"columns of {db}/{table} not available after {seconds}s")


def apply(client: Client, document: dict[str, Any], report: Report) -> None:
    tables = TablesDB(client)
    for database in document.get("tablesDB", []) + document.get("databases", []):
        found = _missing(tables.get, database["$id"])
        if found is None:
            tables.create(database["$id"], database["name"], enabled=database.get("enabled", True))
            report.say("created", f"database {database['$id']}")
        elif found.name != database["name"] or found.enabled != database.get("enabled", True):
            tables.update(database["$id"], database["name"], enabled=database.get("enabled", True))
            report.say("updated", f"database {database['$id']}")
        else:
            report.say("unchanged", f"database {database['$id']}")

    for table in document.get("tables", []):
        apply_table(tables, table, report)

    storage = Storage(client)
    for bucket in document.get("buckets", []):
        settings = {
            "permissions": bucket.get("$permissions", []),
            "file_security": bucket.get("fileSecurity", False),
            "enabled": bucket.get("enabled", True),
            "maximum_file_size": bucket.get("maximumFileSize"),
            "allowed_file_extensions": bucket.get("allowedFileExtensions", []),
            "compression": bucket.get("compression", "none"),
            "encryption": bucket.get("encryption", True),
            "antivirus": bucket.get("antivirus", True),
        }
        found = _missing(storage.get_bucket, bucket["$id"])
        if found is None:
            storage.create_bucket(bucket["$id"], bucket["name"], **settings)
            report.say("created", f"bucket {bucket['$id']}")
            continue
        have = _plain(found)
        wanted = {
            "name": bucket["name"],
            "$permissions": sorted(settings["permissions"]),
            "fileSecurity": settings["file_security"],
            "enabled": settings["enabled"],
            "allowedFileExtensions": settings["allowed_file_extensions"],
        }
        if settings["maximum_file_size"] is not None:
            wanted["maximumFileSize"] = settings["maximum_file_size"]
        actual = {k: (sorted(have.get(k) or []) if k == "$permissions" else have.get(k)) for k in wanted}
        if actual != wanted:
            storage.update_bucket(bucket["$id"], bucket["name"], **settings)
            report.say("updated", f"bucket {bucket['$id']}")
        else:
            report.say("unchanged", f"bucket {bucket['$id']}")

    teams = Teams(client)
    for team in document.get("teams", []):
        if _missing(teams.get, team["$id"]) is None:
            teams.create(team["$id"], team["name"])
            report.say("created", f"team {team['$id']}")
        else:
            report.say("unchanged", f"team {team['$id']}")


def apply_table(tables: TablesDB, table: dict[str, Any], report: Report) -> None:
    db, tid = table["databaseId"], table["$id"]
    name = f"table {db}/{tid}"
    permissions = table.get("$permissions", [])
    row_security = table.get("rowSecurity", table.get("documentSecurity", False))
    settings = {"permissions": permissions, "row_security": row_security, "enabled": table.get("enabled", True)}
    found = _missing(tables.get_table, db, tid)
    if found is None:
        tables.create_table(db, tid, table["name"], **settings)
        report.say("created", name)
        existing: dict[str, dict[str, Any]] = {}
        existing_indexes: dict[str, dict[str, Any]] = {}
    else:
        have = _plain(found)
        current = (have["name"], sorted(have["$permissions"]), have["rowSecurity"], have["enabled"])
        if current != (table["name"], sorted(permissions), row_security, settings["enabled"]):
            tables.update_table(db, tid, table["name"], **settings)
            report.say("updated", name)
        else:
            report.say("unchanged", name)
        existing = {c["key"]: c for c in raw_list(tables.client, f"/tablesdb/{db}/tables/{tid}/columns", "columns")}
        existing_indexes = {
            i["key"]: i for i in raw_list(tables.client, f"/tablesdb/{db}/tables/{tid}/indexes", "indexes")
        }

    created = []
    for column in table.get("columns", table.get("attributes", [])):
        key = column["key"]
        if key not in existing:
            create_column(tables, db, tid, column)
            created.append(key)
            report.say("created", f"column {db}/{tid}.{key}")
            continue
        diff = differences(column, existing[key])
        if not diff:
            continue
        if set(diff) <= UPDATABLE:
            update_column(tables, db, tid, column)
            report.say(
                "updated", f"column {db}/{tid}.{key}: " + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items())
            )
        else:
            report.say(
                "DIFFERS",
                f"column {db}/{tid}.{key} cannot be changed in place ("
                + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items())
                + "); left as it is, nothing dropped",
            )
    declared = {c["key"] for c in table.get("columns", table.get("attributes", []))}
    for key in sorted(set(existing) - declared):
        report.say("extra", f"column {db}/{tid}.{key} is on the server but not in the file; kept")
    if created:
        wait_available(tables.client, db, tid, created)

    for index in table.get("indexes", []):
        columns = index.get("columns", index.get("attributes", []))
        orders = [o.upper() for o in index.get("orders") or []]
        have = existing_indexes.get(index["key"])
        if have is None:
            tables.create_index(db, tid, index["key"], index["type"], columns, orders=orders or None)
            report.say("created", f"index {db}/{tid}.{index['key']}")
        elif (have["type"], have.get("columns") or have.get("attributes")) != (index["type"], columns):
            report.say(
                "DIFFERS",
                f"index {db}/{tid}.{index['key']} is {have['type']} on "
                f"{have.get('columns')} on the server; the file wants {index['type']} on {columns}. "
                "Delete it to recreate; left as it is",
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=REPO / "appwrite.json")
    parser.add_argument("--summary", action="store_true", help="print the totals only (and any difference)")
    connection.add_arguments(parser)
    args = parser.parse_args(argv)
    client = connection.client_from(args, parser)
    report = Report(verbose=not args.summary)
    apply(client, json.loads(args.file.read_text()), report)
    print(f"{report.changes} change(s), {report.problems} difference(s) not applied", flush=True)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
