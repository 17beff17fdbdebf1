"""patient-portal history latency (run by hand: `make bench-portal`).

A fresh local server with the test world; one patient (linked to an account) with 200 signed prescriptions of
one item each, written in bulk as prescription-create writes them (rows with the same columns and permissions).
Then `get_prescription_history` (a page of 20, newest first, with the medicines of the page read in one batch)
executed 200 times after 20 warm-up calls, by the signed-in account and by an identification token, through
`POST /v1/functions/patient-portal/executions` with the official SDK. Target (issue 6): p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from appwrite.services.functions import Functions  # noqa: E402
from scripts.bench.common import machine_line, save_summary  # noqa: E402
from scripts.bench.rx import report, timed  # noqa: E402
from scripts.bench.world import start_world  # noqa: E402
from tests.support.rx_world import MEDICINES  # noqa: E402

from rxcore.clock import iso  # noqa: E402


def seed(world, count: int) -> None:
    patient = world.patients["uk"]
    clinic = world.clinics["uk"]
    permissions = [f'read("team:{clinic}")', f'read("user:{patient["user_id"]}")']
    start = datetime.now(UTC) - timedelta(days=count)
    prescriptions, items = [], []
    for n in range(count):
        pid = f"bench{n:027d}"
        signed = iso(start + timedelta(days=n))
        prescriptions.append(
            {
                "$id": pid,
                "$permissions": permissions,
                "number": f"BENCH-{n:06d}",
                "clinic_id": clinic,
                "patient_id": patient["$id"],
                "prescriber_id": world.people["prescriber"].id,
                "country": "UK",
                "status": "dispensed" if n % 3 else "signed",
                "request_digest": "0" * 64,
                "item_count": 1,
                "signed_at": signed,
                "appropriate_date": signed[:10],
                "expires_on": signed[:10],
            }
        )
        items.append(
            {
                "$id": f"{pid}-1",
                "$permissions": permissions,
                "prescription_id": pid,
                "line": 1,
                "medicine_code": MEDICINES["amoxicillin"]["code"],
                "medicine_type": "vmp",
                "name": MEDICINES["amoxicillin"]["name"],
                "dose": "One three times a day",
                "quantity": 21,
                "unit": "capsules",
                "repeats": 0,
                "supplies_allowed": 1,
                "first_dispense_within": "6 months",
                "valid_for": "6 months",
            }
        )
    for table, rows in (("prescriptions", prescriptions), ("prescription_items", items)):
        for i in range(0, len(rows), 100):
            world.tables.upsert_many(table, rows[i : i + 100])


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--calls", type=int, default=200)
    cli.add_argument("--warmup", type=int, default=20)
    cli.add_argument("--prescriptions", type=int, default=200)
    args = cli.parse_args()
    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-portal-") as tmp:
        server, world = start_world(Path(tmp))
        try:
            seed(world, args.prescriptions)
            account = Functions(world.people["patient"].client)
            guest = Functions(world.client())
            _, _, identified = timed(
                guest,
                "patient-portal",
                {"action": "identify", "nhsNumber": "9990000018", "dateOfBirth": "1980-02-29", "postcode": "LS1 4AP"},
            )
            summary = {}
            for name, functions, extra in (("account", account, {}), ("token", guest, {"token": identified["token"]})):
                walls, inside = [], []
                for n in range(args.warmup + args.calls):
                    wall, took, answer = timed(
                        functions, "patient-portal", {"action": "get_prescription_history"} | extra
                    )
                    assert len(answer["prescriptions"]) == 20 and answer["nextCursor"]
                    if n >= args.warmup:
                        walls.append(wall)
                        inside.append(took)
                summary[name] = report(f"history ({name})", walls, inside, 50)
            save_summary("portal", summary)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
