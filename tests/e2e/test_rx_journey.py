"""The whole journey through the real server, executor and SDK: prescribe, sign, download the PDF and read it
as a pharmacist would (rendered to PNG, QR decoded), verify, dispense part, dispense the rest; the patient sees
their own records; the audit chain holds."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pypdfium2
import pytest
import zxingcpp
from appwrite.query import Query
from appwrite.services.storage import Storage
from appwrite.services.tables_db import TablesDB

from rxcore.audit import verify_chain
from rxcore.identifiers.uk import normalise_eps_prescription_id
from rxcore.prescribing.pdf import day
from rxcore.prescribing.rules import add_period
from rxcore.signing import fingerprint
from tests.support.rx_world import MEDICINES, morphine_item, uk_item
from tests.support.sdk import error_of


@pytest.fixture(scope="module")
def journey(rx):
    items = [
        uk_item(repeats=1, repeatIntervalDays=7),
        uk_item(code=MEDICINES["paracetamol"]["code"], dose="Two tablets up to four times a day", quantity=32,
                unit="tablets"),
    ]  # fmt: skip
    code, created = rx.prescribe(
        "prescriber", clinicId=rx.clinics["uk"], patientId=rx.patients["uk"]["$id"], items=items
    )
    assert code == 200, created
    code, signed = rx.execute(
        "prescriber", "prescription-create", {"action": "sign", "prescriptionId": created["prescription"]["$id"]}
    )
    assert code == 200, signed
    return {"created": created, "signed": signed, "number": signed["prescription"]["number"]}


def test_create_gives_a_draft_with_an_eps_number(journey):
    prescription = journey["created"]["prescription"]
    assert prescription["status"] == "draft" and journey["created"]["replayed"] is False
    assert normalise_eps_prescription_id(prescription["number"]) == prescription["number"]
    assert prescription["number"].split("-")[1] == "A81001"
    assert [i["line"] for i in journey["created"]["items"]] == [1, 2]
    assert [i["supplies_allowed"] for i in journey["created"]["items"]] == [2, 1]


def test_signing_sets_dates_signature_and_pdf(rx, journey):
    prescription = journey["signed"]["prescription"]
    assert prescription["status"] == "signed"
    assert prescription["appropriate_date"] == prescription["signed_at"][:10]
    # the one-off paracetamol is the strictest item: 6 months from the appropriate date, that day excluded
    six_months = add_period(date.fromisoformat(prescription["appropriate_date"]), (6, "months")) - timedelta(days=1)
    assert prescription["first_dispense_by"] == prescription["expires_on"] == six_months.isoformat()
    practitioner = rx.tables.get("practitioners", rx.people["prescriber"].id)
    assert fingerprint(practitioner["public_key"]) == prescription["key_fingerprint"]
    assert prescription["pdf_file_id"] == prescription["$id"]
    assert "snapshot" not in prescription


def test_private_key_is_not_readable_by_anyone_but_the_function(rx):
    key_id = rx.people["prescriber"].id
    for who in ("prescriber", "owner", "patient"):
        tables = TablesDB(rx.people[who].client)
        assert error_of(tables.list_rows, "main", "practitioner_keys").code == 401
        assert error_of(tables.get_row, "main", "practitioner_keys", key_id).code in (401, 404)
    assert rx.tables.get("practitioner_keys", rx.people["prescriber"].id)["sealed_private_key"]


def _pdf_pages(content: bytes):
    document = pypdfium2.PdfDocument(content)
    text = "\n".join(page.get_textpage().get_text_range() for page in document)
    image = document[0].render(scale=2).to_pil()
    return text, image


def test_pdf_reads_like_a_prescription(rx, journey):
    prescription = journey["signed"]["prescription"]
    content = Storage(rx.people["patient"].client).get_file_download("prescription_pdfs", prescription["pdf_file_id"])
    assert content[:5] == b"%PDF-"
    text, image = _pdf_pages(content)
    for expected in (
        "PRESCRIPTION", journey["number"], "Riverside Online Clinic", "ODS A81001", "Dr Alice Prescott", "GMC 1234567",
        "Jane Doe", "Date of birth: 29/02/1980", "NHS number 999 000 0018", "LS1 4AP",
        "Amoxicillin 500mg capsules", "Dose: One capsule three times a day", "Quantity: 21 (twenty-one) capsules",
        "Repeats: 1 (at least 7 days apart)", "Paracetamol 500mg tablets",
        f"Valid until: {day(prescription['expires_on'])}", "Page 1 of 1",
        prescription["key_fingerprint"][:39],
    ):  # fmt: skip
        assert expected in text, expected
    assert image.size[0] < image.size[1]  # portrait A4
    histogram = image.convert("L").histogram()
    ink = sum(histogram[:128]) / sum(histogram)
    assert 0.02 < ink < 0.5, ink  # printed, not blank and not a black page
    decoded = {result.text for result in zxingcpp.read_barcodes(image)}
    assert journey["number"] in decoded  # the QR code (and Code 128) carry the number


def test_controlled_drug_pdf_carries_words_and_figures_and_schedule(rx):
    code, created = rx.prescribe("prescriber", clinicId=rx.clinics["uk"], patientId=rx.patients["uk"]["$id"],
                                 items=[morphine_item()], sign=True)  # fmt: skip
    assert code == 200, created
    prescription = created["prescription"]
    assert prescription["status"] == "signed" and prescription["controlled"] is True
    assert date.fromisoformat(prescription["expires_on"]) == date.fromisoformat(
        prescription["appropriate_date"]
    ) + timedelta(days=27)
    content = Storage(rx.people["prescriber"].client).get_file_download("prescription_pdfs", prescription["$id"])
    text, _ = _pdf_pages(content)
    assert "Quantity: 56 (fifty-six) tablets" in text
    assert "CONTROLLED DRUG - Schedule 2" in text
    assert "Controlled drug prescription" in text


def test_pharmacist_verifies_by_number(rx, journey):
    code, verified = rx.execute("pharmacist", "dispensing", {"action": "verify", "number": journey["number"].lower()})
    assert code == 200, verified
    assert verified["verification"]["signature_valid"] is True and verified["verification"]["dispensable"] is True
    assert [i["supplies_remaining"] for i in verified["items"]] == [2, 1]


def test_dispense_part_then_the_rest(rx, journey):
    items = journey["signed"]["items"]
    amoxicillin, paracetamol = items[0]["$id"], items[1]["$id"]
    code, first = rx.execute("pharmacist", "dispensing", {
        "action": "dispense", "number": journey["number"], "idempotencyKey": "j-1",
        "items": [{"itemId": amoxicillin, "quantity": 21}, {"itemId": paracetamol, "quantity": 16}]})  # fmt: skip
    assert code == 200, first
    assert first["prescription"]["status"] == "partially_dispensed"
    by_item = {r["item_id"]: r for r in first["records"]}
    assert by_item[paracetamol]["owing"] == 16 and by_item[amoxicillin]["owing"] == 0
    # the same request again changes nothing
    code, again = rx.execute("pharmacist", "dispensing", {
        "action": "dispense", "number": journey["number"], "idempotencyKey": "j-1",
        "items": [{"itemId": amoxicillin, "quantity": 21}, {"itemId": paracetamol, "quantity": 16}]})  # fmt: skip
    assert code == 200 and again["replayed"] is True
    assert sorted(r["$id"] for r in again["records"]) == sorted(r["$id"] for r in first["records"])
    # the owed paracetamol, and the amoxicillin repeat is not due for 7 days
    code, early = rx.execute("pharmacist", "dispensing", {
        "action": "dispense", "number": journey["number"], "idempotencyKey": "j-2",
        "items": [{"itemId": amoxicillin, "quantity": 21}]})  # fmt: skip
    assert code == 409 and early["type"] == "repeat_too_early", early
    code, rest = rx.execute("pharmacist", "dispensing", {
        "action": "dispense", "number": journey["number"], "idempotencyKey": "j-3",
        "items": [{"itemId": paracetamol, "quantity": 16}]})  # fmt: skip
    assert code == 200, rest
    assert rest["records"][0]["part"] == 2 and rest["records"][0]["owing"] == 0
    assert rest["prescription"]["status"] == "partially_dispensed"  # the amoxicillin repeat is still to come
    records = rx.tables.list(
        "dispensing_records", [Query.equal("prescription_id", journey["signed"]["prescription"]["$id"])]
    )
    assert len(records) == 3


def test_patient_sees_own_prescription_and_records(rx, journey):
    patient = TablesDB(rx.people["patient"].client)
    mine = patient.list_rows("main", "prescriptions").rows
    assert journey["signed"]["prescription"]["$id"] in {row.id for row in mine}
    assert all(row.data["patient_id"] == rx.patients["uk"]["$id"] for row in mine)
    assert patient.list_rows("main", "dispensing_records").total >= 1
    assert patient.get_row("main", "patients", rx.patients["uk"]["$id"]).data["family_name"] == "Doe"


def test_audit_chain_records_every_step_and_verifies(rx, journey):
    events = rx.tables.list(
        "audit_events", [Query.equal("chain", rx.clinics["uk"]), Query.order_asc("seq"), Query.limit(5000)]
    )
    assert verify_chain(events) is None
    mine = [e for e in events if e["entity_id"] == journey["signed"]["prescription"]["$id"]]
    actions = [e["action"] for e in mine]
    assert actions[:2] == ["prescription.created", "prescription.signed"]
    assert "prescription.verified" in actions and actions.count("prescription.dispensed") == 2
    assert {e["actor_id"] for e in mine} == {rx.people["prescriber"].id, rx.people["pharmacist"].id}
    assert all(e["ip"] == "127.0.0.1" and e["patient_id"] == rx.patients["uk"]["$id"] for e in mine)
    dispensed = json.loads(next(e for e in mine if e["action"] == "prescription.dispensed")["detail"])
    assert dispensed["status"] == "partially_dispensed"
