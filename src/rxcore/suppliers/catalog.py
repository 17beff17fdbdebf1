"""A supplier's price list into the catalogue: every product upserted by (supplier, key), what changed counted,
what disappeared marked discontinued (never deleted: prescriptions may name it), a price-history row for every
superseded price, and the row-level report of what was refused.

The current price lives on the product (`price_since`, `price_import_id`); `supplier_prices` keeps the prices it
replaced, so a first import writes products only and a re-import writes history only for prices that changed.

Safe to repeat and to interrupt: the whole file is read and its layout checked before anything is written (a file
refused whole writes nothing); rows are then checked and the accepted ones written while the rest of the list is
still being checked (a rejected row is reported, never written). Products have ids derived from (supplier, key) and
a hash of their content, so the same list again writes nothing; a superseded price is written before the product
that replaces it, with an id derived from (product, the import that set it), so a run killed half-way is finished by
running it again."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from appwrite.query import Query

from rxcore.clock import iso
from rxcore.ids import derived_id
from rxcore.suppliers import normalise, reader
from rxcore.suppliers.mapping import Mapping
from rxcore.suppliers.normalise import Problem, Product
from rxcore.suppliers.reader import RawRow
from rxcore.tables import BULK, TableStore

PRODUCTS = "supplier_products"
PRICES = "supplier_prices"
IMPORTS = "supplier_imports"
ERRORS = "supplier_import_errors"
WRITERS = 4
REPORTED = 2000  # problems kept per import (the counts are complete)
PRICE_FIELDS = ("wholesale_price", "retail_price", "wholesale_gst", "retail_gst")
COMPARED = ("supplier_key", "status", "content_hash", *PRICE_FIELDS, "price_since", "price_import_id", "updated_at",
            "last_import_id")  # fmt: skip


def product_id(supplier: str, key: str) -> str:
    return derived_id("supplier-product", supplier, key)


@dataclass
class Plan:
    """What importing a list would do (or did)."""

    rows: int = 0
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


def read(mapping: Mapping, content: bytes, filename: str) -> list[RawRow]:
    """The list's rows under their mapped columns. Raises reader.FileRefused for a file refused whole."""
    return reader.rows(reader.workbook(content, filename), mapping)


class Writer:
    """Writes products (after the prices they supersede) 100 to a request, WRITERS requests at once, while the
    caller goes on checking the list: the function's checking and the server's writing use both cores."""

    def __init__(self, tables: TableStore, mapping: Mapping, import_id: str, at: datetime):
        self.tables, self.supplier, self.import_id, self.at = tables, mapping.supplier, import_id, iso(at)
        self.products: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.written = {"products": 0, "prices": 0}
        self._pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="supplier-write")
        self._pending: list[Future] = []

    def add(self, item: Product, before: dict[str, Any] | None, repriced: bool) -> None:
        pid = product_id(self.supplier, item.key)
        old = _superseded(pid, self.supplier, before, self.at) if repriced else None
        if old is not None:
            self.history.append(old)
        self.products.append(self._row(pid, item, before, repriced))
        if len(self.products) >= BULK:
            self._send()

    def _row(self, pid: str, item: Product, before: dict[str, Any] | None, repriced: bool) -> dict[str, Any]:
        since, since_import = (self.at, self.import_id) if repriced or before is None else _price_origin(before)
        return item.row | {
            "$id": pid,
            "supplier": self.supplier,
            "supplier_key": item.key,
            "status": "active",
            "discontinued_at": None,
            "last_import_id": self.import_id,
            "updated_at": self.at,
            "price_since": since,
            "price_import_id": since_import,
            "price_per_mg_thc": _float(normalise.price_per_mg(item.row, "thc")),
            "price_per_mg_cbd": _float(normalise.price_per_mg(item.row, "cbd")),
            "retail_value": _float(item.row["retail_price"]),  # for price-range filters; the price itself is text
            "search": " ".join(filter(None, (item.row.get("brand"), item.row["product_name"],
                                             item.row.get("generic_name"), item.row.get("cultivar"))))[:500],
        }  # fmt: skip

    def _send(self) -> None:
        products, history = self.products, self.history
        self.products, self.history = [], []
        self.written["products"] += len(products)
        self.written["prices"] += len(history)
        self._pending.append(self._pool.submit(self._upsert, products, history))
        for done in [f for f in self._pending if f.done()]:
            self._pending.remove(done)
            done.result()  # a failed write stops the import now, not after the whole list

    def _upsert(self, products: list[dict[str, Any]], history: list[dict[str, Any]]) -> None:
        if history:  # first: a run killed between the two still knows the old price on its next try
            self.tables.upsert_many(PRICES, history)
        self.tables.upsert_many(PRODUCTS, products)

    def finish(self) -> dict[str, int]:
        """Write what is left and wait for every write; raises the first write's error."""
        if self.products:
            self._send()
        for pending in self._pending:
            pending.result()
        return self.written

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Writes not started when the import fails are dropped (the next run writes them); started ones end."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def plan(tables: TableStore, mapping: Mapping, raw_rows: list[RawRow], writer: Writer | None = None) -> Plan:
    """Check every row and compare it with the catalogue; with a `writer`, hand it each product to write."""
    out = Plan(rows=len(raw_rows))
    stored = {r["supplier_key"]: r for r in _stored(tables, mapping.supplier)}
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
        before = stored.pop(found.key, None)
        repriced = before is None or (before["wholesale_price"], before["retail_price"]) != (
            found.row["wholesale_price"], found.row["retail_price"])  # fmt: skip
        if repriced:
            out.repriced.append(found.key)
        if before is None:
            out.added.append(found.key)
        elif before["content_hash"] != found.row["content_hash"] or before["status"] != "active":
            out.changed.append(found.key)
        else:
            out.unchanged.append(found.key)
            continue
        if writer is not None:
            writer.add(found, before, repriced)
    out.discontinued = [key for key, row in stored.items() if row["status"] == "active"]
    return out


def _stored(tables: TableStore, supplier: str) -> list[dict[str, Any]]:
    return list(tables.each(PRODUCTS, [Query.equal("supplier", supplier), Query.select(["$id", *COMPARED])]))


def _price_origin(row: dict[str, Any]) -> tuple[str, str | None]:
    """When the product's current price was set, and by which import (rows written before prices moved onto the
    product have neither: their last write stands in)."""
    return row.get("price_since") or row["updated_at"], row.get("price_import_id") or row.get("last_import_id")


def _superseded(pid: str, supplier: str, before: dict[str, Any] | None, at: str) -> dict[str, Any] | None:
    """The history row for a stored price a new one replaces (None when there was no price to keep)."""
    if before is None or not (before["wholesale_price"] or before["retail_price"]):
        return None
    since, since_import = _price_origin(before)
    return {
        "$id": derived_id("supplier-price", pid, since_import or since),
        "product_id": pid,
        "supplier": supplier,
        **{k: before[k] for k in PRICE_FIELDS},
        "effective_at": since,
        "import_id": since_import or "",
        "superseded_at": at,
    }


def finish(tables: TableStore, mapping: Mapping, chosen: Plan, writer: Writer, import_id: str,
           progress: Callable[[str], None] = lambda _m: None) -> None:  # fmt: skip
    """Wait for the writer, then mark discontinued what the list no longer has."""
    written = writer.finish()
    progress(f"{written['products']} products written, {written['prices']} superseded prices recorded")
    gone = [product_id(mapping.supplier, key) for key in chosen.discontinued]
    if gone:
        tables.update_where(
            PRODUCTS, gone, {"status": "discontinued", "discontinued_at": writer.at, "last_import_id": import_id}
        )
    progress(f"{len(gone)} discontinued")


def _write(tables: TableStore, table: str, rows: list[dict[str, Any]]) -> None:
    """Upsert `rows` 100 per request, WRITERS requests at once (each is idempotent: ids are derived)."""
    chunks = [rows[start : start + BULK] for start in range(0, len(rows), BULK)]
    if len(chunks) <= 1:
        for chunk in chunks:
            tables.upsert_many(table, chunk)
        return
    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="supplier-write") as pool:
        list(pool.map(lambda chunk: tables.upsert_many(table, chunk), chunks))


def price_history(product: dict[str, Any], superseded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The product's prices, newest first: its current price, then those it replaced (`superseded`, newest first;
    a row kept from before prices moved onto the product, for the current price's own import, is left out)."""
    shown = (*PRICE_FIELDS, "effective_at", "import_id", "superseded_at")
    since, since_import = _price_origin(product)
    current = {k: product.get(k) for k in PRICE_FIELDS} | {"effective_at": since, "import_id": since_import,
                                                           "superseded_at": None}  # fmt: skip
    older = [{k: h.get(k) for k in shown} for h in superseded if h["import_id"] != since_import]
    return ([current] if product.get("wholesale_price") or product.get("retail_price") else []) + older


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
