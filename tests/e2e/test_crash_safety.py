"""A kill -9 during bulk writes loses at most the request in flight and never corrupts the database."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from appwrite.client import Client
from appwrite.services.tables_db import TablesDB

from tests.support.local_server import LocalServer, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _tables(server: LocalServer) -> TablesDB:
    client = Client().set_endpoint(server.endpoint).set_project(server.project_id).set_key(server.api_key)
    return TablesDB(client)


def test_kill_9_during_bulk_writes(tmp_path):
    server = LocalServer(tmp_path / "data", free_port()).start()
    tables = _tables(server)
    tables.create("crash", "Crash")
    tables.create_table(
        "crash",
        "rows",
        "Rows",
        columns=[
            {"key": "batch", "type": "integer", "required": True},
            {"key": "name", "type": "varchar", "size": 60, "required": True},
        ],
        indexes=[
            {"key": "name_ft", "type": "fulltext", "columns": ["name"]},
            {"key": "batch_ix", "type": "key", "columns": ["batch"]},
        ],
    )

    acknowledged: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        batch = 0
        while not stop.is_set():
            try:
                tables.upsert_rows(
                    "crash",
                    "rows",
                    [{"$id": f"b{batch}-{i}", "batch": batch, "name": f"row {i} of batch {batch}"} for i in range(100)],
                )
            except Exception:  # noqa: BLE001 - the server dies under us: that is the point
                return
            acknowledged.append(batch)
            batch += 1

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill9()
    stop.set()
    thread.join(10)
    assert len(acknowledged) >= 20

    database = tmp_path / "data" / "appwrite.sqlite"
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    server = LocalServer(tmp_path / "data", server.port).start()
    try:
        tables = _tables(server)
        counts: dict[int, int] = {}
        cursor = None
        while True:
            queries = ['{"method":"limit","values":[5000]}']
            if cursor:
                queries.append(f'{{"method":"cursorAfter","values":["{cursor}"]}}')
            page = tables.list_rows("crash", "rows", queries=queries, total=False)
            for row in page.rows:
                counts[row.data["batch"]] = counts.get(row.data["batch"], 0) + 1
            if len(page.rows) < 5000:
                break
            cursor = page.rows[-1].id
        # every acknowledged batch is complete; at most one more (the one in flight) may exist, also whole
        assert all(counts.get(b) == 100 for b in acknowledged)
        extra = set(counts) - set(acknowledged)
        assert len(extra) <= 1 and all(counts[b] == 100 for b in extra)
        hits = tables.list_rows("crash", "rows", queries=['{"method":"search","attribute":"name","values":["batch"]}'])
        assert hits.total == min(5000, sum(counts.values()))  # the fulltext index survived in step
    finally:
        server.stop()


def test_executions_in_flight_at_a_crash_are_settled_at_restart(tmp_path):
    """A crash leaves no execution `processing` forever: the one that was running is failed with the reason, one
    still queued runs after the restart (docs/security.md, 'Crash safety')."""
    from appwrite.services.functions import Functions

    from tests.conftest import FUNCTIONS_JSON
    from tests.support.sdk import val

    args = ["--appwrite-json", str(FUNCTIONS_JSON)]
    server = LocalServer(tmp_path / "data", free_port()).start(args)
    functions = Functions(_tables(server).client)
    running = functions.create_execution("faults", path="/sleep?s=30", xasync=True)
    deadline = time.monotonic() + 15
    while val(functions.get_execution("faults", running.id).status) != "processing":
        assert time.monotonic() < deadline, "the execution never started"
        time.sleep(0.05)
    finished = functions.create_execution("faults", path="/fine")
    server.crash()

    # An accepted execution no worker had taken yet when the server died: as Appwrite's queue keeps it, so do we.
    with sqlite3.connect(tmp_path / "data" / "appwrite.sqlite") as conn:
        conn.execute(
            "INSERT INTO _executions (id, function_id, deployment_id, trigger, status, request_method, request_path,"
            " request_headers, request_body, created, updated) SELECT 'queued1', function_id, deployment_id, trigger,"
            " 'waiting', 'GET', '/fine', request_headers, request_body, created, updated FROM _executions"
            " WHERE id = ?",
            (finished.id,),
        )

    server = LocalServer(tmp_path / "data", server.port).start(args)
    try:
        functions = Functions(_tables(server).client)
        interrupted = functions.get_execution("faults", running.id)
        assert val(interrupted.status) == "failed" and interrupted.responsestatuscode == 500
        assert "server stopped while it was running" in interrupted.errors
        assert val(functions.get_execution("faults", finished.id).status) == "completed"
        deadline = time.monotonic() + 15
        while val(functions.get_execution("faults", "queued1").status) != "completed":
            assert time.monotonic() < deadline, "the queued execution was not run after the restart"
            time.sleep(0.05)
        assert functions.get_execution("faults", "queued1").responsestatuscode == 200
        assert functions.create_execution("faults", path="/fine").responsebody == "fine"
    finally:
        server.stop()


def test_an_import_killed_between_its_writes_loses_no_audit_event(tmp_path):
    """Killed after patients were written but before the batch saved its progress (the gap where the old code lost
    their `patients.imported` events): after the restart the batch reads failed, a retry is not refused, and
    every patient the batch wrote is named by exactly one event."""
    import json

    from appwrite.query import Query
    from appwrite.services.functions import Functions
    from scripts import apply_schema, make_patient_test_data

    from rxcore.audit import verify_chain
    from tests.support.local_server import REPO
    from tests.support.rx_world import build

    args = ["--appwrite-json", str(REPO / "appwrite.json")]
    server = LocalServer(tmp_path / "data", free_port()).start(args)
    assert apply_schema.main(["--credentials", str(server.data_dir / "credentials.json")]) == 0
    admin = _tables(server).client
    world = build(server, admin)
    csv_path = tmp_path / "clinic.csv"
    make_patient_test_data.large(csv_path, 6000)
    file_id = world.upload_patients(csv_path)
    body = json.dumps(make_patient_test_data.import_request(world.clinics["uk"], file_id))
    Functions(world.people["owner"].client).create_execution("patient-import", body, xasync=True)
    tables = world.tables
    clinic = [Query.equal("clinic_id", world.clinics["uk"])]
    deadline = time.monotonic() + 60
    while True:  # wait for patients on disk while the batch has saved nothing yet
        assert time.monotonic() < deadline, "the import never reached the gap"
        batches = tables.list("patient_imports", clinic)
        written = len(tables.list("patients", [*clinic, Query.limit(5000)]))
        if batches and batches[0]["cursor"] == 0 and written >= 300:
            break
        time.sleep(0.01)
    server.crash()

    server = LocalServer(tmp_path / "data", server.port).start(args)
    try:
        world.server = server
        batch_id = batches[0]["$id"]
        code, answer = world.execute("owner", "patient-import", {"action": "status", "batchId": batch_id})
        assert code == 200 and answer["batch"]["status"] == "failed" and "interrupted" in answer["batch"]["error"]

        code, answer = world.execute("owner", "patient-import", json.loads(body))
        assert code == 200, answer  # not 409 import_in_progress
        batch = answer["batch"]
        assert batch["status"] == "completed" and batch["created"] == 6000 and batch["cursor"] > 0

        patients = {p["$id"] for p in world.tables.each("patients", [Query.equal("import_batch_id", batch_id)])}
        assert len(patients) == 6000
        chain = [Query.equal("chain", world.clinics["uk"]), Query.order_asc("seq")]
        events = list(world.tables.each("audit_events", chain))
        named = [p for e in events if e["action"] == "patients.imported" for p in json.loads(e["detail"])["patients"]]
        assert sorted(named) == sorted(patients), "every patient written is audited, once"
        assert verify_chain(events) is None
    finally:
        server.stop()
