"""Token spending benchmark (run by hand: `make bench-tokens`).

A fresh local server with the product's appwrite.json and the test world (tests/support/rx_world.py); no Stripe is
needed (wallets are funded with ledger credits, as a purchase would leave them).

1. prescription-create `create` (one item) by the signed-in prescriber, one at a time after a warm-up, measured
   side by side in one run: **charged** (clinic pricing of 1 token per item; the debit, the member's monthly spend
   and the wallet in the prescription's own transaction) and **free** (a clinic with no pricing: no wallet read or
   written). Target (issue 16): the charged create p95 <= 60 ms. Printed: both and their ratio.
2. Concurrent deductions on one clinic pool: a clinic on the Clinic plan, `--members` prescribers each calling
   `create` from their own thread (`--threads` at once) until `--calls` prescriptions are made; every one draws on
   the one pool (and appends to the clinic's one audit chain). Printed: prescriptions per second, charged and free
   (the same run against a clinic without pricing), and their ratio; then the ledger is verified.
Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from appwrite.services.functions import Functions  # noqa: E402
from scripts.bench.common import machine_line, save_summary  # noqa: E402
from scripts.bench.rx import report, timed  # noqa: E402
from scripts.bench.world import start_world  # noqa: E402
from tests.support.rx_world import World, uk_item  # noqa: E402

from rxcore import clinics  # noqa: E402
from rxcore.wallet import ledger, pricing  # noqa: E402

AT = "2026-01-01T00:00:00.000+00:00"


def fund(world: World, entity_type: str, entity_id: str, tokens: int) -> None:
    entry = ledger.Entry("credit", tokens, "benchmark funds", "bench", f"bench:{entity_type}:{entity_id}:{tokens}")
    world.tables.commit(ledger.post(world.tables, entity_type, entity_id, [entry], AT).operations)


def price(world: World, clinic_id: str) -> None:
    row = {"clinic_id": clinic_id, "base_per_item": 1, "controlled_surcharge": 4, "repeat_discount_percent": 0,
           "active": True, "updated_by": "bench", "updated_at": AT}  # fmt: skip
    world.tables.create(pricing.TABLE, pricing.row_id_for(clinic_id), row)


def sequential(world: World, who: str, clinic: str, patient: str, warmup: int, calls: int, target) -> dict:
    functions = Functions(world.people[who].client)
    walls, inside = [], []
    for n in range(warmup + calls):
        body = {"action": "create", "clinicId": world.clinics[clinic], "patientId": world.patients[patient]["$id"],
                "items": [uk_item()], "idempotencyKey": secrets.token_hex(8)}  # fmt: skip
        wall, took, _ = timed(functions, "prescription-create", body)
        if n >= warmup:
            walls.append(wall)
            inside.append(took)
    return report(f"{who[:9]}", walls, inside, target)


def pool_clinic(world: World, name: str, ods: str, members: int, on_plan: bool) -> tuple[str, list[str]]:
    owner = world.people["owner"]
    clinic = clinics.create_clinic(world.admin, admin_user_id=owner.id, name=name, country="UK", ods_code=ods,
                                   address="1 Bench Road, Leeds LS1 1AA")["$id"]  # fmt: skip
    world.clinics[name] = clinic
    people = []
    for n in range(members):
        key = f"{ods}-{n}"
        world.staff(key, name, f"Dr Bench {n}", "prescriber", "GMC", str(4000000 + n))
        people.append(key)
    world.patients[name] = clinics.add_patient(
        world.admin, clinic_id=clinic, today=date.today(),
        data={"given_name": "Bench", "family_name": "Patient", "date_of_birth": "1980-01-01",
              "address": "1 Bench Road", "postcode": "LS1 1AA"},
    )  # fmt: skip
    if on_plan:  # as billing-process leaves a clinic that subscribed (the subscription itself is not timed here)
        world.tables.create("billing_subscriptions", secrets.token_hex(8), {
            "entity_type": "clinic", "entity_id": clinic, "clinic_id": clinic, "user_id": owner.id,
            "plan_id": "clinic-plan", "currency": "gbp", "stripe_subscription_id": "sub_" + secrets.token_hex(6),
            "stripe_customer_id": "cus_bench", "status": "active", "cancel_at_period_end": False,
            "created_at": AT, "updated_at": AT})  # fmt: skip
    return clinic, people


def concurrent(world: World, name: str, people: list[str], calls: int, threads: int) -> tuple[float, int]:
    clinic, patient = world.clinics[name], world.patients[name]["$id"]
    clients = {who: Functions(world.people[who].client) for who in people}

    def one(n: int) -> int:
        who = people[n % len(people)]
        body = {"action": "create", "clinicId": clinic, "patientId": patient, "items": [uk_item()],
                "idempotencyKey": secrets.token_hex(8)}  # fmt: skip
        execution = clients[who].create_execution("prescription-create", json.dumps(body))
        return int(execution.responsestatuscode)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        codes = list(pool.map(one, range(calls)))
    elapsed = time.perf_counter() - started
    ok = codes.count(200)
    if ok != calls:
        raise RuntimeError(f"{name}: {calls - ok} of {calls} creates failed: {sorted(set(codes))}")
    return ok / elapsed, ok


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--calls", type=int, default=200)
    cli.add_argument("--warmup", type=int, default=20)
    cli.add_argument("--pool-calls", type=int, default=400)
    cli.add_argument("--members", type=int, default=20)
    cli.add_argument("--threads", type=int, default=16)
    args = cli.parse_args()
    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-tokens-") as tmp:
        server, world = start_world(Path(tmp))
        try:
            price(world, world.clinics["uk"])
            fund(world, "individual", world.people["prescriber"].id, 10 * (args.calls + args.warmup))
            summary = {"create_charged": sequential(world, "prescriber", "uk", "uk", args.warmup, args.calls, 60)}
            summary["create_free"] = sequential(world, "prescriber2", "uk2", "uk2", args.warmup, args.calls, None)
            ratio = summary["create_charged"]["p95_ms"] / summary["create_free"]["p95_ms"]
            print(f"charged / free create p95: {ratio:.2f}x", flush=True)

            pooled, people = pool_clinic(world, "pool", "P90001", args.members, on_plan=True)
            price(world, pooled)
            fund(world, "clinic", pooled, 10 * args.pool_calls)
            free, free_people = pool_clinic(world, "free", "P90002", args.members, on_plan=False)
            charged_rate, _ = concurrent(world, "pool", people, args.pool_calls, args.threads)
            free_rate, _ = concurrent(world, "free", free_people, args.pool_calls, args.threads)
            rates = f"{charged_rate:.1f} charged, {free_rate:.1f} free prescriptions/s"
            ratio = charged_rate / free_rate
            print(f"one pool, {args.threads} at once: {rates} (charged / free {ratio:.2f}x)", flush=True)
            problem = ledger.verify(world.tables, "clinic", pooled)
            print(f"pool ledger: {'verified' if problem is None else problem}; "
                  f"balance {ledger.balance(world.tables, 'clinic', pooled)}", flush=True)  # fmt: skip
            summary["pool"] = {"threads": args.threads, "members": args.members, "calls": args.pool_calls,
                               "charged_per_s": round(charged_rate, 1), "free_per_s": round(free_rate, 1),
                               "ledger_verified": problem is None}  # fmt: skip
            save_summary("tokens", summary)
        finally:
            server.stop()
    return 0 if summary["pool"]["ledger_verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
