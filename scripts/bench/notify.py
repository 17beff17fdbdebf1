"""notification-send throughput and latency (run by hand: `make bench-notify`).

A fresh local server with the test world and the provider stand-in (tests/support/provider_stand_in.py) in this
process. Every message is a `wallet.low_balance` for one prescriber: one e-mail each, through the real `sendgrid`
client inside the function, pointed at the stand-in. Two phases, each measured until every delivery is `sent`:

  burst    `--count` outbox rows written at once in transactions of 100, as a bulk producer writes them (each row's
           create event runs notification-send): throughput = messages sent per second from the first write to
           the last acceptance by the stand-in. Its latencies are mostly queueing (a queue `--count` deep).
  paced    `--rate` messages per second for `--seconds`, a few per transaction, as a clinic's day produces them:
           latency = from each outbox row's `created_at` to its delivery's `sent_at` (p50, p95, p99).

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
from scripts.bench.common import machine_line, percentile, save_summary  # noqa: E402
from scripts.bench.world import start_world  # noqa: E402
from tests.support import provider_stand_in  # noqa: E402
from tests.support.sdk import set_function_variable  # noqa: E402

from rxcore import outbox  # noqa: E402


def parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def message_op(world, prescriber: str, phase: str, n: int) -> dict:
    key = f"wallet.low_balance:bench-{phase}:{secrets.token_hex(8)}:{n}"
    message = outbox.Message("wallet.low_balance", key, {"entityType": "individual", "entityId": prescriber,
                                                         "balance": 5, "threshold": 10})  # fmt: skip
    row = outbox.message_row(message, datetime.now(UTC))
    return world.tables.op("create", outbox.NOTIFICATIONS, outbox.message_id(key), row)


def wait_sent(stand_in, total: int, started: float, timeout: float) -> int:
    """Until the stand-in has accepted `total` e-mails in all (progress every 10 s); how many it has."""
    sent, last_report = 0, time.perf_counter()
    while sent < total:
        if time.perf_counter() - started > timeout:
            print(f"timed out with {sent} of {total} sent", flush=True)
            break
        time.sleep(0.5)
        sent = sum(1 for r in stand_in.requests("sendgrid") if not r["failed"])
        if time.perf_counter() - last_report > 10:
            print(f"  {sent} / {total} sent after {time.perf_counter() - started:.0f} s", flush=True)
            last_report = time.perf_counter()
    return sent


def latencies(world, phase: str) -> list[float]:
    """Seconds from each message's outbox row to its delivery's acceptance, for one phase."""
    queries = [Query.equal("topic", "wallet.low_balance"), Query.select(["$id", "key", "created_at"])]
    rows = world.tables.each(outbox.NOTIFICATIONS, queries)
    created = {r["$id"]: parse(r["created_at"]) for r in rows if f"bench-{phase}:" in r["key"]}
    return [(parse(d["sent_at"]) - created[d["message_id"]]).total_seconds()
            for d in world.tables.each("notification_deliveries", [Query.equal("status", "sent")])
            if d["message_id"] in created]  # fmt: skip


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--count", type=int, default=10_000)
    cli.add_argument("--rate", type=float, default=100.0, help="paced phase: messages per second")
    cli.add_argument("--seconds", type=float, default=30.0, help="paced phase: how long")
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
            burst = [message_op(world, prescriber, "burst", n) for n in range(args.count)]
            started = time.perf_counter()
            for at in range(0, len(burst), 100):  # as bulk producers write them: in transactions (each row an event)
                world.tables.commit(burst[at : at + 100])
            print(f"burst: {args.count} outbox rows written in {time.perf_counter() - started:.1f} s", flush=True)
            sent = wait_sent(stand_in, args.count, started, args.timeout)
            elapsed = time.perf_counter() - started
            rate = sent / elapsed
            print(f"burst throughput: {rate:.1f} messages/s ({sent} in {elapsed:.1f} s; target >= 200: "
                  f"{'met' if rate >= 200 else 'NOT met'})", flush=True)  # fmt: skip
            queued = latencies(world, "burst")
            print(f"burst latency (queueing): p50 {percentile(queued, 50):.2f} s, p95 {percentile(queued, 95):.2f} s",
                  flush=True)  # fmt: skip

            paced_count = int(args.rate * args.seconds)
            per_write = max(1, round(args.rate / 20))  # 20 writes a second
            began = time.perf_counter()
            for n in range(0, paced_count, per_write):
                due = began + n / args.rate
                time.sleep(max(0.0, due - time.perf_counter()))
                world.tables.commit([message_op(world, prescriber, "paced", n + k) for k in range(per_write)])
            late = time.perf_counter() - began - args.seconds
            print(f"paced: {paced_count} messages at {args.rate}/s in writes of {per_write} "
                  f"(the writer ended {late:+.2f} s from schedule)", flush=True)  # fmt: skip
            wait_sent(stand_in, args.count + paced_count, began, args.timeout)
            waits = latencies(world, "paced")
            p50, p95, p99 = (percentile(waits, q) for q in (50, 95, 99))
            print(f"paced latency outbox -> provider: p50 {p50:.2f} s, p95 {p95:.2f} s, p99 {p99:.2f} s "
                  f"(target p95 <= 2 s: {'met' if p95 <= 2 else 'NOT met'})", flush=True)  # fmt: skip
            save_summary("notify", {
                "count": args.count, "sent": sent, "seconds": round(elapsed, 1), "per_second": round(rate, 1),
                "burst_latency_p50_s": round(percentile(queued, 50), 2),
                "burst_latency_p95_s": round(percentile(queued, 95), 2),
                "paced_rate": args.rate, "paced_count": paced_count, "paced_latency_p50_s": round(p50, 2),
                "paced_latency_p95_s": round(p95, 2), "paced_latency_p99_s": round(p99, 2),
            })  # fmt: skip
        finally:
            server.stop()
            stand_in.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
