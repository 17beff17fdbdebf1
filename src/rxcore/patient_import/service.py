"""The patient-import function's service: a batch per (clinic, file content, mapping, mode, dry run).

Runs through the file in chunks of 100 rows: validate (rxcore.patient_import.validate), look the chunk's patients up
by identifier in one query, then one bulk upsert of the new and changed rows. Patients imported get an id derived
from (clinic, identifier), so writing a row twice changes nothing. Progress (counts and the last line written) is
saved in the `patient_imports` row as it goes; executing the same request again resumes after that line, or answers
the finished batch. Row errors go to `patient_import_errors` and, at the end, to a CSV report in the
`import_reports` bucket. See docs/functions/patient-import.md."""

from __future__ import annotations

import hashlib
import io
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.functions import Functions
from appwrite.services.storage import Storage

from rxcore import audit, csvsafe
from rxcore.actions import Dispatcher
from rxcore.clock import iso
from rxcore.errors import Conflict, NotFound, ServiceError, invalid_argument
from rxcore.files import put_file
from rxcore.identity import Caller
from rxcore.ids import derived_id
from rxcore.patient_import.reader import read_table
from rxcore.patient_import.requests import ImportStatus, RunImport
from rxcore.patient_import.validate import RowResult, key_column, validate_row
from rxcore.patients import FIELDS
from rxcore.settings import ImportSettings
from rxcore.tables import retry_conflicts

CHUNK = 100
SAVE_EVERY = 2000  # rows between progress saves (and audit events)
STALE_AFTER = timedelta(seconds=90)  # a running batch without a heartbeat for this long is taken over
STAFF_ROLES = {"owner", "admin", "staff", "prescriber", "pharmacist"}
COUNTS = ("rows", "created", "updated", "skipped", "failed", "warnings")
actions = Dispatcher("patient-import", default="import", settings=ImportSettings)


def _staff_clinic(c: Caller, clinic_id: str) -> dict[str, Any]:
    """The clinic, if the caller is a confirmed member of its team with a staff role (else 404: not revealed)."""
    return c.clinic_member(clinic_id, STAFF_ROLES)


def _mapping(mapping: dict[str, str], header: list[str]) -> dict[str, str]:
    """The mapping, checked against the file's header and the patient fields."""
    unknown = sorted(set(mapping.values()) - set(FIELDS))
    missing = sorted(set(mapping) - set(header))
    if unknown:
        raise invalid_argument(f"`mapping`: unknown field(s) {', '.join(unknown)}; fields: {', '.join(FIELDS)}.")
    if missing:
        raise invalid_argument(f"`mapping`: column(s) {', '.join(missing)} are not in the file's header.")
    if len(set(mapping.values())) != len(mapping):
        raise invalid_argument("`mapping`: two columns map to the same field.")
    return mapping


class Importer:
    def __init__(self, c: Caller, clinic: dict[str, Any], batch: dict[str, Any], mapping: dict[str, str]):
        self.c, self.t, self.clinic, self.batch, self.mapping = c, c.tables, clinic, batch, mapping
        self.fields_to_columns = {field: column for column, field in mapping.items()}
        self.counts = {k: batch.get(k) or 0 for k in COUNTS}
        self.cursor = batch.get("cursor") or 0
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="import")
        self.in_flight: list[Future] = []
        self.touched: list[str] = []
        self.last_save = time.monotonic()

    def patient_id(self, key: str) -> str:
        return derived_id(self.clinic["$id"], key)

    def existing(self, rows: list[RowResult]) -> dict[str, dict[str, Any]]:
        """The clinic's patients with the same identifiers as `rows`, by identity key (one or two queries)."""
        found: dict[str, dict[str, Any]] = {}
        by_column: dict[str, list[str]] = {}
        for row in rows:
            by_column.setdefault(key_column(row.key), []).append(row.key.split(":")[1])
        for column, values in by_column.items():
            query = [
                Query.equal("clinic_id", self.clinic["$id"]),
                Query.equal(column, values),
                Query.limit(len(values) * 9),
            ]
            for patient in self.t.list("patients", query):
                for row in rows:
                    if row.columns.get(column) == patient.get(column) and (
                        column != "medicare_number" or row.columns.get("medicare_irn") == patient.get("medicare_irn")
                    ):
                        found[row.key] = patient
        return found

    def write_chunk(self, rows: list[RowResult]) -> tuple[dict[str, int], list[str]]:
        counts = {"created": 0, "updated": 0, "skipped": 0}
        existing = self.existing(rows) if rows else {}
        writes, ids = [], []
        mode, dry = self.batch["mode"], self.batch["dry_run"]
        for row in rows:
            current = existing.get(row.key)
            if current is None:
                counts["created"] += 1
                payload = row.columns | {
                    "clinic_id": self.clinic["$id"],
                    "import_batch_id": self.batch["$id"],
                    "$id": self.patient_id(row.key),
                    "$permissions": [f'read("team:{self.clinic["$id"]}")'],
                }
            elif current.get("import_batch_id") == self.batch["$id"] and self._same(current, row):
                # Written by this batch in a run that stopped before it saved its progress and audit events:
                # count and audit it now, as that run would have (created if it was new to the clinic then).
                counts["created" if current["$createdAt"] >= self.batch["started_at"] else "updated"] += 1
                ids.append(current["$id"])
                continue
            elif mode == "create" or self._same(current, row):
                counts["skipped"] += 1
                continue
            else:
                counts["updated"] += 1
                kept = {k: v for k, v in current.items() if not k.startswith("$")}
                payload = (
                    kept
                    | row.columns
                    | {
                        "$id": current["$id"],
                        "$permissions": current.get("$permissions", []),
                        "import_batch_id": self.batch["$id"],
                    }
                )
            writes.append(payload)
            ids.append(payload["$id"])
        if writes and not dry:
            self.t.upsert_many("patients", writes)
        return counts, ids

    @staticmethod
    def _same(current: dict[str, Any], row: RowResult) -> bool:
        return all(current.get(k) == v for k, v in row.columns.items())

    def record_errors(self, results: list[RowResult]) -> None:
        rows = []
        for result in results:
            for severity, problems in (("error", result.errors), ("warning", result.warnings)):
                for field, value, message in problems:
                    rows.append(
                        {
                            "$id": derived_id(self.batch["$id"], result.line, field, severity),
                            "batch_id": self.batch["$id"],
                            "line": result.line,
                            "column": self.fields_to_columns.get(field, field),
                            "value": str(value)[:200],
                            "severity": severity,
                            "message": message[:400],
                        }
                    )
        self.t.upsert_many("patient_import_errors", rows)

    def submit(self, valid: list[RowResult], checked: list[RowResult]) -> None:
        self.in_flight.append(self.pool.submit(self._chunk, valid, checked))
        while len(self.in_flight) > 8:
            self._collect(self.in_flight.pop(0))

    def _chunk(self, valid: list[RowResult], checked: list[RowResult]) -> tuple[dict[str, int], list[str], int]:
        counts, ids = self.write_chunk(valid)
        self.record_errors([r for r in checked if r.errors or r.warnings])
        return counts, ids, checked[-1].line

    def _collect(self, future: Future) -> None:
        counts, ids, last_line = future.result()
        for key, value in counts.items():
            self.counts[key] += value
        self.touched.extend(ids)
        self.cursor = max(self.cursor, last_line)

    def drain_quietly(self) -> None:
        """Count the chunks that did land before a failure, ignoring the ones that failed."""
        for future in self.in_flight:
            try:
                self._collect(future)
            except Exception:  # the failure being reported already
                continue
        self.in_flight = []

    def drain(self) -> None:
        while self.in_flight:
            self._collect(self.in_flight.pop(0))

    def save(self, status: str, **extra: Any) -> dict[str, Any]:
        """Progress and the audit events of the patients written since the last save, in one transaction: the
        cursor never passes a patient whose event is missing. (Patients written after the cursor by a run that
        then died are found again by their `import_batch_id` and audited by the next run: see write_chunk.)"""
        update = {
            **self.counts,
            "cursor": self.cursor,
            "status": status,
            "heartbeat_at": iso(self.c.now_fresh()),
        } | extra
        events = []
        if self.touched and not self.batch["dry_run"]:
            # one event per 100 patients written (an event's detail stays small)
            events = [
                self.c.event(
                    "staff",
                    "patients.imported",
                    "patient_import",
                    self.batch["$id"],
                    self.clinic["$id"],
                    None,
                    patients=self.touched[i : i + CHUNK],
                    mode=self.batch["mode"],
                )
                for i in range(0, len(self.touched), CHUNK)
            ]
        at = iso(self.c.now_fresh())

        def write() -> None:
            progress = self.t.op("update", "patient_imports", self.batch["$id"], update)
            self.t.commit([progress, *audit.append_operations(self.t, events, at)])

        retry_conflicts(write)
        self.batch = self.batch | update
        self.touched = []
        self.last_save = time.monotonic()
        return self.batch

    def run(self, records, today) -> dict[str, Any]:
        country = self.clinic["country"]
        seen: dict[str, int] = {}
        valid: list[RowResult] = []
        checked: list[RowResult] = []
        since_save = 0
        for line, raw in records:
            result = validate_row(country, line, {f: raw.get(col, "") for col, f in self.mapping.items()}, today)
            if result.key is not None:
                first = seen.setdefault(result.key, line)
                if first != line:
                    result = RowResult(
                        line,
                        None,
                        errors=[
                            (key_column(result.key), result.key.split(":")[1], f"the same patient as line {first}")
                        ],
                    )
            if line <= self.cursor:
                continue  # written by an earlier run of this batch
            self.counts["rows"] += 1
            self.counts["failed"] += result.columns is None
            self.counts["warnings"] += len(result.warnings)
            checked.append(result)
            if result.columns is not None:
                valid.append(result)
            if len(checked) >= CHUNK:
                self.submit(valid, checked)
                since_save += len(checked)
                valid, checked = [], []
            if since_save >= SAVE_EVERY:
                self.drain()
                self.save("running")
                since_save = 0
        if checked:
            self.submit(valid, checked)
        self.drain()
        return self.finish()

    def finish(self) -> dict[str, Any]:
        report_id = self.upload_report()
        return self.save("completed", report_file_id=report_id, finished_at=iso(self.c.now_fresh()))

    def upload_report(self) -> str | None:
        out = io.StringIO()
        writer = csvsafe.writer(out, lineterminator="\r\n")
        writer.writerow(["line", "column", "value", "severity", "message"])
        rows = self.t.each("patient_import_errors", [Query.equal("batch_id", self.batch["$id"])])
        for row in sorted(rows, key=lambda r: (r["line"], r["severity"], r["column"])):
            writer.writerow([row["line"], row["column"], row["value"], row["severity"], row["message"]])
        bucket = self.c.settings.report_bucket_id
        filename = f"import-{self.batch['$id']}-errors.csv"
        permissions = [f'read("team:{self.clinic["$id"]}")']
        content = out.getvalue().encode()
        return put_file(self.c.request.client, bucket, self.batch["$id"], content, filename, "text/csv", permissions)


@actions.action("import", RunImport)
def run_import(c: Caller, params: RunImport) -> dict[str, Any]:
    """Import an uploaded patient list into a clinic (resumable; the same request again answers the batch)."""
    clinic_id, file_id, mode, dry_run = params.clinic_id, params.file_id, params.mode, params.dry_run
    clinic = _staff_clinic(c, clinic_id)
    bucket = c.settings.import_bucket_id
    storage = Storage(c.request.client)
    missing = NotFound("storage_file_not_found", f"No file {file_id} of yours in the {bucket} bucket.")
    try:
        meta = storage.get_file(bucket, file_id)
    except AppwriteException as exc:
        raise (missing if exc.code == 404 else exc) from None
    # The function reads with its own key, so it checks that the caller (or their clinic) could read the file:
    # a file id from someone else's upload does not import another clinic's list.
    if not {f'read("user:{c.user_id}")', f'read("team:{clinic_id}")', 'read("any")'} & set(meta.permissions or []):
        raise missing
    content = storage.get_file_download(bucket, file_id)
    digest = hashlib.sha256(content).hexdigest()
    _not_running(c, clinic_id, digest)  # before parsing the whole list: a second request answers at once
    header, records = read_table(content, meta.name)
    mapping = _mapping(params.mapping, header)
    identity = json.dumps([clinic_id, digest, sorted(mapping.items()), mode, dry_run])
    batch_id = derived_id(identity)
    batch = c.tables.get("patient_imports", batch_id)
    if batch is not None and batch["status"] == "completed":
        return {"batch": batch, "replayed": True}
    if batch is not None and batch["status"] == "running" and not _holder_gone(c, batch):
        raise Conflict("import_in_progress", f"Batch {batch_id} is running; follow its progress with status.")
    if batch is None:
        row = {
            "clinic_id": clinic_id,
            "file_id": file_id,
            "file_sha256": digest,
            "file_name": meta.name[:200],
            "mode": mode,
            "dry_run": dry_run,
            "mapping": json.dumps(mapping),
            "status": "running",
            "requested_by": c.user_id,
            "started_at": iso(c.now),
            "heartbeat_at": iso(c.now),
            "execution_id": c.request.execution_id,
            "cursor": 0,
            **dict.fromkeys(COUNTS, 0),
        }
        batch = c.tables.create("patient_imports", batch_id, row, [f'read("team:{clinic_id}")'])
    else:
        resume = {
            "status": "running",
            "heartbeat_at": iso(c.now),
            "error": None,
            "execution_id": c.request.execution_id,
        }
        batch = batch | c.tables.update("patient_imports", batch_id, resume)
    importer = Importer(c, clinic, batch, mapping)
    try:
        return {"batch": importer.run(records, c.now.date()), "replayed": False}
    except Exception as exc:
        # What was written stays written; the batch says where it stopped, and running the request again resumes.
        importer.drain_quietly()
        message = exc.message if isinstance(exc, (ServiceError, AppwriteException)) else type(exc).__name__
        importer.save("failed", error=str(message)[:400])
        raise
    finally:
        importer.pool.shutdown()  # the worker stays warm for the next execution: leave no idle threads behind


def _not_running(c: Caller, clinic_id: str, digest: str) -> None:
    """409 when this clinic is importing this very file right now (whatever its mapping)."""
    queries = [
        Query.equal("clinic_id", clinic_id),
        Query.equal("file_sha256", digest),
        Query.equal("status", "running"),
        Query.limit(10),
    ]
    for batch in c.tables.list("patient_imports", queries):
        if not _holder_gone(c, batch):
            raise Conflict("import_in_progress", f"Batch {batch['$id']} is running; follow its progress with status.")


def _holder_gone(c: Caller, batch: dict[str, Any]) -> bool:
    """Whether the run that holds a `running` batch has ended without finishing it (a crash, a timeout).

    The execution that runs a batch is recorded on it; once that execution is no longer waiting or processing
    (the local server fails executions a crash interrupted; Appwrite's executor ends them at their timeout), the
    batch is free at once. Without that record, a batch whose heartbeat is older than STALE_AFTER is free."""
    execution_id, function_id = batch.get("execution_id"), c.settings.function_id
    if execution_id and function_id:
        try:
            execution = Functions(c.request.client).get_execution(function_id, execution_id)
            return getattr(execution.status, "value", execution.status) not in ("waiting", "processing")
        except AppwriteException as exc:
            if exc.code == 404:
                return True
    beat = batch.get("heartbeat_at")
    return not beat or c.now_fresh() - datetime.fromisoformat(beat) >= STALE_AFTER


@actions.action("status", ImportStatus)
def status(c: Caller, params: ImportStatus) -> dict[str, Any]:
    """A batch's progress and counts, and its error report's file id once finished."""
    batch = c.tables.get("patient_imports", params.batch_id)
    if batch is None:
        raise NotFound("import_not_found", "No such import batch.")
    _staff_clinic(c, batch["clinic_id"])
    if batch["status"] == "running" and _holder_gone(c, batch):
        # Its run ended without saying so (the server stopped): report it as the failure it is; a new run resumes.
        batch = batch | {"status": "failed", "error": "interrupted: the run stopped before it finished; run it again"}
    return {"batch": batch}
