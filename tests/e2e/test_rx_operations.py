"""On a server of its own (its clock moves): a controlled-drug prescription expires after 28 days; the set-up
script builds a demo clinic; the audit-chain script passes an intact trail and names the first broken link."""

from __future__ import annotations

import json
import subprocess

import pytest
from appwrite.client import Client
from appwrite.query import Query
from scripts import clinic_admin

from tests.support.local_server import REPO, LocalServer, free_port
from tests.support.rx_world import MEDICINES, build, morphine_item
from tests.support.scripts import run_script as run_script_on


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from scripts import apply_schema

    server = LocalServer(tmp_path_factory.mktemp("rx-clock") / "data", free_port()).start(
        ["--appwrite-json", str(REPO / "appwrite.json"), "--local-control"]
    )
    credentials = str(server.data_dir / "credentials.json")
    assert apply_schema.main(["--credentials", credentials]) == 0
    admin = Client().set_endpoint(server.endpoint).set_project(server.project_id).set_key(server.api_key)
    yield build(server, admin)
    server.stop()


def advance_clock(world, days: float) -> None:
    world.server.advance(days * 86400)


def advance_clock_to_next_hour(world) -> None:
    """Rate-limit windows are aligned to the clock (5-minute and hourly windows start on the hour), so a test
    that counts attempts starts just after an hour begins and no window ends while it counts."""
    now = world.server.now()
    advance_clock(world, (3600 - now.timestamp() % 3600 + 1) / 86400)


def run_script(world, script: str, *args: str) -> subprocess.CompletedProcess:
    return run_script_on(world.server, script, *args)


def test_a_schedule_2_prescription_expires_after_28_days(world):
    code, signed = world.prescribe(
        "prescriber",
        clinicId=world.clinics["uk"],
        patientId=world.patients["uk"]["$id"],
        items=[morphine_item()],
        sign=True,
    )
    assert code == 200, signed
    number, item_id = signed["prescription"]["number"], signed["items"][0]["$id"]
    advance_clock(world, 27)  # day 28 of 28: still valid
    code, verified = world.execute("pharmacist", "dispensing", {"action": "verify", "number": number})
    assert verified["verification"]["dispensable"] is True, verified
    advance_clock(world, 1)
    before = world.count("dispensing_records")
    body = {
        "action": "dispense",
        "number": number,
        "idempotencyKey": "late",
        "items": [{"itemId": item_id, "quantity": 56}],
    }
    code, refused = world.execute("pharmacist", "dispensing", body)
    assert (code, refused["type"]) == (409, "prescription_expired"), refused
    assert world.count("dispensing_records") == before
    row = world.tables.get("prescriptions", signed["prescription"]["$id"])
    assert row["status"] == "expired"  # the state change is recorded, and audited
    events = world.tables.list("audit_events", [Query.equal("entity_id", row["$id"]), Query.order_asc("seq")])
    assert [e["action"] for e in events][-1] == "prescription.expired"
    code, verified = world.execute("pharmacist", "dispensing", {"action": "verify", "number": number})
    assert verified["verification"]["problem"]["type"] == "prescription_expired"


def test_clinic_admin_demo_builds_a_working_clinic(world):
    result = run_script(world, "clinic_admin.py", "demo")
    assert result.returncode == 0, result.stderr
    demo = json.loads(result.stdout)
    clinic = world.tables.get("clinics", demo["clinicId"])
    assert clinic["ods_code"] == "A81001" and clinic["country"] == "UK"
    patient = world.tables.get("patients", demo["patientId"])
    assert patient["user_id"] and patient["nhs_number"] == "9990000018"
    # This world has a catalogue already: the demo leaves it alone (test_readme.py loads one into an empty server).
    assert demo["medicines"] == {"status": "skipped", "reason": "the catalogue already has medicines"}, demo
    bad = run_script(
        world,
        "clinic_admin.py",
        "add-patient",
        "--clinic",
        demo["clinicId"],
        "--data",
        json.dumps({"given_name": "X", "family_name": "Y", "nhs_number": "9434765918"}),
    )
    assert bad.returncode == 2 and json.loads(bad.stderr)["fields"] == {
        "nhs_number": "the NHS number's check digit is wrong"
    }
    assert clinic_admin.parser().parse_args(["demo"]).command == "demo"


def test_audit_chain_script_finds_the_first_broken_link(world):
    intact = run_script(world, "verify_audit_chain.py")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert f"{world.clinics['uk']}: intact" in intact.stdout
    events = world.tables.list("audit_events", [Query.equal("chain", world.clinics["uk"]), Query.order_asc("seq")])
    assert len(events) >= 3
    victim = events[1]
    world.tables.update("audit_events", victim["$id"], {"actor_id": "someone-else"})
    broken = run_script(world, "verify_audit_chain.py", "--chain", world.clinics["uk"])
    assert broken.returncode == 1
    assert f"BROKEN at seq {victim['seq']} (row {victim['$id']})" in broken.stdout
    world.tables.update("audit_events", victim["$id"], {"actor_id": victim["actor_id"]})
    assert run_script(world, "verify_audit_chain.py").returncode == 0


def identify(world, **changes):
    body = {"action": "identify", "nhsNumber": "9990000018", "dateOfBirth": "1980-02-29", "postcode": "LS1 4AP"}
    return world.execute(None, "patient-portal", body | changes)


def test_portal_identification_rate_limits_and_token_expiry(world):
    advance_clock_to_next_hour(world)  # fresh 5-minute and hour windows, neither ending while we count
    for _ in range(20):
        assert identify(world, dateOfBirth="1980-03-01")[0] == 401
    code, limited = identify(world)  # the 21st attempt from this IP, right or wrong, is refused
    assert (code, limited["type"]) == (429, "general_rate_limit_exceeded") and 0 < limited["retryAfter"] <= 300
    advance_clock(world, 300 / 86400)  # the IP window passes; the NHS number has had 20 of its 30 an hour
    for _ in range(10):
        assert identify(world, postcode="LS1 4AQ")[0] == 401
    code, limited = identify(world)
    assert (code, limited["type"]) == (429, "general_rate_limit_exceeded"), limited  # 31st for this NHS number
    advance_clock(world, 3600 / 86400)
    code, answer = identify(world)  # registered at two clinics (the demo clinic too): one person, one token
    assert code == 200, answer
    body = {"action": "get_patient_profile", "token": answer["token"]}
    assert world.execute(None, "patient-portal", body)[0] == 200
    advance_clock(world, 16 * 60 / 86400)  # tokens last 15 minutes
    code, expired = world.execute(None, "patient-portal", body)
    assert (code, expired["type"]) == (401, "portal_token_invalid")
    windows = world.tables.list("rate_limits", [Query.limit(100)])
    portal = {w["limit"] for w in windows if w["limit"].startswith("portal-")}  # the table is shared (notify-*)
    assert portal == {"portal-identify-ip", "portal-identify-nhs"}


def test_a_victorian_prescription_signed_early_in_the_morning_is_dated_that_day(world):
    """Issue 14.6: at 06:30 in Melbourne (19:30 UTC the evening before), the date is Melbourne's."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    now = world.server.now()
    target = now.replace(hour=19, minute=30, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    advance_clock(world, (target - now).total_seconds() / 86400)
    local = target.astimezone(ZoneInfo("Australia/Melbourne"))
    assert local.hour in (5, 6) and local.date() != target.date()  # 06:30 AEDT (05:30 in winter), the next day
    item = {"code": MEDICINES["cbd_oil"]["code"], "dose": "0.5 mL twice a day", "quantity": 25,
            "unit": "mL", "repeats": 0}  # fmt: skip
    code, signed = world.prescribe(
        "au_prescriber", clinicId=world.clinics["au"], patientId=world.patients["au"]["$id"], items=[item], sign=True
    )
    assert code == 200, signed
    assert signed["prescription"]["appropriate_date"] == local.date().isoformat()
