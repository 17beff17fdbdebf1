"""notification-send throughput and latency (run by hand: `make bench-notify`).

A fresh local server with the test world and the provider stand-in (scripts/provider_stand_in.py) in this process.
`--count` outbox rows (`wallet.low_balance` for one prescriber: one e-mail each, to the real `sendgrid` client
inside the function, pointed at the stand-in) are written in transactions of 100, as producers write them; each
row's create event runs notification-send. Measured until every delivery is `sent`:

  throughput   deliveries sent per second, from the first outbox write to the last acceptance by the stand-in
  latency      per message, from its outbox row's `created_at` to its delivery's `sent_at` (p50, p95)

Targets (issue 17): >= 200 messages/s; p95 <= 2 s when not rate limited. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from appwrite.query import Query  # noqa: E402
from scripts.bench.common import machine_line, percentile  # noqa: E402
from scripts.bench.world import start_world  # noqa: E402
from tests.support import provider_stand_in  # noqa: E402
from tests.support.sdk import set_function_variable  # noqa: E402

from rxcore import outbox  # noqa: E402


def parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--count", type=int, default=10_000)
    cli.add_argument("--timeout", type=float, default=900.0)
    args = cli.parse_args()
    print(machine_line(), flush=True)
    stand_in = provider_stand_in.start()
    with tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp:
        server, world = start_world(Path(tmp))
        try:
            for key, value in {"SENDGRID_API_KEY": "SG.bench", "SENDGRID_API_HOST": stand_in.url,
                               "RX_NOTIFY_EMAIL_TEMPLATES": json.dumps({"wallet.low_balance": "d-bench"}),
                               "RX_NOTIFY_PROVIDER_RATE": "100000"}.items():  # fmt: skip
                set_function_variable(world.admin, "notification-send", key, value)
            prescriber = world.people["prescriber"].id
            now = datetime.now(UTC)
            rows = []
            for n in range(args.count):
                message = outbox.Message("wallet.low_balance", f"wallet.low_balance:bench:{secrets.token_hex(8)}:{n}",
                                         {"entityType": "individual", "entityId": prescriber, "balance": 5,
                                          "threshold": 10})  # fmt: skip
                rows.append(world.tables.op("create", outbox.NOTIFICATIONS, outbox.message_id(message.key),
                                            outbox.message_row(message, now)))  # fmt: skip
            started = time.perf_counter()
            for start in range(0, len(rows), 100):  # as producers write them: in transactions (each row an event)
                world.tables.commit(rows[start : start + 100])
            written = time.perf_counter() - started
            print(f"{args.count} outbox rows written in {written:.1f} s", flush=True)
            sent, last_report = 0, 0.0
            while sent < args.count:
                if time.perf_counter() - started > args.timeout:
                    print(f"timed out with {sent} of {args.count} sent", flush=True)
                    break
                time.sleep(1)
                sent = sum(1 for r in stand_in.requests("sendgrid") if not r["failed"])
                if time.perf_counter() - last_report > 10:
                    print(f"  {sent} / {args.count} sent after {time.perf_counter() - started:.0f} s", flush=True)
                    last_report = time.perf_counter()
            elapsed = time.perf_counter() - started
            deliveries = list(world.tables.each("notification_deliveries", [Query.equal("status", "sent")]))
            created = {r["$id"]: parse(r["created_at"]) for r in world.tables.each(outbox.NOTIFICATIONS, [Query.equal(
                "topic", "wallet.low_balance")])}  # fmt: skip
            waits = [(parse(d["sent_at"]) - created[d["message_id"]]).total_seconds()
                     for d in deliveries if d["message_id"] in created]  # fmt: skip
            rate = sent / elapsed
            print(f"throughput: {rate:.1f} messages/s ({sent} in {elapsed:.1f} s; target >= 200: "
                  f"{'met' if rate >= 200 else 'NOT met'})", flush=True)  # fmt: skip
            if waits:
                p50, p95 = percentile(waits, 50), percentile(waits, 95)
                print(f"latency outbox -> provider: p50 {p50:.2f} s, p95 {p95:.2f} s (target p95 <= 2 s: "
                      f"{'met' if p95 <= 2 else 'NOT met'})", flush=True)  # fmt: skip
            out = REPO / ".bench" / "notify.json"
            out.parent.mkdir(exist_ok=True)
            summary = {"count": args.count, "sent": sent, "seconds": round(elapsed, 1), "per_second": round(rate, 1)}
            if waits:
                summary |= {
                    "latency_p50_s": round(percentile(waits, 50), 2),
                    "latency_p95_s": round(percentile(waits, 95), 2),
                }
            out.write_text(json.dumps(summary, indent=2))
        finally:
            server.stop()
            stand_in.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
