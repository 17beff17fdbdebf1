"""supplier-import: the Australian medicinal-cannabis suppliers' price lists imported into one catalogue, and the
catalogue searched and compared by clinicians. See docs/functions/supplier-import.md.

Who: importing needs the `supplieradmin` (or platform `admin`) label on the caller's account, set by an operator
with an API key; reading needs an active practitioner (prescriber or pharmacist) or one of those labels. Patients
and guests get nothing (the tables have no user permissions: everything goes through this function)."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.storage import Storage
from appwrite.services.users import Users

from rxcore import csvsafe
from rxcore.actions import Dispatcher
from rxcore.audit import Change, commit_with_audit
from rxcore.clock import iso
from rxcore.errors import BadRequest, Forbidden, NotFound
from rxcore.identity import Caller
from rxcore.ids import derived_id
from rxcore.settings import SupplierSettings
from rxcore.suppliers import catalog, mapping, reader
from rxcore.suppliers.requests import Compare, ImportList, ImportRef, ProductRef, Search, Suppliers
from rxcore.tables import page

actions = Dispatcher("supplier-import", default="search", settings=SupplierSettings)
IMPORT_LABELS = {"admin", "supplieradmin"}
MAX_FILE_BYTES = 10 * 1024 * 1024
SHOWN_PROBLEMS = 50
PUBLIC_FIELDS = (
    "supplier", "brand", "product_name", "generic_name", "form", "tga_dosage_form", "thc_op", "thc_min", "thc_max",
    "thc_unit", "cbd_op", "cbd_min", "cbd_max", "cbd_unit", "pack_size", "pack_unit", "packaging", "strain_type",
    "cultivar", "artg", "code", "tga_category", "computed_category", "schedule", "access", "wholesale_price",
    "wholesale_gst", "retail_price", "retail_gst", "available", "storage", "status", "price_per_mg_thc",
    "price_per_mg_cbd", "updated_at", "discontinued_at",
)  # fmt: skip


def _labels(c: Caller) -> set[str]:
    return set(Users(c.request.client).get(c.user_id).labels or [])


def _importer(c: Caller) -> set[str]:
    """The caller's labels, if they may import."""
    labels = _labels(c)
    if not IMPORT_LABELS & labels:
        raise Forbidden("supplier_admin_required", "Only supplier admins import price lists.")
    return labels


def _reader(c: Caller) -> None:
    """Clinicians (active prescribers and pharmacists) and the catalogue's admins read the catalogue."""
    row = c.tables.get("practitioners", c.user_id)
    if row is not None and row.get("active"):
        return
    if not IMPORT_LABELS & _labels(c):
        raise Forbidden("clinician_required", "The supplier catalogue is for clinicians.")


def public(row: dict[str, Any]) -> dict[str, Any]:
    return {"$id": row["$id"], **{k: row.get(k) for k in PUBLIC_FIELDS}}


# --- importing -------------------------------------------------------------------------------------------------------
@actions.action("import", ImportList)
def import_list(c: Caller, params: ImportList) -> dict[str, Any]:
    """Import (or, with `dryRun`, check) a price list: counts, the first problems, and the import's id."""
    labels = _importer(c)
    try:
        layout = mapping.load(params.supplier)
    except KeyError:
        known = ", ".join(mapping.known())
        raise NotFound("supplier_not_found", f"No supplier {params.supplier!r} (known: {known}).") from None
    content, filename = _download(c, params.file_id, "admin" in labels)
    digest = hashlib.sha256(content).hexdigest()
    try:
        raw_rows = catalog.read(layout, content, filename)
    except reader.FileRefused as exc:
        raise BadRequest("supplier_file_invalid", str(exc)) from None
    import_id = derived_id("supplier-import", layout.supplier, digest, params.dry_run, iso(c.now))
    row = catalog.import_row(layout, params.file_id, filename, digest, params.dry_run, c.user_id, c.now)
    c.tables.create(catalog.IMPORTS, import_id, row)
    if params.dry_run:
        chosen = catalog.plan(c.tables, layout, raw_rows)
    else:
        with catalog.Writer(c.tables, layout, import_id, c.now_fresh()) as writer:
            chosen = catalog.plan(c.tables, layout, raw_rows, writer)
            catalog.finish(c.tables, layout, chosen, writer, import_id, c.request.log)
    catalog.save_problems(c.tables, import_id, chosen.problems)
    counts = chosen.counts()
    done = {"status": "completed", "finished_at": iso(c.now_fresh()), "counts": json.dumps(counts)}
    event = c.event("supplier_admin", "supplier.imported", "supplier", layout.supplier, None, None,
                    importId=import_id, dryRun=params.dry_run, **counts)  # fmt: skip
    commit_with_audit(c.tables, lambda _tx: Change([c.tables.op("update", catalog.IMPORTS, import_id, done)], [event]),
                      c.now_fresh)  # fmt: skip
    return {
        "importId": import_id,
        "supplier": layout.supplier,
        "dryRun": params.dry_run,
        "counts": counts,
        "problems": [catalog.public_problem(p) for p in chosen.problems[:SHOWN_PROBLEMS]],
    }


def _download(c: Caller, file_id: str, platform_admin: bool) -> tuple[bytes, str]:
    storage = Storage(c.request.client)
    bucket = c.settings.list_bucket_id  # type: ignore[attr-defined]
    missing = NotFound("storage_file_not_found", f"No file {file_id} of yours in the {bucket} bucket.")
    try:
        meta = storage.get_file(bucket, file_id)
    except AppwriteException as exc:
        raise (missing if exc.code == 404 else exc) from None
    if f'read("user:{c.user_id}")' not in (meta.permissions or []) and not platform_admin:
        raise missing  # the function reads with its key: only the uploader (or a platform admin) names a file
    if meta.sizeoriginal > MAX_FILE_BYTES:
        raise BadRequest("supplier_file_invalid", f"The file is over {MAX_FILE_BYTES // 1_048_576} MB.")
    return storage.get_file_download(bucket, file_id), meta.name


@actions.action("import_status", ImportRef)
def import_status(c: Caller, params: ImportRef) -> dict[str, Any]:
    """An import's counts and its report as CSV (line, column, value, severity, message)."""
    _importer(c)
    row = c.tables.get(catalog.IMPORTS, params.import_id)
    if row is None:
        raise NotFound("supplier_import_not_found", "No import has this id.")
    problems = c.tables.list(catalog.ERRORS, [Query.equal("import_id", row["$id"]), Query.limit(catalog.REPORTED)])
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(["sheet", "line", "column", "value", "severity", "message"])
    for p in problems:
        writer.writerow([p["sheet"], p["line"], p["column"], p["value"], p["severity"], p["message"]])
    fields = ("supplier", "file_name", "dry_run", "status", "started_at", "finished_at")
    return {"import": {"$id": row["$id"], **{k: row.get(k) for k in fields}, "counts": json.loads(row["counts"])},
            "reportCsv": out.getvalue()}  # fmt: skip


# --- reading ---------------------------------------------------------------------------------------------------------
@actions.action("search", Search)
def search(c: Caller, params: Search) -> dict[str, Any]:
    """Products matching the text and filters, by name; discontinued ones only when asked for."""
    _reader(c)
    queries = [] if params.include_discontinued else [Query.equal("status", "active")]
    if params.query:
        queries.append(Query.search("search", params.query))
    for column, value in (("supplier", params.supplier), ("form", params.form), ("schedule", params.schedule),
                          ("tga_category", params.tga_category), ("available", params.available)):  # fmt: skip
        if value is not None:
            queries.append(Query.equal(column, value))
    if params.pathway:
        queries.append(Query.contains("access", [params.pathway]))
    bounds = (
        ("thc_max", params.thc_min, Query.greater_than_equal),
        ("thc_min", params.thc_max, Query.less_than_equal),
        ("cbd_max", params.cbd_min, Query.greater_than_equal),
        ("cbd_min", params.cbd_max, Query.less_than_equal),
    )
    for column, value, make in bounds:
        if value is not None:
            queries.append(make(column, value))
    if params.price_min is not None:
        queries.append(Query.greater_than_equal("retail_value", float(params.price_min)))
    if params.price_max is not None:
        queries.append(Query.less_than_equal("retail_value", float(params.price_max)))
    queries.append(Query.order_asc("product_name"))
    rows, cursor = page(c.tables, catalog.PRODUCTS, queries, params.limit, params.cursor)
    return {"products": [public(r) for r in rows], "nextCursor": cursor}


def _product(c: Caller, product_id: str) -> dict[str, Any]:
    _reader(c)
    row = c.tables.get(catalog.PRODUCTS, product_id)
    if row is None:
        raise NotFound("supplier_product_not_found", "No supplier product has this id.")
    return row


@actions.action("get", ProductRef)
def get(c: Caller, params: ProductRef) -> dict[str, Any]:
    """One product and its price history, newest first."""
    row = _product(c, params.product_id)
    history = c.tables.list(catalog.PRICES, [Query.equal("product_id", row["$id"]), Query.order_desc("effective_at"),
                                             Query.limit(100)])  # fmt: skip
    return {"product": public(row), "prices": catalog.price_history(row, history)}


@actions.action("compare", Compare)
def compare(c: Caller, params: Compare) -> dict[str, Any]:
    """Active products of the same dose form and TGA category from every supplier, cheapest per mg first."""
    row = _product(c, params.product_id)
    column = f"price_per_mg_{params.by}"
    queries = [Query.equal("status", "active"), Query.equal("form", row["form"]),
               Query.equal("tga_category", row["tga_category"]), Query.is_not_null(column),
               Query.order_asc(column), Query.limit(params.limit)]  # fmt: skip
    rows = c.tables.list(catalog.PRODUCTS, queries)
    return {"product": public(row), "by": params.by, "equivalents": [public(r) for r in rows]}


@actions.action("suppliers", Suppliers)
def suppliers(c: Caller, _params: Suppliers) -> dict[str, Any]:
    """The suppliers with a mapping, each with its latest completed import."""
    _reader(c)
    out = []
    for supplier in mapping.known():
        latest = c.tables.list(catalog.IMPORTS, [Query.equal("supplier", supplier), Query.equal("dry_run", False),
                                                 Query.equal("status", "completed"), Query.order_desc("started_at"),
                                                 Query.limit(1)])  # fmt: skip
        item = {"supplier": supplier, "name": mapping.load(supplier).name, "lastImport": None}
        if latest:
            item["lastImport"] = {"$id": latest[0]["$id"], "at": latest[0]["finished_at"],
                                  "counts": json.loads(latest[0]["counts"])}  # fmt: skip
        out.append(item)
    return {"suppliers": out}
