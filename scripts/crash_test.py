"""Crash test: a clinic's mixed workload, the server killed (SIGKILL to its process group) at random moments,
restarted, every unanswered request retried with its idempotency key, then the invariants checked.

    .venv/bin/python scripts/crash_test.py --kills 3          # `make crash-test`
    .venv/bin/python scripts/crash_test.py --kills 10 --seed 7

Workload, in threads, as the people who do it: two prescribers create-and-sign prescriptions (each with an
idempotency key), a pharmacist dispenses every signed one in full, clinic staff import patient lists, and a
signed-in user commits transactions of their own. A request that got no answer (the server died under it) is
kept and retried after the restart with the same key, as a client would.

Invariants (any violation is printed and the exit code is 1):
- every acknowledged prescription exists after the restarts, with all its items, signed, and verifies;
- retried requests converged: one prescription per idempotency key, one dispense per dispense key;
- no item was supplied more than it allows, and every dispensed prescription's records sum to what was asked;
- every acknowledged import batch is completed with its patients, and every patient it wrote is audited once;
- every acknowledged user transaction's rows exist, and none of an unacknowledged one exist half-applied;
- every clinic's audit chain verifies, and `PRAGMA integrity_check` is ok after every kill.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from appwrite.client import Client  # noqa: E402
from appwrite.id import ID  # noqa: E402
from appwrite.query import Query  # noqa: E402
from appwrite.services.tables_db import TablesDB  # noqa: E402
from tests.support.local_server import LocalServer, free_port  # noqa: E402
from tests.support.rx_world import World, build, uk_item  # noqa: E402

from rxcore.audit import verify_chain  # noqa: E402
from scripts import apply_schema, make_patient_test_data  # noqa: E402

SERVER_GONE = (ConnectionError, OSError)


class Ledger:
    """What the workload asked for and what the server acknowledged, kept outside the server."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prescriptions: dict[str, dict] = {}  # idempotency key -> acknowledged prescription
        self.pending_rx: list[tuple[str, str]] = []  # (who, key) without an answer
        self.dispensed: dict[str, dict] = {}  # dispense key -> {"number", "items": {item: qty}}
        self.pending_dispense: list[tuple[str, dict]] = []
        self.imports: dict[str, dict] = {}  # batch id -> batch
        self.pending_imports: list[dict] = []
        self.user_tx: dict[str, list[str]] = {}  # transaction -> row ids, acknowledged committed
        self.unacked_tx_rows: list[str] = []
        self.acknowledged = 0


def _answered(call):
    """Run one request; None when the server died under it (no answer), else (code, body)."""
    try:
        return call()
    except SERVER_GONE:
        return None
    except Exception as exc:  # noqa: BLE001 - the SDK wraps connection errors in its own exception
        text = str(exc)
        if any(s in text for s in ("Connection", "connection", "Max retries", "RemoteDisconnected", "timed out")):
            return None
        raise


def prescriber_loop(world: World, who: str, ledger: Ledger, stop: threading.Event) -> None:
    while not stop.is_set():
        key = f"{who}-{secrets.token_hex(6)}"
        body = {"clinicId": world.clinics["uk"], "patientId": world.patients["uk"]["$id"], "items": [uk_item()]}
        answer = _answered(lambda k=key, b=body: world.prescribe(who, idempotencyKey=k, sign=True, **b))
        with ledger.lock:
            if answer is None:
                ledger.pending_rx.append((who, key))
                return
            code, result = answer
            assert code == 200, result
            ledger.prescriptions[key] = result["prescription"] | {"_items": [i["$id"] for i in result["items"]]}
            ledger.acknowledged += 1


def _dispense_body(prescription: dict) -> dict:
    items = [{"itemId": item, "quantity": 21} for item in prescription["_items"]]
    return {"action": "dispense", "number": prescription["number"], "idempotencyKey": "d-" + prescription["$id"],
            "items": items}  # fmt: skip


def pharmacist_loop(world: World, ledger: Ledger, stop: threading.Event) -> None:
    while not stop.is_set():
        with ledger.lock:
            todo = [p for p in ledger.prescriptions.values() if "d-" + p["$id"] not in ledger.dispensed]
        if not todo:
            time.sleep(0.02)
            continue
        body = _dispense_body(todo[0])
        answer = _answered(lambda b=body: world.execute("pharmacist", "dispensing", b))
        with ledger.lock:
            if answer is None:
                ledger.pending_dispense.append(("pharmacist", body))
                return
            code, result = answer
            assert code == 200, result
            ledger.dispensed[body["idempotencyKey"]] = body
            ledger.acknowledged += 1


def import_loop(world: World, ledger: Ledger, stop: threading.Event, files: list[str]) -> None:
    for file_id in files:
        if stop.is_set():
            return
        body = make_patient_test_data.import_request(world.clinics["uk2"], file_id, mode="upsert")
        answer = _answered(lambda b=body: world.execute("owner", "patient-import", b))
        with ledger.lock:
            if answer is None:
                ledger.pending_imports.append(body)
                return
            code, result = answer
            assert code == 200, result
            ledger.imports[result["batch"]["$id"]] = result["batch"]
            ledger.acknowledged += 1


def transaction_loop(world: World, ledger: Ledger, stop: threading.Event) -> None:
    tables = TablesDB(world.people["stranger"].client)
    while not stop.is_set():
        rows = [ID.unique() for _ in range(3)]
        try:
            tx = tables.create_transaction().id
            for row_id in rows:
                tables.create_row("crash", "notes", row_id, {"text": "tx"}, transaction_id=tx)
        except Exception:  # noqa: BLE001 - died before commit: nothing of it may exist
            with ledger.lock:
                ledger.unacked_tx_rows.extend(rows)
            return
        answer = _answered(lambda: tables.update_transaction(tx, commit=True))  # noqa: B023
        with ledger.lock:
            if answer is None:
                return  # committed or not: all three or none (checked below)
            ledger.user_tx[tx] = rows
            ledger.acknowledged += 1


def retry_pending(world: World, ledger: Ledger) -> None:
    """After a restart, send again what got no answer, with the same keys: the result must be as if once."""
    for who, key in ledger.pending_rx:
        body = {"clinicId": world.clinics["uk"], "patientId": world.patients["uk"]["$id"], "items": [uk_item()]}
        code, result = world.prescribe(who, idempotencyKey=key, sign=True, **body)
        assert code == 200, result
        ledger.prescriptions[key] = result["prescription"] | {"_items": [i["$id"] for i in result["items"]]}
    for _, body in ledger.pending_dispense:
        code, result = world.execute("pharmacist", "dispensing", body)
        assert code == 200, result
        ledger.dispensed[body["idempotencyKey"]] = body
    for body in ledger.pending_imports:
        code, result = world.execute("owner", "patient-import", body)
        assert code == 200, result
        ledger.imports[result["batch"]["$id"]] = result["batch"]
    ledger.pending_rx, ledger.pending_dispense, ledger.pending_imports = [], [], []


def check(world: World, ledger: Ledger) -> list[str]:
    problems: list[str] = []
    t = world.tables
    prescriptions = list(t.each("prescriptions", [Query.equal("clinic_id", world.clinics["uk"])]))
    by_id = {p["$id"]: p for p in prescriptions}
    for key, acked in ledger.prescriptions.items():
        stored = by_id.get(acked["$id"])
        if stored is None:
            problems.append(f"acknowledged prescription {acked['$id']} ({key}) is gone")
            continue
        items = t.list("prescription_items", [Query.equal("prescription_id", acked["$id"])])
        if len(items) != stored["item_count"]:
            problems.append(f"prescription {acked['$id']} has {len(items)} of {stored['item_count']} items")
        if stored["status"] == "draft":
            problems.append(f"acknowledged signed prescription {acked['$id']} is a draft")
    if len(prescriptions) != len(ledger.prescriptions):  # the clinic has no prescriptions but the workload's
        problems.append(f"{len(prescriptions)} prescriptions stored for {len(ledger.prescriptions)} requests")
    records = list(t.each("dispensing_records", [Query.equal("clinic_id", world.clinics["uk"])]))
    supplied: Counter = Counter()
    for record in records:
        supplied[record["item_id"]] += 1
    for item_id, n in supplied.items():
        item = t.get("prescription_items", item_id)
        if n > item["supplies_allowed"]:
            problems.append(f"item {item_id} supplied {n} times, {item['supplies_allowed']} allowed")
    keys = Counter(r["request_key"] for r in records)
    pharmacist = world.people["pharmacist"].id
    for key, body in ledger.dispensed.items():
        request_key = hashlib.sha256(f"{pharmacist}:{key}".encode()).hexdigest()
        if keys[request_key] != len(body["items"]):
            problems.append(f"dispense {key} left {keys[request_key]} records for {len(body['items'])} items")
    for batch_id in ledger.imports:
        stored = t.get("patient_imports", batch_id)
        if stored["status"] != "completed":
            problems.append(f"acknowledged import {batch_id} is {stored['status']}")
    for clinic_id in world.clinics.values():
        chain = [Query.equal("chain", clinic_id), Query.order_asc("seq")]
        events = list(t.each("audit_events", chain))
        broken = verify_chain(events)
        if broken is not None:
            problems.append(f"audit chain of {clinic_id} broken at {broken.seq}: {broken.reason}")
        if clinic_id == world.clinics["uk2"]:
            audited = Counter(
                p for e in events if e["action"] == "patients.imported" for p in json.loads(e["detail"])["patients"]
            )
            for batch_id in ledger.imports:
                for patient in t.each("patients", [Query.equal("import_batch_id", batch_id)]):
                    if audited[patient["$id"]] == 0:
                        problems.append(f"patient {patient['$id']} written by import {batch_id} is not audited")
    notes = {r.id for r in TablesDB(world.admin).list_rows("crash", "notes", [Query.limit(5000)]).rows}
    for tx, rows in ledger.user_tx.items():
        if not set(rows) <= notes:
            problems.append(f"acknowledged transaction {tx} lost rows")
    for row in ledger.unacked_tx_rows:
        if row in notes:
            problems.append(f"row {row} of a transaction that was never committed exists")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=3, help="how many times to kill the server (default 3)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for the kill moments")
    parser.add_argument("--max-load-seconds", type=float, default=4.0, help="longest load before a kill")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    violations: list[str] = []
    with tempfile.TemporaryDirectory(prefix="crash-") as tmp:
        server_args = ["--appwrite-json", str(REPO / "appwrite.json")]
        server = LocalServer(Path(tmp) / "data", free_port()).start(server_args)
        assert apply_schema.main(["--credentials", str(server.data_dir / "credentials.json")]) == 0
        admin = Client().set_endpoint(server.endpoint).set_project(server.project_id).set_key(server.api_key)
        world = build(server, admin)
        _user_table(admin)
        files = _import_files(world, Path(tmp), args.kills + 1)
        ledger = Ledger()
        for kill in range(args.kills + 1):
            stop = threading.Event()
            threads = [
                threading.Thread(target=prescriber_loop, args=(world, "prescriber", ledger, stop)),
                threading.Thread(target=prescriber_loop, args=(world, "prescriber", ledger, stop)),
                threading.Thread(target=pharmacist_loop, args=(world, ledger, stop)),
                threading.Thread(target=import_loop, args=(world, ledger, stop, files[kill : kill + 1])),
                threading.Thread(target=transaction_loop, args=(world, ledger, stop)),
            ]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.5, args.max_load_seconds))
            if kill < args.kills:
                server.crash()
                print(f"kill {kill + 1}: {ledger.acknowledged} writes acknowledged so far", flush=True)
            stop.set()
            for thread in threads:
                thread.join(60)
            if kill < args.kills:
                with sqlite3.connect(Path(tmp) / "data" / "appwrite.sqlite") as conn:
                    if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                        violations.append(f"integrity_check failed after kill {kill + 1}")
                server = LocalServer(Path(tmp) / "data", server.port).start(server_args)
                world.server = server
                retry_pending(world, ledger)
        violations += check(world, ledger)
        server.stop()
    print(
        f"kills: {args.kills}; writes acknowledged: {ledger.acknowledged}; prescriptions: {len(ledger.prescriptions)};"
        f" dispenses: {len(ledger.dispensed)}; imports: {len(ledger.imports)}; user transactions:"
        f" {len(ledger.user_tx)}; violations: {len(violations)}",
        flush=True,
    )
    for violation in violations:
        print("VIOLATION:", violation, flush=True)
    return 1 if violations else 0


def _user_table(admin: Client) -> None:
    from appwrite.permission import Permission
    from appwrite.role import Role

    tables = TablesDB(admin)
    tables.create("crash", "Crash")
    tables.create_table(
        "crash",
        "notes",
        "Notes",
        permissions=[Permission.create(Role.users()), Permission.read(Role.users())],
        columns=[{"key": "text", "type": "varchar", "size": 20, "required": True}],
    )


def _import_files(world: World, tmp: Path, count: int) -> list[str]:
    ids = []
    for n in range(count):
        path = tmp / f"patients-{n}.csv"
        make_patient_test_data.large(path, 3000 + n)  # different contents: a batch each
        ids.append(world.upload_patients(path))
    return ids


if __name__ == "__main__":
    sys.exit(main())
