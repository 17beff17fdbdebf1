"""Function and realtime benchmarks on the local server (run by hand: `make bench-functions`).

1. Warm overhead of an empty function through `POST /v1/functions/empty/executions` (synchronous), measured
   by the client over keep-alive HTTP: p50 / p99 over N executions after a warm-up.
2. Cold start: the same call right after the function's warm workers were dropped (changing a variable
   drops them), minus nothing: the whole first-call latency, median over several rounds.
3. Realtime fan-out: S websocket subscribers on one table's rows channel; one row written through the REST
   API; the delay from the write's response to each subscriber receiving the event, p50 / p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
import websockets

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from scripts.bench.common import machine_line, percentile  # noqa: E402
from tests.support.local_server import LocalServer, free_port  # noqa: E402


def warm_overhead(session: requests.Session, base: str, count: int) -> list[float]:
    for _ in range(30):
        session.post(f"{base}/functions/empty/executions", json={}).raise_for_status()
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.post(f"{base}/functions/empty/executions", json={})
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 201 and response.json()["responseStatusCode"] == 204, response.text
    return timings


def cold_starts(session: requests.Session, base: str, rounds: int) -> list[float]:
    timings = []
    variable = session.post(f"{base}/functions/empty/variables", json={"key": "ROUND", "value": "0"}).json()
    for i in range(rounds):
        session.put(
            f"{base}/functions/empty/variables/{variable['$id']}", json={"key": "ROUND", "value": str(i)}
        ).raise_for_status()  # drops the warm workers
        started = time.perf_counter()
        response = session.post(f"{base}/functions/empty/executions", json={})
        timings.append((time.perf_counter() - started) * 1000)
        assert response.json()["responseStatusCode"] == 204
    return timings


async def fan_out(server: LocalServer, session: requests.Session, subscribers: int, writes: int) -> list[float]:
    base = server.endpoint
    session.post(f"{base}/tablesdb", json={"databaseId": "rt", "name": "Realtime"}).raise_for_status()
    session.post(
        f"{base}/tablesdb/rt/tables",
        json={
            "tableId": "chat",
            "name": "Chat",
            "permissions": ['read("any")'],
            "columns": [{"key": "text", "type": "varchar", "size": 50, "required": True}],
        },
    ).raise_for_status()
    url = base.replace("http://", "ws://") + f"/realtime?project={server.project_id}"
    sockets = []
    for i in range(subscribers):
        ws = await websockets.connect(url, max_queue=None)
        await ws.recv()  # connected
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "data": [{"subscriptionId": f"s{i}", "channels": ["databases.rt.tables.chat.rows"]}],
                }
            )
        )
        await ws.recv()  # ack
        sockets.append(ws)
    delays: list[float] = []

    async def wait_event(ws, written_at: list[float]) -> None:
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "event":
                delays.append((time.perf_counter() - written_at[0]) * 1000)
                return

    for n in range(writes):
        written_at = [0.0]
        waiters = [asyncio.ensure_future(wait_event(ws, written_at)) for ws in sockets]
        await asyncio.sleep(0.05)
        written_at[0] = time.perf_counter()
        row = {"rowId": f"m{n}", "data": {"text": f"message {n}"}}
        response = await asyncio.to_thread(session.post, f"{base}/tablesdb/rt/tables/chat/rows", json=row)
        response.raise_for_status()
        await asyncio.wait_for(asyncio.gather(*waiters), 30)
    for ws in sockets:
        await ws.close()
    return delays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=500)
    parser.add_argument("--cold-rounds", type=int, default=10)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--writes", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-functions-"))
    server = LocalServer(workdir / "data", free_port()).start(
        ["--appwrite-json", str(REPO / "scripts" / "bench" / "functions" / "appwrite.json")]
    )
    session = requests.Session()
    session.headers.update({"X-Appwrite-Project": server.project_id, "X-Appwrite-Key": server.api_key})
    try:
        warm = warm_overhead(session, server.endpoint, args.executions)
        print(
            f"warm empty execution (sync, {args.executions} runs): p50 {percentile(warm, 50):.2f} ms, "
            f"p99 {percentile(warm, 99):.2f} ms (targets 5 / 20)",
            flush=True,
        )
        cold = cold_starts(session, server.endpoint, args.cold_rounds)
        print(
            f"cold start (first call after dropping the workers, {args.cold_rounds} rounds): median "
            f"{statistics.median(cold):.0f} ms, max {max(cold):.0f} ms (target 300)",
            flush=True,
        )
        delays = asyncio.run(fan_out(server, session, args.subscribers, args.writes))
        print(
            f"realtime fan-out ({args.subscribers} subscribers x {args.writes} writes = {len(delays)} deliveries): "
            f"p50 {percentile(delays, 50):.1f} ms, p99 {percentile(delays, 99):.1f} ms (target p99 150)",
            flush=True,
        )
    finally:
        server.stop()
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
