"""Consultations benchmark (run by hand: `make bench-consult`).

A fresh local server with the product's appwrite.json and the test world (tests/support/rx_world.py). Every call is
an execution of appointment-booking by a signed-in user, through the official SDK, as the web app makes it.

Set-up: `--doctors` prescribers each publish four weeks of weekday slots (09:00–17:00 London, 30 minutes: 320 each,
16,000 for 50 doctors), a week per request.

1. **Booking**: `--rooms` patients each book one slot (after a warm-up), one at a time: p50/p95/p99, beside the same
   patients' `rooms` call (one indexed read) in the same run. Target (issue 18): booking p95 <= 60 ms.
2. **Browse**: a patient browses one week of every doctor's free slots (the first page of 50, soonest first), and
   one specialty's: p95. Target: <= 50 ms.
3. **Chat**: the bookings are paid (each `consultation.paid` message written as billing-process writes it; the
   function books the appointment and opens its room), so `--rooms` rooms are active. Every patient holds a
   websocket subscribed to `chat_messages` with their session; doctors send `--messages` messages through the
   function at `--rate` a second across the rooms (open loop: 20/s is each of 200 rooms writing every 10 s), to
   rooms chosen in turn. Measured: from the start of the send call to the patient's socket receiving the row,
   p50/p95/p99. Target: p99 <= 100 ms with 200 active rooms. Run it at higher rates to find where it saturates.
Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import websockets

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from appwrite.query import Query  # noqa: E402
from appwrite.services.functions import Functions  # noqa: E402
from scripts.bench.common import machine_line, percentile, save_summary  # noqa: E402
from scripts.bench.rx import report, timed  # noqa: E402
from scripts.bench.world import start_world  # noqa: E402
from tests.support.rx_world import World  # noqa: E402

from rxcore import outbox  # noqa: E402

FUNCTION = "appointment-booking"
INTAKE = {"consultationType": "video", "symptoms": "benchmark"}


def next_monday() -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=7 - today.weekday())


def publish(world: World, doctors: int) -> list[str]:
    keys = []
    first = next_monday()
    for n in range(doctors):
        key = f"doc{n}"
        world.staff(key, "uk", f"Dr Bench {n}", "prescriber", "GMC", str(5000000 + n))
        for week in range(4):  # a request is one transaction: a week at a time
            monday = first + timedelta(days=7 * week)
            body = {"action": "publish_slots", "clinicId": world.clinics["uk"], "minutes": 30,
                    "timeZone": "Europe/London", "from": monday.isoformat(),
                    "to": (monday + timedelta(days=4)).isoformat(),
                    "days": ["mon", "tue", "wed", "thu", "fri"], "dailyStart": "09:00", "dailyEnd": "17:00",
                    "specialty": "general" if n % 2 else "dermatology"}  # fmt: skip
            timed(Functions(world.people[key].client), FUNCTION, body)
        keys.append(key)
        if (n + 1) % 10 == 0:
            print(f"  {n + 1}/{doctors} doctors published", flush=True)
    return keys


def free_slots(world: World, count: int) -> list[dict]:
    rows = world.tables.list("consult_slots", [Query.equal("status", "free"), Query.order_asc("starts_at"),
                                               Query.limit(count)])  # fmt: skip
    assert len(rows) == count, "not enough free slots"
    return rows


def book_all(world: World, patients: list[str], slots: list[dict], warmup: int) -> tuple[dict, dict, list[str]]:
    walls, inside, reads, read_inside, booked = [], [], [], [], []
    for n, (who, slot) in enumerate(zip(patients, slots, strict=True)):
        functions = Functions(world.people[who].client)
        body = {"action": "book", "slotId": slot["$id"], "idempotencyKey": secrets.token_hex(8), "intake": INTAKE}
        wall, took, answer = timed(functions, FUNCTION, body)
        booked.append(answer["appointment"]["$id"])
        read_wall, read_took, _ = timed(functions, FUNCTION, {"action": "rooms"})
        if n >= warmup:
            walls.append(wall)
            inside.append(took)
            reads.append(read_wall)
            read_inside.append(read_took)
    return report("book", walls, inside, 60), report("rooms", reads, read_inside, None), booked


def browse(world: World, who: str, calls: int, specialty: str | None) -> dict:
    functions = Functions(world.people[who].client)
    start = datetime.combine(next_monday() + timedelta(days=7), datetime.min.time(), UTC)
    body = {"action": "browse", "from": start.isoformat(), "to": (start + timedelta(days=7)).isoformat(),
            "limit": 50, "timeZone": "Australia/Sydney"} | ({"specialty": specialty} if specialty else {})  # fmt: skip
    walls, inside = [], []
    for n in range(calls + 10):
        wall, took, answer = timed(functions, FUNCTION, body)
        assert len(answer["slots"]) == 50
        if n >= 10:
            walls.append(wall)
            inside.append(took)
    return report("browse" if specialty is None else "browse/sp", walls, inside, 50)


def pay_all(world: World, appointments: list[str]) -> None:
    """What billing-process writes when each order is paid; the function books them from the outbox."""
    now = datetime.now(UTC)
    for appointment_id in appointments:
        ids = {"appointmentId": appointment_id, "paymentId": f"bench-{appointment_id[:8]}"}
        message = outbox.Message("consultation.paid", f"consultation.paid:{appointment_id}", ids)
        world.tables.commit([outbox.message_operation(world.tables, message, now)])
    deadline = time.monotonic() + 300
    while True:
        booked = len(world.tables.list("chat_rooms", [Query.limit(5000), Query.select(["$id"])]))
        if booked >= len(appointments):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {booked} of {len(appointments)} bookings were confirmed")
        time.sleep(0.5)


def session_of(world: World, who: str) -> str:
    return world.people[who].client._global_headers["x-appwrite-session"]


async def chat(world: World, rooms: list[dict], messages: int, rate: float) -> list[float]:
    url = world.server.endpoint.replace("http://", "ws://") + f"/realtime?project={world.server.project_id}"
    sent_at: dict[str, float] = {}
    arrived: dict[str, float] = {}
    sockets = []
    for room in rooms:
        ws = await websockets.connect(url, max_queue=None, additional_headers={"x-appwrite-session": room["session"]})
        await ws.recv()  # connected
        subscribe = [{"subscriptionId": "chat", "channels": ["databases.main.tables.chat_messages.rows"]}]
        await ws.send(json.dumps({"type": "subscribe", "data": subscribe}))
        await ws.recv()  # ack
        sockets.append(ws)

    async def listen(ws) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "event" and message["data"]["events"][0].endswith(".create"):
                arrived.setdefault(message["data"]["payload"]["text"], time.perf_counter())

    listeners = [asyncio.ensure_future(listen(ws)) for ws in sockets]
    lock = threading.Lock()

    def send(n: int) -> None:
        room = rooms[n % len(rooms)]
        text = f"bench message {n} {secrets.token_hex(4)}"
        body = {"action": "send_message", "appointmentId": room["id"], "text": text}
        with lock:
            sent_at[text] = time.perf_counter()
        execution = room["doctor"].create_execution(FUNCTION, json.dumps(body))
        if int(execution.responsestatuscode) != 200:
            raise RuntimeError(execution.responsebody)

    def send_all() -> None:  # open loop: a message every 1/rate s whatever the answers, as rooms of people chat
        started = time.perf_counter()
        with ThreadPoolExecutor(32) as pool:
            futures = []
            for n in range(messages):
                delay = started + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(send, n))
            for future in futures:
                future.result()

    await asyncio.to_thread(send_all)  # the sockets keep listening on this loop meanwhile
    deadline = time.monotonic() + 30
    while len(arrived) < len(sent_at) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for task in listeners:
        task.cancel()
    for ws in sockets:
        await ws.close()
    lost = len(sent_at) - len(arrived)
    if lost:
        raise RuntimeError(f"{lost} messages never reached their patient")
    return [(arrived[text] - started) * 1000 for text, started in sent_at.items()]


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--doctors", type=int, default=50)
    cli.add_argument("--rooms", type=int, default=200)
    cli.add_argument("--warmup", type=int, default=20)
    cli.add_argument("--browse-calls", type=int, default=200)
    cli.add_argument("--messages", type=int, default=1000)
    cli.add_argument("--rate", type=float, default=20.0, help="messages per second across all rooms")
    args = cli.parse_args()
    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-consult-") as tmp:
        server, world = start_world(Path(tmp))
        try:
            doctors = publish(world, args.doctors)
            total = sum(1 for _ in world.tables.each("consult_slots", [Query.select(["$id"])]))
            print(f"{args.doctors} doctors published {total} slots", flush=True)
            patients = [f"pat{n}" for n in range(args.rooms + args.warmup)]
            for key in patients:
                world.user(key, f"Patient {key}")
            slots = free_slots(world, len(patients))
            summary: dict = {}
            summary["book"], summary["rooms_read"], booked = book_all(world, patients, slots, args.warmup)
            print(f"book / rooms p95: {summary['book']['p95_ms'] / summary['rooms_read']['p95_ms']:.2f}x", flush=True)
            summary["browse"] = browse(world, patients[0], args.browse_calls, None)
            summary["browse_specialty"] = browse(world, patients[0], args.browse_calls, "dermatology")
            chosen = booked[-args.rooms :]
            pay_all(world, chosen)
            doctor_of = {world.people[key].id: Functions(world.people[key].client) for key in doctors}
            rooms = []
            for who, appointment_id in zip(patients[-args.rooms :], chosen, strict=True):
                row = world.tables.get("appointments", appointment_id)
                rooms.append({"id": appointment_id, "session": session_of(world, who),
                              "doctor": doctor_of[row["doctor_id"]]})  # fmt: skip
            print(f"{len(rooms)} rooms active; {args.messages} messages at {args.rate:g}/s", flush=True)
            delays = asyncio.run(chat(world, rooms, args.messages, args.rate))
            row = {"rooms": len(rooms), "messages": len(delays), "rate_per_s": args.rate,
                   "p50_ms": round(percentile(delays, 50), 1), "p95_ms": round(percentile(delays, 95), 1),
                   "p99_ms": round(percentile(delays, 99), 1)}  # fmt: skip
            verdict = "met" if row["p99_ms"] <= 100 else "NOT met"
            print(f"chat send → patient's realtime event: p50 {row['p50_ms']} ms  p95 {row['p95_ms']} ms  "
                  f"p99 {row['p99_ms']} ms (target p99 <= 100 ms: {verdict})", flush=True)  # fmt: skip
            summary["chat"] = row
            save_summary("consult", summary)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
