"""A supplier's price list into the catalogue: every product upserted by (supplier, key), what changed counted,
what disappeared marked discontinued (never deleted: prescriptions may name it), a price-history row for every new
or changed price, and the row-level report of what was refused.

Safe to repeat and to interrupt: the whole file is read and checked before anything is written (a malformed file
writes nothing); products have ids derived from (supplier, key) and a hash of their content, so the same list again
writes nothing, and a run killed half-way is finished by running it again (history rows have ids derived from
(product, import) and are written only for a price that differs from the stored one)."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from appwrite.query import Query

from rxcore.clock import iso
from rxcore.ids import derived_id
from rxcore.suppliers import normalise, reader
from rxcore.suppliers.mapping import Mapping
from rxcore.suppliers.normalise import Problem, Product
from rxcore.tables import BULK, TableStore

PRODUCTS = "supplier_products"
PRICES = "supplier_prices"
IMPORTS = "supplier_imports"
ERRORS = "supplier_import_errors"
WRITERS = 4
REPORTED = 2000  # problems kept per import (the counts are complete)
COMPARED = ("supplier_key", "status", "content_hash", "wholesale_price", "retail_price")


def product_id(supplier: str, key: str) -> str:
    return derived_id("supplier-product", supplier, key)


@dataclass
class Plan:
    """What importing a list would do."""

    rows: int = 0
    products: list[Product] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    discontinued: list[str] = field(default_factory=list)
    repriced: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        rejected = {(p.sheet, p.line) for p in self.problems if p.severity == "error"}
        return {
            "rows": self.rows, "added": len(self.added), "changed": len(self.changed),
            "unchanged": len(self.unchanged), "discontinued": len(self.discontinued), "rejected": len(rejected),
            "warnings": sum(p.severity == "warning" for p in self.problems), "repriced": len(self.repriced),
        }  # fmt: skip


def plan(tables: TableStore, mapping: Mapping, content: bytes, filename: str) -> Plan:
    """Read and check the whole list, and compare it with the catalogue. Raises reader.FileRefused."""
    out = Plan()
    raw_rows = reader.rows(reader.workbook(content, filename), mapping)
    out.rows = len(raw_rows)
    seen: dict[str, str] = {}
    for raw in raw_rows:
        found, problems = normalise.product(raw, mapping)
        out.problems += problems
        if found is None:
            continue
        if found.key in seen:
            message = f"the same product as {seen[found.key]} (same code, or brand, name, form and pack)"
            out.problems.append(Problem(raw.sheet, raw.line, raw.headers.get("product_name", "product_name"),
                                        found.row["product_name"], message))  # fmt: skip
            continue
        seen[found.key] = f"line {found.line}" if not found.line.startswith("column") else found.line
        out.products.append(found)
    stored = {r["supplier_key"]: r for r in _stored(tables, mapping.supplier)}
    for item in out.products:
        before = stored.pop(item.key, None)
        if before is None:
            out.added.append(item.key)
        elif before["content_hash"] != item.row["content_hash"] or before["status"] != "active":
            out.changed.append(item.key)
        else:
            out.unchanged.append(item.key)
        if before is None or (before["wholesale_price"], before["retail_price"]) != (
            item.row["wholesale_price"], item.row["retail_price"]):  # fmt: skip
            out.repriced.append(item.key)
    out.discontinued = [key for key, row in stored.items() if row["status"] == "active"]
    return out


def _stored(tables: TableStore, supplier: str) -> list[dict[str, Any]]:
    return list(tables.each(PRODUCTS, [Query.equal("supplier", supplier), Query.select(["$id", *COMPARED])]))


def apply(tables: TableStore, mapping: Mapping, chosen: Plan, import_id: str, now: Callable[[], datetime],
          progress: Callable[[str], None] = lambda _m: None) -> None:  # fmt: skip
    """Write what `plan` decided (products, history, discontinued) for `import_id`."""
    at = iso(now())
    writes = set(chosen.added) | set(chosen.changed)
    rows = []
    for item in chosen.products:
        if item.key not in writes:
            continue
        row = item.row | {
            "$id": product_id(mapping.supplier, item.key),
            "supplier": mapping.supplier,
            "supplier_key": item.key,
            "status": "active",
            "discontinued_at": None,
            "last_import_id": import_id,
            "updated_at": at,
            "price_per_mg_thc": _float(normalise.price_per_mg(item.row, "thc")),
            "price_per_mg_cbd": _float(normalise.price_per_mg(item.row, "cbd")),
            "retail_value": _float(item.row["retail_price"]),  # for price-range filters; the price itself is text
            "search": " ".join(filter(None, (item.row.get("brand"), item.row["product_name"],
                                             item.row.get("generic_name"), item.row.get("cultivar"))))[:500],
        }  # fmt: skip
        rows.append(row)
    _write(tables, PRODUCTS, rows)
    progress(f"{len(rows)} products written")
    repriced = set(chosen.repriced)
    history = [
        {
            "$id": derived_id("supplier-price", product_id(mapping.supplier, item.key), import_id),
            "product_id": product_id(mapping.supplier, item.key),
            "supplier": mapping.supplier,
            "wholesale_price": item.row["wholesale_price"],
            "retail_price": item.row["retail_price"],
            "wholesale_gst": item.row["wholesale_gst"],
            "retail_gst": item.row["retail_gst"],
            "effective_at": at,
            "import_id": import_id,
        }
        for item in chosen.products
        if item.key in repriced and (item.row["wholesale_price"] or item.row["retail_price"])
    ]
    _write(tables, PRICES, history)
    gone = [product_id(mapping.supplier, key) for key in chosen.discontinued]
    if gone:
        tables.update_where(
            PRODUCTS, gone, {"status": "discontinued", "discontinued_at": at, "last_import_id": import_id}
        )
    progress(f"{len(history)} prices recorded, {len(gone)} discontinued")


def _write(tables: TableStore, table: str, rows: list[dict[str, Any]]) -> None:
    """Upsert `rows` 100 per request, WRITERS requests at once (each is idempotent: ids are derived)."""
    chunks = [rows[start : start + BULK] for start in range(0, len(rows), BULK)]
    if len(chunks) <= 1:
        for chunk in chunks:
            tables.upsert_many(table, chunk)
        return
    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="supplier-write") as pool:
        list(pool.map(lambda chunk: tables.upsert_many(table, chunk), chunks))


def save_problems(tables: TableStore, import_id: str, problems: list[Problem]) -> None:
    rows = [
        {"$id": derived_id("supplier-import-error", import_id, n), "import_id": import_id, "sheet": p.sheet[:100],
         "line": p.line[:20], "column": p.column[:120], "value": p.value[:500], "message": p.message[:500],
         "severity": p.severity}
        for n, p in enumerate(problems[:REPORTED])
    ]  # fmt: skip
    _write(tables, ERRORS, rows)


def public_problem(problem: Problem) -> dict[str, str]:
    return {"sheet": problem.sheet, "line": problem.line, "column": problem.column, "value": problem.value,
            "message": problem.message, "severity": problem.severity}  # fmt: skip


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def import_row(mapping: Mapping, file_id: str, filename: str, digest: str, dry_run: bool, user_id: str,
               at: datetime) -> dict[str, Any]:  # fmt: skip
    return {
        "supplier": mapping.supplier, "file_id": file_id, "file_name": filename[:200], "file_sha256": digest,
        "dry_run": dry_run, "status": "running", "started_by": user_id, "started_at": iso(at), "finished_at": None,
        "counts": json.dumps({}),
    }  # fmt: skip
