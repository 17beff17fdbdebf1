"""Prescribing and dispensing latency benchmark (run by hand: `make bench-rx`).

A fresh local server with the product's appwrite.json and the test world (tests/support/rx_world.py: clinics,
practitioners, patients, a small catalogue). Each call is one synchronous `POST /v1/functions/{id}/executions`
through the official Python SDK as the signed-in practitioner, measured from the request to the parsed
answer, one at a time after a warm-up. Reported: p50, p95, p99 and mean of the wall time, and the p50 of the
execution's own `duration` (time inside the function as the server measures it).

  create    prescription-create `create`: one item, a new idempotency key each time
  sign      prescription-create `sign`: Ed25519 signature, PDF (reportlab) and upload
  verify    dispensing `verify` by number (signature check, audit of the read)
  dispense  dispensing `dispense` of a whole item of a freshly signed prescription
Targets (issue 5): p95 <= 60 ms for create and for dispense.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from appwrite.services.functions import Functions  # noqa: E402
from scripts.bench.common import machine_line, percentile  # noqa: E402
from scripts.bench.world import start_world  # noqa: E402
from tests.support.rx_world import uk_item  # noqa: E402


def timed(functions: Functions, function_id: str, body: dict) -> tuple[float, float, dict]:
    started = time.perf_counter()
    execution = functions.create_execution(function_id, json.dumps(body))
    answer = json.loads(execution.responsebody)
    wall = (time.perf_counter() - started) * 1000
    if int(execution.responsestatuscode) != 200:
        raise RuntimeError(f"{function_id} answered {execution.responsestatuscode}: {answer}")
    return wall, execution.duration * 1000, answer


def report(name: str, walls: list[float], inside: list[float], target: float | None) -> dict:
    row = {
        "calls": len(walls),
        "p50_ms": round(percentile(walls, 50), 1),
        "p95_ms": round(percentile(walls, 95), 1),
        "p99_ms": round(percentile(walls, 99), 1),
        "mean_ms": round(statistics.fmean(walls), 1),
        "inside_function_p50_ms": round(percentile(inside, 50), 1),
    }
    verdict = (
        "" if target is None else f" (target p95 <= {target} ms: {'met' if row['p95_ms'] <= target else 'NOT met'})"
    )
    print(
        f"{name:9s} p50 {row['p50_ms']:6.1f} ms  p95 {row['p95_ms']:6.1f} ms  p99 {row['p99_ms']:6.1f} ms  "
        f"mean {row['mean_ms']:6.1f} ms  inside p50 {row['inside_function_p50_ms']:6.1f} ms{verdict}",
        flush=True,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="measured calls per action (default 200)")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-rx-") as tmp:
        server, world = start_world(Path(tmp))
        try:
            prescriber = Functions(world.people["prescriber"].client)
            pharmacist = Functions(world.people["pharmacist"].client)
            base = {
                "action": "create",
                "clinicId": world.clinics["uk"],
                "patientId": world.patients["uk"]["$id"],
                "items": [uk_item()],
            }
            total = args.warmup + args.calls
            results: dict[str, tuple[list[float], list[float]]] = {
                k: ([], []) for k in ("create", "sign", "verify", "dispense")
            }
            drafts = []
            print(f"{total} calls of each action ({args.warmup} warm-up calls not counted) ...", flush=True)
            for n in range(total):
                wall, inside, answer = timed(prescriber, "prescription-create", base | {"idempotencyKey": f"bench-{n}"})
                drafts.append(answer)
                if n >= args.warmup:
                    results["create"][0].append(wall)
                    results["create"][1].append(inside)
            signed = []
            for n, draft in enumerate(drafts):
                wall, inside, answer = timed(
                    prescriber,
                    "prescription-create",
                    {"action": "sign", "prescriptionId": draft["prescription"]["$id"]},
                )
                signed.append(answer)
                if n >= args.warmup:
                    results["sign"][0].append(wall)
                    results["sign"][1].append(inside)
            for n, answer in enumerate(signed):
                number = answer["prescription"]["number"]
                wall, inside, _ = timed(pharmacist, "dispensing", {"action": "verify", "number": number})
                if n >= args.warmup:
                    results["verify"][0].append(wall)
                    results["verify"][1].append(inside)
                body = {
                    "action": "dispense",
                    "number": number,
                    "idempotencyKey": f"bench-{n}",
                    "items": [{"itemId": answer["items"][0]["$id"], "quantity": 21}],
                }
                wall, inside, done = timed(pharmacist, "dispensing", body)
                assert done["prescription"]["status"] == "dispensed"
                if n >= args.warmup:
                    results["dispense"][0].append(wall)
                    results["dispense"][1].append(inside)
            targets = {"create": 60, "dispense": 60}
            summary = {
                name: report(name, walls, inside, targets.get(name)) for name, (walls, inside) in results.items()
            }
            out = REPO / ".bench" / "rx.json"
            out.parent.mkdir(exist_ok=True)
            out.write_text(json.dumps(summary, indent=2))
            print(f"written to {out.relative_to(REPO)}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
