"""patient-import benchmark (run by hand: `make bench-patients`).

A fresh local server with the product's appwrite.json and the test world; a generated CSV of 100,000 valid UK
patients (scripts/make_patient_test_data.py --rows, cached under .bench/) uploaded to the `patient_imports`
bucket by the clinic's owner, then the real patient-import function executed asynchronously through the API.
Timed from the execution request until the batch is completed, with the batch's progress printed as it goes.
Target (issue 6): 100,000 rows <= 30 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from appwrite.query import Query  # noqa: E402
from appwrite.services.functions import Functions  # noqa: E402
from scripts import make_patient_test_data  # noqa: E402
from scripts.bench.common import machine_line  # noqa: E402
from scripts.bench.world import start_world  # noqa: E402


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--rows", type=int, default=100_000)
    args = cli.parse_args()
    print(machine_line(), flush=True)
    path = REPO / ".bench" / f"patients-{args.rows}.csv"
    if not path.exists():
        make_patient_test_data.main(["--rows", str(args.rows), "--out", str(path)])
    print(f"file: {path.name}, {path.stat().st_size / 1e6:.1f} MB, {args.rows:,} rows", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-patients-") as tmp:
        server, world = start_world(Path(tmp))
        try:
            owner = world.people["owner"].client
            file_id = world.upload_patients(path)
            body = make_patient_test_data.import_request(world.clinics["uk"], file_id)
            functions = Functions(owner)
            started = time.perf_counter()
            execution = functions.create_execution("patient-import", json.dumps(body), xasync=True)
            batch, last_print = None, 0.0
            while True:
                time.sleep(0.5)
                execution = functions.get_execution("patient-import", execution.id)
                status = getattr(execution.status, "value", execution.status)
                found = world.tables.list("patient_imports", [Query.equal("file_id", file_id), Query.limit(1)])
                batch = found[0] if found else None
                elapsed = time.perf_counter() - started
                if batch and elapsed - last_print >= 3:
                    print(f"  {elapsed:5.1f} s: {batch['rows']:,} rows, {batch['created']:,} created", flush=True)
                    last_print = elapsed
                if status in ("completed", "failed"):
                    break
            total = time.perf_counter() - started
            if status != "completed" or batch is None or batch["status"] != "completed":
                print(f"import failed: {status} {execution.responsestatuscode} batch={batch}")
                print(execution.logs[-2000:], execution.errors[-3000:], sep="\n")
                return 1
            clinic_rows = [Query.equal("clinic_id", world.clinics["uk"]), Query.select(["$id"])]
            # Appwrite caps `total` at 5,000, so count by paging through ids
            counted = sum(1 for _ in world.tables.each("patients", clinic_rows, page=5000))
            print(
                f"import of {args.rows:,} rows: {total:.1f} s wall = {args.rows / total:,.0f} rows/s; batch "
                f"created {batch['created']:,}, failed {batch['failed']:,}; patients in the clinic: {counted:,} "
                f"(target <= 30 s: {'met' if total <= 30 else 'NOT met'})",
                flush=True,
            )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
