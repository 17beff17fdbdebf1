"""billing-process latency (run by hand: `make bench-billing`).

A fresh local server with the test world (tests/support/rx_world.py) and localstripe on loopback as Stripe.

1. Purchase-intent creation: `purchase_tokens` without a payment method (a pending payment row, a Stripe customer
   on the first call, a PaymentIntent, its client secret), executed by the signed-in prescriber through
   `POST /v1/functions/billing-process/executions` with the official SDK.
2. Webhook handling through the function's domain (`Host: billing-process.functions.localhost`, raw HTTP as Stripe
   sends it): a signed `payment_intent.succeeded` for an intent confirmed at localstripe (signature check, the
   intent re-read from Stripe, payment + ledger + wallet + audit + event record in one transaction), then the same
   event again (a duplicate: signature check and one read). Target (issue 15): webhook p95 <= 50 ms.

Every figure includes localstripe's own time (each step calls it once or twice). Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

import requests
from stripe import WebhookSignature

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from appwrite.services.functions import Functions  # noqa: E402
from scripts.bench.common import machine_line  # noqa: E402
from scripts.bench.rx import report, timed  # noqa: E402
from scripts.bench.world import start_world  # noqa: E402
from tests.support import stripe_local  # noqa: E402
from tests.support.sdk import set_function_variable  # noqa: E402

PLAN = {"name": "100 tokens", "kind": "token_pack", "entity_type": "any", "tokens": 100, "amount_gbp": 1999,
        "active": True}  # fmt: skip


def deliver(session: requests.Session, url: str, event: dict, secret: str) -> tuple[float, dict]:
    payload = json.dumps(event, indent=2, sort_keys=True)
    headers = {
        "Host": "billing-process.functions.localhost",
        "Content-Type": "application/json",
        "Stripe-Signature": WebhookSignature.generate_signature_header(payload, secret),
    }
    started = time.perf_counter()
    response = session.post(url, data=payload.encode(), headers=headers, timeout=30)
    wall = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")
    return wall, response.json()


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--calls", type=int, default=150)
    cli.add_argument("--warmup", type=int, default=15)
    args = cli.parse_args()
    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-billing-") as tmp:
        server, world = start_world(Path(tmp))
        stripe = stripe_local.start()
        try:
            for key, value in {
                "STRIPE_SECRET_KEY": stripe_local.SECRET_KEY,
                "STRIPE_API_BASE": stripe.url,
                "STRIPE_WEBHOOK_SECRET": stripe.webhook_secret,
            }.items():
                set_function_variable(world.admin, "billing-process", key, value)
            world.tables.create("billing_plans", "tokens-100", PLAN)
            prescriber = Functions(world.people["prescriber"].client)
            walls, inside, intents = [], [], []
            for n in range(args.warmup + args.calls):
                body = {"action": "purchase_tokens", "planId": "tokens-100", "currency": "gbp"}
                wall, took, answer = timed(
                    prescriber, "billing-process", body | {"idempotencyKey": secrets.token_hex(8)}
                )
                intents.append(answer["payment"]["stripe_payment_intent_id"])
                if n >= args.warmup:
                    walls.append(wall)
                    inside.append(took)
            summary = {"purchase_intent": report("purchase", walls, inside, None)}

            api = stripe.client().v1.payment_intents
            url = server.endpoint.removesuffix("/v1") + "/stripe/webhook"
            session = requests.Session()
            first, again = [], []
            for n, intent in enumerate(intents):
                api.update(intent, params={"payment_method": "pm_card_visa"})
                confirmed = api.confirm(intent).to_dict()
                event = {"id": "evt_" + secrets.token_hex(12), "object": "event", "type": "payment_intent.succeeded",
                         "created": int(time.time()), "data": {"object": confirmed}}  # fmt: skip
                wall, answer = deliver(session, url, event, stripe.webhook_secret)
                assert answer["outcome"] == "paid", answer
                wall_again, answer = deliver(session, url, event, stripe.webhook_secret)
                assert answer["outcome"] == "duplicate", answer
                if n >= args.warmup:
                    first.append(wall)
                    again.append(wall_again)
            summary["webhook_applied"] = report("webhook", first, first, 50)
            summary["webhook_duplicate"] = report("duplicate", again, again, 50)
            print("(inside p50 of the webhooks is the wall time: a domain request is the execution)", flush=True)
            out = REPO / ".bench" / "billing.json"
            out.parent.mkdir(exist_ok=True)
            out.write_text(json.dumps(summary, indent=2))
        finally:
            stripe.stop()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
