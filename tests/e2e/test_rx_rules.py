"""Bad input through the real functions: a clear Appwrite-shaped error and no partial write; idempotency;
Australian S8 prescribing; tampering; cancelling; 50 pharmacists racing for the last quantity."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from appwrite.query import Query

from rxcore.audit import verify_chain
from tests.support.rx_world import MEDICINES, morphine_item, uk_item

WRITTEN = ("prescriptions", "prescription_items", "dispensing_records", "audit_events")


def counts(rx):
    return {table: rx.count(table) for table in WRITTEN}


def create_body(rx, items, **extra):
    return {"clinicId": rx.clinics["uk"], "patientId": rx.patients["uk"]["$id"], "items": items} | extra


def signed_prescription(rx, items, who="prescriber", clinic="uk", patient="uk", **extra):
    code, body = rx.prescribe(
        who, clinicId=rx.clinics[clinic], patientId=rx.patients[patient]["$id"], items=items, sign=True, **extra
    )
    assert code == 200, body
    return body


def dispense(rx, number, key, lines, who="pharmacist"):
    body = {
        "action": "dispense",
        "number": number,
        "idempotencyKey": key,
        "items": [{"itemId": item_id, "quantity": quantity} for item_id, quantity in lines],
    }
    return rx.execute(who, "dispensing", body)


@pytest.mark.parametrize(
    "items, patient, type_",
    [
        ([uk_item(code="999999999999999")], "uk", "medicine_not_found"),
        ([uk_item(code=MEDICINES["discontinued"]["code"])], "uk", "medicine_not_prescribable"),
        ([uk_item(code=MEDICINES["invalid"]["code"])], "uk", "medicine_not_prescribable"),
        ([uk_item(code=MEDICINES["vtm"]["code"])], "uk", "medicine_not_prescribable"),
        ([morphine_item(quantityWords=None)], "uk", "controlled_drug_quantity_words_required"),
        ([morphine_item(quantityWords="fifty")], "uk", "controlled_drug_quantity_words_mismatch"),
        ([morphine_item(repeats=1)], "uk", "controlled_drug_repeats_not_allowed"),
        ([morphine_item(dose="as directed")], "uk", "controlled_drug_dose_required"),
        ([morphine_item(daysSupply=60)], "uk", "controlled_drug_supply_over_30_days"),
        (
            [morphine_item(code=MEDICINES["temazepam"]["code"], quantityWords=None)],
            "uk",
            "controlled_drug_quantity_words_required",
        ),
        ([morphine_item()], "uk_no_address", "patient_address_required"),
        ([uk_item(), uk_item(quantity=-3)], "uk", "general_argument_invalid"),
        ([], "uk", "general_argument_invalid"),
    ],
)
def test_bad_prescriptions_are_refused_and_write_nothing(rx, items, patient, type_):
    before = counts(rx)
    code, body = rx.prescribe(
        "prescriber", clinicId=rx.clinics["uk"], patientId=rx.patients[patient]["$id"], items=items
    )
    assert (code, body["type"]) == (400, type_), body
    assert set(body) == {"message", "code", "type"} and body["message"]
    assert counts(rx) == before


def test_malformed_requests(rx):
    for body, type_ in [
        ({"action": "launch"}, "general_argument_invalid"),
        ({"action": "create", "clinicId": rx.clinics["uk"]}, "general_argument_invalid"),
        (
            {"action": "create", **create_body(rx, [uk_item()]), "idempotencyKey": "k", "startDate": "2020-01-01"},
            "general_argument_invalid",
        ),
    ]:
        code, answer = rx.execute("prescriber", "prescription-create", body)
        assert (code, answer["type"]) == (400, type_), answer
    from appwrite.services.functions import Functions

    execution = Functions(rx.people["prescriber"].client).create_execution("prescription-create", "not json")
    assert json.loads(execution.responsebody)["type"] == "general_argument_invalid"


def test_same_idempotency_key_gives_the_same_prescription(rx):
    body = create_body(rx, [uk_item()], idempotencyKey="same-key-twice")
    before = counts(rx)
    with ThreadPoolExecutor(5) as pool:  # five copies of the request at once
        results = list(pool.map(lambda _: rx.prescribe("prescriber", **body), range(5)))
    assert {code for code, _ in results} == {200}
    assert len({answer["prescription"]["$id"] for _, answer in results}) == 1
    assert len({answer["prescription"]["number"] for _, answer in results}) == 1
    after = counts(rx)
    assert after["prescriptions"] == before["prescriptions"] + 1
    assert after["prescription_items"] == before["prescription_items"] + 1
    code, again = rx.prescribe("prescriber", **body)
    assert again["replayed"] is True and again["prescription"]["$id"] == results[0][1]["prescription"]["$id"]
    code, reused = rx.prescribe(
        "prescriber", **create_body(rx, [uk_item(quantity=42)], idempotencyKey="same-key-twice")
    )
    assert (code, reused["type"]) == (409, "idempotency_key_reused")


def test_australian_s8_with_authority_repeats_and_interval(rx):
    s8 = {
        "code": MEDICINES["cannabis_oil"]["code"],
        "dose": "0.5 mL under the tongue at night",
        "quantity": 25,
        "quantityWords": "twenty-five",
        "unit": "mL",
        "repeats": 2,
        "repeatIntervalDays": 28,
    }
    code, missing = rx.prescribe(
        "au_prescriber", clinicId=rx.clinics["au"], patientId=rx.patients["au"]["$id"], items=[s8]
    )
    assert (code, missing["type"]) == (400, "s8_authority_required")
    no_interval = s8 | {"repeatIntervalDays": None}
    code, answer = rx.prescribe(
        "au_prescriber",
        clinicId=rx.clinics["au"],
        patientId=rx.patients["au"]["$id"],
        items=[no_interval],
        authorityNumber="VIC-PERMIT-123",
    )
    assert (code, answer["type"]) == (400, "s8_repeat_interval_required")
    code, answer = rx.prescribe(
        "au_prescriber",
        clinicId=rx.clinics["au"],
        patientId=rx.patients["au"]["$id"],
        items=[s8, {**s8, "code": MEDICINES["cbd_oil"]["code"]}],
        authorityNumber="VIC-1",
    )
    assert (code, answer["type"]) == (400, "s8_must_be_only_item")
    signed = signed_prescription(rx, [s8], who="au_prescriber", clinic="au", patient="au", authorityNumber="VIC-1")
    prescription = signed["prescription"]
    assert prescription["number"].startswith("AU-") and prescription["jurisdiction"] == "VIC"
    assert signed["items"][0]["schedule"] == "S8" and signed["items"][0]["supplies_allowed"] == 3
    code, first = dispense(rx, prescription["number"], "au-1", [(signed["items"][0]["$id"], 25)], who="au_pharmacist")
    assert code == 200 and first["prescription"]["status"] == "partially_dispensed"
    code, early = dispense(rx, prescription["number"], "au-2", [(signed["items"][0]["$id"], 25)], who="au_pharmacist")
    assert (code, early["type"]) == (409, "repeat_too_early")
    code, over = dispense(rx, prescription["number"], "au-3", [(signed["items"][0]["$id"], 26)], who="au_pharmacist")
    assert code == 409  # too early, and an S8 has no pack tolerance either


def test_tampering_is_detected_by_verification(rx):
    signed = signed_prescription(rx, [uk_item(quantity=21)])
    prescription, item = signed["prescription"], signed["items"][0]
    number = prescription["number"]
    # someone with database access raises the quantity: the rows no longer match what was signed
    rx.tables.update("prescription_items", item["$id"], {"quantity": 210})
    code, verified = rx.execute("pharmacist", "dispensing", {"action": "verify", "number": number})
    assert code == 200 and verified["verification"]["signature_valid"] is False
    assert verified["verification"]["problem"]["type"] == "signature_invalid"
    before = counts(rx)
    code, refused = dispense(rx, number, "tampered", [(item["$id"], 21)])
    assert (code, refused["type"]) == (409, "signature_invalid")
    after = counts(rx)
    assert after == before | {"audit_events": before["audit_events"] + 1}  # only the failed verification is recorded
    # a forged signature over the right rows fails too
    rx.tables.update("prescription_items", item["$id"], {"quantity": 21})
    real = rx.tables.get("prescriptions", prescription["$id"])["signature"]
    forged = ("A" if real[0] != "A" else "B") + real[1:]
    rx.tables.update("prescriptions", prescription["$id"], {"signature": forged})
    code, refused = dispense(rx, number, "forged", [(item["$id"], 21)])
    assert (code, refused["type"]) == (409, "signature_invalid")
    rx.tables.update("prescriptions", prescription["$id"], {"signature": real})
    code, done = dispense(rx, number, "genuine", [(item["$id"], 21)])
    assert code == 200 and done["prescription"]["status"] == "dispensed"


def test_lookup_errors_and_states(rx):
    code, answer = rx.execute("pharmacist", "dispensing", {"action": "verify", "number": "83C40E-A23856-00123X"})
    assert (code, answer["type"]) == (400, "prescription_number_invalid")
    code, answer = rx.execute("pharmacist", "dispensing", {"action": "verify", "number": "83C40E-A23856-00123W"})
    assert (code, answer["type"]) == (404, "prescription_not_found")
    code, draft = rx.prescribe("prescriber", **create_body(rx, [uk_item()]))
    before = counts(rx)
    code, answer = dispense(rx, draft["prescription"]["number"], "draft", [(draft["items"][0]["$id"], 1)])
    assert (code, answer["type"]) == (409, "prescription_not_signed")
    assert counts(rx) == before
    signed = signed_prescription(rx, [uk_item()])
    number, item_id = signed["prescription"]["number"], signed["items"][0]["$id"]
    for lines, type_ in [([(item_id, 22 * 10)], "quantity_exceeds_remaining"), ([("nope", 1)], "item_not_found")]:
        code, answer = dispense(rx, number, f"bad-{type_}", lines)
        assert answer["type"] == type_, answer
    code, answer = dispense(rx, number, "zero", [(item_id, 0)])
    assert (code, answer["type"]) == (400, "general_argument_invalid")
    assert counts(rx) == before | {
        "prescriptions": before["prescriptions"] + 1,
        "prescription_items": before["prescription_items"] + 1,
        "audit_events": before["audit_events"] + 2,
    }
    code, cancelled = rx.execute(
        "prescriber",
        "prescription-create",
        {"action": "cancel", "prescriptionId": signed["prescription"]["$id"], "reason": "Allergy"},
    )
    assert code == 200 and cancelled["prescription"]["status"] == "cancelled"
    code, answer = dispense(rx, number, "after-cancel", [(item_id, 1)])
    assert (code, answer["type"]) == (409, "prescription_cancelled")


def test_a_second_dispense_of_a_finished_prescription_is_refused(rx):
    signed = signed_prescription(rx, [uk_item()])
    number, item_id = signed["prescription"]["number"], signed["items"][0]["$id"]
    assert dispense(rx, number, "first", [(item_id, 21)])[0] == 200
    before = counts(rx)
    code, answer = dispense(rx, number, "second", [(item_id, 21)])
    assert (code, answer["type"]) == (409, "prescription_fully_dispensed")
    assert counts(rx) == before


def test_fifty_pharmacists_race_for_the_last_quantity(rx):
    signed = signed_prescription(rx, [uk_item(quantity=10)])
    number, item_id = signed["prescription"]["number"], signed["items"][0]["$id"]
    assert dispense(rx, number, "most", [(item_id, 9)])[0] == 200  # one capsule owed
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda n: dispense(rx, number, f"race-{n}", [(item_id, 1)]), range(50)))
    winners = [answer for code, answer in results if code == 200]
    losers = [answer for code, answer in results if code != 200]
    assert len(winners) == 1, [a.get("type") for a in losers][:5]
    assert {a["type"] for a in losers} <= {"prescription_fully_dispensed", "item_fully_dispensed"}, losers[:3]
    assert {a["code"] for a in losers} == {409}
    records = rx.tables.list("dispensing_records", [Query.equal("prescription_id", signed["prescription"]["$id"])])
    assert sorted(r["quantity"] for r in records) == [1, 9]
    item = rx.tables.get("prescription_items", item_id)
    assert (item["supplies_done"], item["current_supplied"]) == (1, 0)
    assert rx.tables.get("prescriptions", signed["prescription"]["$id"])["status"] == "dispensed"
    chain = rx.tables.list(
        "audit_events", [Query.equal("chain", rx.clinics["uk"]), Query.order_asc("seq"), Query.limit(5000)]
    )
    assert verify_chain(chain) is None  # 50 writers appending at once still leave one unbroken chain


def test_a_post_dated_controlled_drug_is_not_dispensable_before_its_date(rx):
    """Issue 14.2: a Schedule 2 prescription dated a week ahead verifies as not yet dispensable, and a supply is
    refused until that date."""
    from datetime import date, timedelta

    start = (date.today() + timedelta(days=7)).isoformat()
    prescription = signed_prescription(rx, [morphine_item()], startDate=start)["prescription"]
    code, verified = rx.execute("pharmacist", "dispensing", {"action": "verify", "number": prescription["number"]})
    assert code == 200 and verified["verification"]["signature_valid"] is True
    assert verified["verification"]["dispensable"] is False
    assert verified["verification"]["problem"]["type"] == "prescription_not_yet_valid"
    item = rx.tables.list("prescription_items", [Query.equal("prescription_id", prescription["$id"])])[0]
    body = {"action": "dispense", "number": prescription["number"], "idempotencyKey": "early",
            "items": [{"itemId": item["$id"], "quantity": 56}]}  # fmt: skip
    code, answer = rx.execute("pharmacist", "dispensing", body)
    assert (code, answer["type"]) == (409, "prescription_not_yet_valid")


def test_the_signature_covers_how_often_and_under_which_rules_an_item_is_supplied(rx):
    """Issue 14.3: raising `supplies_allowed` or clearing `controlled` on a signed item fails verification."""
    for change in ({"supplies_allowed": 2}, {"controlled": False}):
        prescription = signed_prescription(rx, [morphine_item()])["prescription"]
        item = rx.tables.list("prescription_items", [Query.equal("prescription_id", prescription["$id"])])[0]
        rx.tables.update("prescription_items", item["$id"], change)
        code, verified = rx.execute("pharmacist", "dispensing", {"action": "verify", "number": prescription["number"]})
        assert code == 200 and verified["verification"]["signature_valid"] is False, (change, verified)
        body = {"action": "dispense", "number": prescription["number"], "idempotencyKey": f"tamper-{change}",
                "items": [{"itemId": item["$id"], "quantity": 56}]}  # fmt: skip
        code, answer = rx.execute("pharmacist", "dispensing", body)
        assert (code, answer["type"]) == (409, "signature_invalid"), change


def test_the_controlled_drug_report_for_clinic_admins(rx):
    """Issue 14.19: every CD item of the period with supplies, checks and totals; JSON pages, CSV; admins only;
    audited."""
    from datetime import date

    signed = signed_prescription(rx, [morphine_item()])
    number, item_id = signed["prescription"]["number"], signed["items"][0]["$id"]
    code, answer = dispense(rx, number, "cd-report", [(item_id, 56)])
    assert code == 200, answer
    today = date.today().isoformat()
    body = {"action": "controlled_drug_report", "clinicId": rx.clinics["uk"], "from": today, "to": today, "limit": 100}
    code, report = rx.execute("owner", "dispensing", body)
    assert code == 200, report
    row = next(r for r in report["rows"] if r["prescription"] == number)
    assert row["checks"] == ["ok"] and row["supplied"] == 56 and row["schedule"] == "2"
    assert row["supplies"][0]["pharmacist"] == "Priya Patel" and row["prescriber"] == "Dr Alice Prescott"
    totals = report["summary"]["per_medicine"][row["medicine_code"]]
    assert totals["items"] >= 1 and totals["supplied"] >= 56
    code, csv_report = rx.execute("owner", "dispensing", body | {"format": "csv"})
    assert code == 200 and number in csv_report["csv"] and csv_report["filename"].endswith(".csv")
    code, page = rx.execute("owner", "dispensing", body | {"limit": 1})
    assert code == 200 and len(page["rows"]) == 1 and (page["cursor"] is None) == (report["summary"]["items"] == 1)
    for outsider in ("pharmacist", "prescriber", "patient", "stranger"):
        code, refused = rx.execute(outsider, "dispensing", body)
        assert (code, refused["type"]) == (404, "clinic_not_found"), outsider
    events = rx.tables.list(
        "audit_events",
        [Query.equal("chain", rx.clinics["uk"]), Query.equal("action", "report.controlled_drugs_viewed")],
    )
    assert len(events) >= 3


def test_an_australian_item_marked_brand_substitution_not_permitted_prints_and_signs_the_mark(rx):
    """Issue 14.12: the PBS mark is printed under the item and signed (it decides what may be supplied); a UK item
    cannot carry it."""
    import pypdfium2
    from appwrite.services.storage import Storage

    cbd = {"code": MEDICINES["cbd_oil"]["code"], "dose": "0.5 mL twice a day", "quantity": 25, "unit": "mL",
           "brandSubstitutionNotPermitted": True}  # fmt: skip
    signed = signed_prescription(rx, [cbd], who="au_prescriber", clinic="au", patient="au")
    assert signed["items"][0]["brand_substitution_not_permitted"] is True
    content = Storage(rx.people["au_prescriber"].client).get_file_download(
        "prescription_pdfs", signed["prescription"]["$id"]
    )
    text = "\n".join(page.get_textpage().get_text_range() for page in pypdfium2.PdfDocument(content))
    assert "Brand substitution not permitted" in text
    rx.tables.update("prescription_items", signed["items"][0]["$id"], {"brand_substitution_not_permitted": False})
    code, verified = rx.execute("au_pharmacist", "dispensing",
                                {"action": "verify", "number": signed["prescription"]["number"]})  # fmt: skip
    assert code == 200 and verified["verification"]["dispensable"] is False, "the mark is signed"
    code, refused = rx.prescribe("prescriber", clinicId=rx.clinics["uk"], patientId=rx.patients["uk"]["$id"],
                                 items=[uk_item(brandSubstitutionNotPermitted=True)])  # fmt: skip
    assert (code, refused["type"]) == (400, "brand_substitution_au_only")
