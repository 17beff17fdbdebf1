"""Online consultations end to end, on a server of their own (its clock moves): doctors publish slots, patients
book and pay through billing-process and localstripe's signed webhook, the booking's chat room opens, unpaid holds
expire on the schedule, cancellations refund, and the chat is private to its two members. Everything runs in the
real functions, called as signed-in users through the official SDK (the chat's realtime through the web SDK)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from appwrite.client import Client
from appwrite.query import Query
from appwrite.services.tables_db import TablesDB

from rxcore.outbox import NOTIFICATIONS
from tests.support import stripe_local
from tests.support.local_server import REPO, LocalServer, free_port
from tests.support.rx_world import PASSWORD, build

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
NODE_DIR = Path(__file__).resolve().parents[1] / "node"
INTAKE = {"consultationType": "video", "symptoms": "A cough for two weeks", "currentMedicines": "none"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from scripts import apply_schema

    server = LocalServer(tmp_path_factory.mktemp("consult") / "data", free_port()).start(
        ["--appwrite-json", str(REPO / "appwrite.json"), "--local-control"]
    )
    assert apply_schema.main(["--credentials", str(server.data_dir / "credentials.json")]) == 0
    admin = Client().set_endpoint(server.endpoint).set_project(server.project_id).set_key(server.api_key)
    world = build(server, admin)
    with stripe_local.serving_billing(server, admin) as stripe_server:
        world.stripe = stripe_server
        yield world
    server.stop()


def book_call(world, who: str, action: str, **body):
    return world.execute(who, "appointment-booking", {"action": action} | body)


def server_now(world) -> datetime:
    return world.server.now()


def advance(world, seconds: float) -> None:
    world.server.advance(seconds)


def wait_until(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)
    return result


def slot_at(world, who: str = "prescriber", minutes_ahead: int = 60 * 48, length: int = 30) -> dict:
    """One new slot of `who`'s, on a quarter hour about `minutes_ahead` from the server's now."""
    start = server_now(world) + timedelta(minutes=minutes_ahead)
    start = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
    clinic = "au" if who.startswith("au_") else "uk"
    while True:
        code, answer = book_call(world, who, "publish_slots", clinicId=world.clinics[clinic], minutes=length,
                                 timeZone="Europe/London", startsAt=start.isoformat(), specialty="general")  # fmt: skip
        if code != 409:
            assert code == 200, answer
            return answer["slots"][0]
        start += timedelta(minutes=30)  # an earlier test's slot is there


def patient(world, key: str) -> str:
    if key not in world.people:
        world.user(key, f"Patient {key}")
    return key


def book(world, who: str, slot_id: str, key: str | None = None, **extra):
    body = {"slotId": slot_id, "idempotencyKey": key or secrets.token_hex(8), "intake": INTAKE,
            "timeZone": "Australia/Brisbane"} | extra  # fmt: skip
    return book_call(world, who, "book", **body)


def pay(world, who: str, appointment_id: str) -> str:
    """Ask billing-process for the order and pay it as Stripe.js would; answers the payment intent id."""
    code, order = world.execute(
        who, "billing-process", {"action": "consultation_order", "appointmentId": appointment_id}
    )
    assert code == 200 and order["clientSecret"], order
    intent = order["payment"]["stripe_payment_intent_id"]
    intents = world.stripe.client().v1.payment_intents
    intents.update(intent, params={"payment_method": "pm_card_visa"})
    intents.confirm(intent)
    return intent


def appointment(world, appointment_id: str) -> dict:
    return world.tables.get("appointments", appointment_id)


def booked(world, who: str, doctor: str = "prescriber") -> dict:
    """A new appointment of `who` with `doctor`, paid and booked (its room open)."""
    slot = slot_at(world, doctor)
    code, held = book(world, who, slot["$id"])
    assert code == 200, held
    pay(world, who, held["appointment"]["$id"])
    return wait_until(lambda: (row := appointment(world, held["appointment"]["$id"]))["status"] == "booked" and row)


# --- availability ----------------------------------------------------------------------------------------------------
def test_bulk_slots_across_the_spring_change_are_shown_in_the_viewers_zone(world):
    body = {"clinicId": world.clinics["uk"], "minutes": 30, "timeZone": "Europe/London", "from": "2027-03-22",
            "to": "2027-04-02", "days": ["mon", "tue", "wed", "thu", "fri"], "dailyStart": "09:00",
            "dailyEnd": "10:30", "breaks": [{"start": "09:30", "end": "10:00"}],
            "specialty": "dermatology"}  # fmt: skip
    code, made = book_call(world, "prescriber", "publish_slots", **body)
    assert code == 200 and made["created"] == 20, made  # ten weekdays × 09:00 and 10:00
    code, page = book_call(world, "owner", "browse", specialty="dermatology", timeZone="Australia/Brisbane",
                           **{"from": "2027-03-22T00:00:00Z", "to": "2027-04-03T00:00:00Z"})  # fmt: skip
    assert code == 200 and len(page["slots"]) == 20
    london = sorted({s["doctorLocalStart"][11:16] for s in page["slots"]})
    assert london == ["09:00", "10:00"], "the doctor's wall-clock hours hold on both sides of 28 March 2027"
    utc_hours = sorted({s["startsAt"][11:13] for s in page["slots"]})
    assert utc_hours == ["08", "09", "10"], utc_hours  # 09:00 GMT, then 08:00 and 09:00 UTC in BST
    assert page["slots"][0]["localStart"] == "2027-03-22T19:00+10:00"  # 09:00 GMT in Brisbane

    again = book_call(world, "prescriber", "publish_slots", **body | {"from": "2027-03-29", "to": "2027-03-29"})
    assert again[0] == 409 and again[1]["type"] == "slot_overlap"
    pattern = ("from", "to", "days", "dailyStart", "dailyEnd", "breaks")
    one = {k: v for k, v in body.items() if k not in pattern} | {"startsAt": "2027-03-22T09:15:00Z"}
    twice = book_call(world, "prescriber", "publish_slots", **one)
    assert twice[0] == 409 and twice[1]["type"] == "slot_overlap", "a 09:15 UTC slot overlaps the 09:00 GMT one"
    past = book_call(world, "prescriber", "publish_slots", clinicId=world.clinics["uk"], minutes=15,
                     timeZone="Europe/London", startsAt="2020-01-01T09:00:00Z")  # fmt: skip
    assert past[0] == 400 and past[1]["type"] == "slot_in_past"
    other_clinic = book_call(world, "prescriber", "publish_slots", **body | {"clinicId": world.clinics["uk2"]})
    assert other_clinic[0] == 404
    odd = book_call(world, "prescriber", "publish_slots", **body | {"minutes": 20})
    assert odd[0] == 400 and "minutes" in odd[1]["message"]
    assert len(world.tables.list("consult_slots", [Query.equal("specialty", "dermatology"), Query.limit(100)])) == 20


# --- the journey -----------------------------------------------------------------------------------------------------
def test_book_pay_chat_and_complete(world):
    patient(world, "alice")
    slot = slot_at(world, minutes_ahead=30)
    code, held = book(world, "alice", slot["$id"])
    assert code == 200 and held["appointment"]["status"] == "pending", held
    row = appointment(world, held["appointment"]["$id"])
    assert (row["price"], row["currency"], row["price_kind"]) == (8000, "gbp", "new")
    assert world.tables.get("consult_slots", slot["$id"])["status"] == "held"
    code, fees = book_call(world, "owner", "set_fees", clinicId=world.clinics["uk"], currency="gbp",
                           newPatientFee=9900, returningPatientFee=4900)  # fmt: skip
    assert code == 200, fees
    assert appointment(world, row["$id"])["price"] == 8000, "the price was locked when the slot was booked"

    pay(world, "alice", row["$id"])
    row = wait_until(lambda: (r := appointment(world, row["$id"]))["status"] == "booked" and r)
    room = world.tables.get("chat_rooms", row["$id"])
    assert room["status"] == "active" and world.tables.get("consult_slots", slot["$id"])["status"] == "booked"
    payment = world.tables.get("billing_payments", row["payment_id"])
    assert (payment["status"], payment["amount"]) == ("succeeded", 8000)

    code, sent = book_call(world, "prescriber", "send_message", appointmentId=row["$id"], text="Hello, <b>Alice</b>")
    assert code == 200 and sent["message"]["text"] == "Hello, <b>Alice</b>", "stored as given, never as HTML"
    code, reply = book_call(world, "alice", "send_message", appointmentId=row["$id"], text="Hello doctor")
    assert code == 200
    code, history = book_call(world, "alice", "get", appointmentId=row["$id"])
    assert [h["to_status"] for h in history["history"]] == ["pending", "booked"]
    assert history["intake"]["symptoms"] == INTAKE["symptoms"]

    early = book_call(world, "prescriber", "close", appointmentId=row["$id"], outcome="completed")
    assert early[0] == 409 and early[1]["type"] == "appointment_transition_invalid"
    assert book_call(world, "alice", "close", appointmentId=row["$id"], outcome="completed")[0] == 403
    advance(world, 45 * 60)
    code, closed = book_call(world, "prescriber", "close", appointmentId=row["$id"], outcome="completed")
    assert code == 200 and closed["appointment"]["status"] == "completed"
    assert world.tables.get("chat_rooms", row["$id"])["status"] == "read_only"
    late = book_call(world, "alice", "send_message", appointmentId=row["$id"], text="one more thing")
    assert late[0] == 409 and late[1]["type"] == "chat_room_read_only"

    # Alice now pays the returning fee, at the clinic's new price.
    code, second = book(world, "alice", slot_at(world)["$id"])
    assert code == 200
    assert (appointment(world, second["appointment"]["$id"])["price"], second["appointment"]["price_kind"]) == (
        4900, "returning")  # fmt: skip


def test_reminders_are_queued_once_each_before_the_start(world):
    patient(world, "rita")
    row = booked(world, "rita")
    reminders = world.tables.list(NOTIFICATIONS, [Query.equal("topic", "appointment.reminder"), Query.limit(100)])
    mine = {json.loads(r["payload"])["before"]: r for r in reminders if row["$id"] in r["key"]}
    assert set(mine) == {"24h", "1h"}
    starts = datetime.fromisoformat(row["starts_at"])
    assert datetime.fromisoformat(mine["24h"]["next_attempt_at"]) == starts - timedelta(hours=24)
    assert datetime.fromisoformat(mine["1h"]["next_attempt_at"]) == starts - timedelta(hours=1)


# --- races, retries, limits ------------------------------------------------------------------------------------------
def test_of_100_concurrent_bookings_of_one_slot_exactly_one_holds_it(world):
    slot = slot_at(world)
    racers = [patient(world, f"racer{n}") for n in range(100)]
    with ThreadPoolExecutor(max_workers=25) as pool:
        answers = list(pool.map(lambda who: book(world, who, slot["$id"]), racers))
    codes = sorted(code for code, _ in answers)
    assert codes == [200] + [409] * 99, codes
    assert {a["type"] for code, a in answers if code == 409} == {"slot_unavailable"}
    holders = world.tables.list("appointments", [Query.equal("slot_id", slot["$id"]), Query.limit(10)])
    assert len(holders) == 1 and world.tables.get("consult_slots", slot["$id"])["appointment_id"] == holders[0]["$id"]


def test_a_retry_with_the_same_key_answers_the_same_appointment_and_the_fourth_booking_in_an_hour_is_429(world):
    patient(world, "rick")
    now = server_now(world)
    advance(world, 3600 - now.timestamp() % 3600 + 1)  # the hourly window starts now, so none ends mid-test
    slot = slot_at(world)
    key = secrets.token_hex(8)
    with ThreadPoolExecutor(max_workers=8) as pool:  # a client retrying eagerly: 8 sends of one booking at once
        answers = list(pool.map(lambda _n: book(world, "rick", slot["$id"], key), range(8)))
    assert {code for code, _ in answers} == {200}
    assert len({a["appointment"]["$id"] for _, a in answers}) == 1
    assert sum(not a["replayed"] for _, a in answers) == 1
    reused = book(world, "rick", slot_at(world)["$id"], key)
    assert reused[0] == 409 and reused[1]["type"] == "appointment_key_reused"
    for _ in range(2):
        assert book(world, "rick", slot_at(world)["$id"])[0] == 200
    limited = book(world, "rick", slot_at(world)["$id"])
    assert limited[0] == 429 and limited[1]["type"] == "general_rate_limit_exceeded"


def test_an_unpaid_hold_expires_on_the_schedule_and_frees_the_slot(world):
    patient(world, "ed")
    patient(world, "fay")
    slot = slot_at(world)
    code, held = book(world, "ed", slot["$id"])
    assert code == 200
    advance(world, 16 * 60)
    row = wait_until(lambda: (r := appointment(world, held["appointment"]["$id"]))["status"] == "payment_expired" and r)
    events = world.tables.list("appointment_events", [Query.equal("appointment_id", row["$id"]), Query.limit(10)])
    assert {(e["to_status"], e["actor_type"]) for e in events} == {
        ("pending", "patient"),
        ("payment_expired", "system"),
    }
    assert world.tables.get("consult_slots", slot["$id"])["status"] == "free"
    late = world.execute("ed", "billing-process", {"action": "consultation_order", "appointmentId": row["$id"]})
    assert late[0] == 409 and late[1]["type"] == "appointment_not_payable"
    code, again = book(world, "fay", slot["$id"])
    assert code == 200 and again["appointment"]["$id"] != row["$id"], "the slot's next booking is a new appointment"


def test_a_payment_that_lands_after_the_hold_expired_is_refunded(world):
    patient(world, "lou")
    slot = slot_at(world)
    code, held = book(world, "lou", slot["$id"])
    assert code == 200
    code, order = world.execute("lou", "billing-process", {"action": "consultation_order",
                                                           "appointmentId": held["appointment"]["$id"]})  # fmt: skip
    assert code == 200
    # The card goes through at the very moment the hold ends (before the schedule expired it).
    world.tables.update("appointments", held["appointment"]["$id"], {"expires_at": "2020-01-01T00:00:00.000+00:00"})
    intents = world.stripe.client().v1.payment_intents
    intent = order["payment"]["stripe_payment_intent_id"]
    intents.update(intent, params={"payment_method": "pm_card_visa"})
    intents.confirm(intent)
    payment_id = order["payment"]["$id"]
    wait_until(lambda: world.tables.get("billing_payments", payment_id)["status"] == "refunded")
    row = appointment(world, held["appointment"]["$id"])
    assert row["status"] == "payment_expired"
    assert world.tables.get("consult_slots", slot["$id"])["status"] == "free"
    assert world.tables.get("chat_rooms", row["$id"]) is None


# --- cancellations -------------------------------------------------------------------------------------------------
def test_a_doctors_cancellation_refunds_in_full_and_withdraws_the_slot(world):
    patient(world, "cam")
    row = booked(world, "cam")
    code, answer = book_call(world, "prescriber", "cancel", appointmentId=row["$id"], reason="Unwell today")
    assert code == 200 and answer["refunded"] is True
    wait_until(lambda: world.tables.get("billing_payments", row["payment_id"])["status"] == "refunded")
    assert appointment(world, row["$id"])["status"] == "cancelled_by_doctor"
    assert world.tables.get("consult_slots", row["slot_id"])["status"] == "removed"
    again = book_call(world, "cam", "cancel", appointmentId=row["$id"], reason="too")
    assert again[0] == 409


def test_a_patient_cancelling_inside_the_cut_off_gets_nothing_back_and_frees_the_slot(world):
    patient(world, "pia")
    slot = slot_at(world, minutes_ahead=180)
    code, held = book(world, "pia", slot["$id"])
    pay(world, "pia", held["appointment"]["$id"])
    row = wait_until(lambda: (r := appointment(world, held["appointment"]["$id"]))["status"] == "booked" and r)
    code, answer = book_call(world, "pia", "cancel", appointmentId=row["$id"], reason="Changed my mind")
    assert code == 200 and answer["refunded"] is False
    assert world.tables.get("consult_slots", slot["$id"])["status"] == "free"
    time.sleep(1)
    assert world.tables.get("billing_payments", row["payment_id"])["status"] == "succeeded"


# --- who sees what ---------------------------------------------------------------------------------------------------
def test_only_the_two_members_read_and_write_the_chat_and_receipts_count_once(world):
    patient(world, "mo")
    patient(world, "stranger")
    row = booked(world, "mo")
    for text in ("one", "two", "three"):
        assert book_call(world, "mo", "send_message", appointmentId=row["$id"], text=text)[0] == 200
    code, rooms = book_call(world, "prescriber", "rooms")
    mine = next(r for r in rooms["rooms"] if r["$id"] == row["$id"])
    assert (mine["unread"], mine["lastMessagePreview"]) == (3, "three")
    code, found = book_call(world, "prescriber", "messages", appointmentId=row["$id"], search="two")
    assert [m["text"] for m in found["messages"]] == ["two"]
    first = book_call(world, "prescriber", "mark_read", appointmentId=row["$id"])
    assert (
        first[1]["marked"] == 3
        and book_call(world, "prescriber", "mark_read", appointmentId=row["$id"])[1]["marked"] == 0
    )
    assert book_call(world, "mo", "mark_read", appointmentId=row["$id"])[1]["marked"] == 0, "no one reads their own"

    outsider = book_call(world, "stranger", "send_message", appointmentId=row["$id"], text="hi")
    assert outsider[0] == 404 and outsider[1]["type"] == "chat_room_not_found"
    assert book_call(world, "stranger", "get", appointmentId=row["$id"])[0] == 404
    assert book_call(world, "prescriber2", "messages", appointmentId=row["$id"])[0] == 404
    stranger_rows = TablesDB(world.people["stranger"].client).list_rows("main", "chat_messages").rows
    assert stranger_rows == []
    assert TablesDB(world.people["stranger"].client).list_rows("main", "appointments").rows == []
    patient_rows = TablesDB(world.people["mo"].client).list_rows("main", "chat_messages",
                                                                 [Query.equal("room_id", row["$id"])]).rows  # fmt: skip
    assert len(patient_rows) == 3
    code, listed = book_call(world, "owner", "list", clinicId=world.clinics["uk"])
    assert code == 200 and row["$id"] in {a["$id"] for a in listed["appointments"]}


def test_chat_arrives_over_realtime_to_the_members_only(world):
    patient(world, "rae")
    patient(world, "eve")
    row = booked(world, "rae")
    env = {**os.environ, "APPWRITE_ENDPOINT": world.server.endpoint, "APPWRITE_PROJECT": world.server.project_id,
           "APPWRITE_KEY": world.server.api_key, "APPOINTMENT_ID": row["$id"], "PASSWORD": PASSWORD,
           "DOCTOR_EMAIL": world.people["prescriber"].email, "PATIENT_EMAIL": world.people["rae"].email,
           "STRANGER_EMAIL": world.people["eve"].email}  # fmt: skip
    result = subprocess.run(["node", "chat.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok - ")


# --- bad input -------------------------------------------------------------------------------------------------------
def test_bad_requests_get_clear_errors_and_write_nothing(world):
    patient(world, "bo")
    before = {t: len(world.tables.list(t, [Query.limit(5000)])) for t in ("appointments", "chat_messages")}
    slot = slot_at(world)
    cases = [
        (book(world, "bo", "no-such-slot"), 404, "slot_not_found"),
        (book(world, "bo", slot["$id"], patientId="someone-else"), 400, "general_argument_invalid"),
        (book(world, "bo", slot["$id"], timeZone="Mars/Base"), 400, "general_argument_invalid"),
        (book(world, "bo", slot["$id"], intake={"consultationType": "séance", "symptoms": "x"}), 400,
         "general_argument_invalid"),
        (book(world, "prescriber", slot["$id"]), 400, "appointment_self_booking"),
        (book_call(world, "bo", "send_message", appointmentId="nope", text="x" * 5001), 400,
         "general_argument_invalid"),
        (book_call(world, "bo", "publish_slots", clinicId=world.clinics["uk"], minutes=15, timeZone="UTC",
                   startsAt="2030-01-01T09:00:00Z"), 403, "practitioner_not_authorised"),
        (book_call(world, "bo", "remove_slot", slotId=slot["$id"]), 404, "slot_not_found"),
        (book_call(world, "bo", "set_fees", clinicId=world.clinics["uk"], currency="gbp", newPatientFee=1,
                   returningPatientFee=1), 404, "clinic_not_found"),
        (world.execute(None, "appointment-booking", {"action": "browse"}), 401, "user_unauthorized"),
        (book_call(world, "bo", "sweep"), 404, "general_route_not_found"),
    ]  # fmt: skip
    for (code, answer), want_code, want_type in cases:
        assert (code, answer.get("type")) == (want_code, want_type), answer
    past = world.tables.get("consult_slots", slot["$id"])
    assert past["status"] == "free"
    after = {t: len(world.tables.list(t, [Query.limit(5000)])) for t in ("appointments", "chat_messages")}
    assert after == before
    assert book_call(world, "prescriber", "remove_slot", slotId=slot["$id"])[1]["status"] == "removed"
    assert book(world, "bo", slot["$id"])[0] == 404


def test_a_slot_that_has_started_cannot_be_booked(world):
    patient(world, "tim")
    slot = slot_at(world, minutes_ahead=20)
    advance(world, 25 * 60)
    late = book(world, "tim", slot["$id"])
    assert late[0] == 400 and late[1]["type"] == "slot_in_past"


def test_closed_rooms_are_archived_30_days_on_and_an_admin_removes_an_ended_appointment(world):
    patient(world, "ann")
    row = booked(world, "ann")
    book_call(world, "ann", "send_message", appointmentId=row["$id"], text="See you soon")
    code, _ = book_call(world, "ann", "cancel", appointmentId=row["$id"], reason="Feeling better")
    assert code == 200 and world.tables.get("chat_rooms", row["$id"])["status"] == "read_only"
    code, page = book_call(world, "ann", "messages", appointmentId=row["$id"])
    assert code == 200 and [m["text"] for m in page["messages"]] == ["See you soon"], "read-only, still readable"
    advance(world, 33 * 86400)  # 30 days after the appointment's end (two days ahead when it was cancelled)
    wait_until(lambda: world.tables.get("chat_rooms", row["$id"])["status"] == "archived")

    assert book_call(world, "prescriber", "delete", appointmentId=row["$id"], reason="test")[0] == 403
    code, removed = book_call(world, "owner", "delete", appointmentId=row["$id"], reason="Duplicate record")
    assert code == 200 and removed["deletedAt"]
    assert book_call(world, "ann", "get", appointmentId=row["$id"])[0] == 404
    kept = world.tables.get("appointments", row["$id"])
    assert kept is not None and kept["status"] == "cancelled_by_patient", "removed from lists, never erased"
    history = world.tables.list("appointment_events", [Query.equal("appointment_id", row["$id"]), Query.limit(10)])
    assert ("cancelled_by_patient", "deleted", "Duplicate record") in {
        (h["from_status"], h["to_status"], h["reason"]) for h in history
    }
