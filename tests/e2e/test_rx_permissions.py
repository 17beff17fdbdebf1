"""Who may do what: every caller outside the clinic is refused with an Appwrite-shaped 401/403/404 and nothing
is written; table permissions let staff see their clinic's rows and a patient only their own."""

from __future__ import annotations

import json

import pytest
from appwrite.exception import AppwriteException
from appwrite.services.functions import Functions
from appwrite.services.storage import Storage
from appwrite.services.tables_db import TablesDB

from tests.support.rx_world import uk_item
from tests.support.sdk import error_of

WRITTEN = ("prescriptions", "prescription_items", "dispensing_records", "audit_events", "practitioner_keys")


@pytest.fixture(scope="module")
def signed(rx):
    code, body = rx.prescribe(
        "prescriber", clinicId=rx.clinics["uk"], patientId=rx.patients["uk"]["$id"], items=[uk_item()], sign=True
    )
    assert code == 200, body
    return body


def counts(rx):
    return {table: rx.count(table) for table in WRITTEN}


def assert_refused(rx, who, function_id, body, code, type_=None):
    before = counts(rx)
    if who is None:  # a guest cannot even start an execution of a users-only function
        error = error_of(Functions(rx.client()).create_execution, function_id, json.dumps(body))
        assert (error.code, error.type) == (401, "user_unauthorized")
    else:
        got, answer = rx.execute(who, function_id, body)
        assert got == code and set(answer) == {"message", "code", "type"} and answer["code"] == code, answer
        if type_:
            assert answer["type"] == type_, answer
    assert counts(rx) == before, "a refused request wrote something"


@pytest.mark.parametrize(
    "who, code, type_",
    [
        ("prescriber2", 404, "clinic_not_found"),  # another clinic's prescriber
        ("pharmacist", 403, "practitioner_not_authorised"),  # staff of the clinic, but not a prescriber
        ("pharmacist2", 403, "practitioner_not_authorised"),
        ("patient", 403, "practitioner_not_authorised"),
        ("stranger", 403, "practitioner_not_authorised"),
        (None, 401, None),
    ],
)
def test_only_the_clinics_prescribers_create(rx, who, code, type_):
    body = {
        "action": "create",
        "clinicId": rx.clinics["uk"],
        "patientId": rx.patients["uk"]["$id"],
        "idempotencyKey": f"matrix-{who}",
        "items": [uk_item()],
    }
    assert_refused(rx, who, "prescription-create", body, code, type_)


def test_a_prescriber_cannot_use_another_clinics_patient(rx):
    body = {
        "action": "create",
        "clinicId": rx.clinics["uk"],
        "patientId": rx.patients["uk2"]["$id"],
        "idempotencyKey": "other-patient",
        "items": [uk_item()],
    }
    assert_refused(rx, "prescriber", "prescription-create", body, 404, "patient_not_found")


@pytest.mark.parametrize("action", ["sign", "cancel", "get"])
@pytest.mark.parametrize(
    "who, code, type_",
    [
        ("prescriber2", 404, "prescription_not_found"),
        ("pharmacist", 403, "practitioner_not_authorised"),
        ("patient", 403, "practitioner_not_authorised"),
        (None, 401, None),
    ],
)
def test_only_the_clinic_touches_a_prescription(rx, signed, action, who, code, type_):
    body = {"action": action, "prescriptionId": signed["prescription"]["$id"]}
    if action == "cancel":
        body["reason"] = "testing"
    assert_refused(rx, who, "prescription-create", body, code, type_)


def test_another_prescriber_of_the_clinic_cannot_sign_a_draft(rx):
    code, draft = rx.prescribe(
        "prescriber", clinicId=rx.clinics["uk"], patientId=rx.patients["uk"]["$id"], items=[uk_item()]
    )
    assert code == 200
    rx.staff("colleague", "uk", "Dr Colleague", "prescriber", "NMC", "12A3456E")
    body = {"action": "sign", "prescriptionId": draft["prescription"]["$id"]}
    assert_refused(rx, "colleague", "prescription-create", body, 403, "prescription_not_yours")


@pytest.mark.parametrize("action", ["verify", "dispense"])
@pytest.mark.parametrize(
    "who, code, type_",
    [
        ("pharmacist2", 404, "prescription_not_found"),
        ("au_pharmacist", 404, "prescription_not_found"),
        ("prescriber", 403, "practitioner_not_authorised"),
        ("patient", 403, "practitioner_not_authorised"),
        (None, 401, None),
    ],
)
def test_only_the_clinics_pharmacists_dispense(rx, signed, action, who, code, type_):
    body = {"action": action, "number": signed["prescription"]["number"]}
    if action == "dispense":
        body |= {"idempotencyKey": "matrix", "items": [{"itemId": signed["items"][0]["$id"], "quantity": 1}]}
    assert_refused(rx, who, "dispensing", body, code, type_)


def test_identity_comes_only_from_appwrite(rx, signed):
    # a user id in the body is refused, not believed
    body = {
        "action": "create",
        "clinicId": rx.clinics["uk"],
        "patientId": rx.patients["uk"]["$id"],
        "idempotencyKey": "spoof",
        "items": [uk_item()],
        "userId": rx.people["prescriber"].id,
    }
    assert_refused(rx, "stranger", "prescription-create", body, 400, "general_argument_invalid")
    body = {
        "action": "dispense",
        "number": signed["prescription"]["number"],
        "idempotencyKey": "spoof",
        "items": [{"itemId": signed["items"][0]["$id"], "quantity": 1}],
        "pharmacistId": rx.people["pharmacist"].id,
    }
    assert_refused(rx, "pharmacist2", "dispensing", body, 400, "general_argument_invalid")
    # and Appwrite's own header cannot be sent by a caller
    with pytest.raises(AppwriteException) as info:
        Functions(rx.people["stranger"].client).create_execution(
            "prescription-create",
            json.dumps({"action": "get", "prescriptionId": signed["prescription"]["$id"]}),
            headers={"x-appwrite-user-id": rx.people["prescriber"].id},
        )
    assert info.value.code == 400


def test_table_permissions_follow_the_clinic_and_the_patient(rx, signed):
    prescription_id = signed["prescription"]["$id"]

    def visible(who, table):
        return {row.id for row in TablesDB(rx.people[who].client).list_rows("main", table).rows}

    assert prescription_id in visible("prescriber", "prescriptions")
    assert prescription_id in visible("pharmacist", "prescriptions")
    assert prescription_id in visible("patient", "prescriptions")
    for outsider in ("prescriber2", "pharmacist2", "au_prescriber", "stranger"):
        assert prescription_id not in visible(outsider, "prescriptions")
        assert rx.patients["uk"]["$id"] not in visible(outsider, "patients")
        assert signed["items"][0]["$id"] not in visible(outsider, "prescription_items")
        error = error_of(Storage(rx.people[outsider].client).get_file_download, "prescription_pdfs", prescription_id)
        assert error.code == 404
    # the patient sees their own record and prescriptions, not their child's or anyone else's
    assert visible("patient", "patients") == {rx.patients["uk"]["$id"]}
    assert all(
        row.data["patient_id"] == rx.patients["uk"]["$id"]
        for row in TablesDB(rx.people["patient"].client).list_rows("main", "prescriptions").rows
    )
    # staff see their clinic's patients; the audit trail is for platform admins only
    assert {rx.patients["uk"]["$id"], rx.patients["uk_child"]["$id"]} <= visible("pharmacist", "patients")
    assert rx.patients["uk2"]["$id"] not in visible("pharmacist", "patients")
    for who in ("prescriber", "patient"):
        assert error_of(TablesDB(rx.people[who].client).list_rows, "main", "audit_events").code == 401
    assert TablesDB(rx.client()).list_rows("main", "prescriptions").rows == []  # a guest holds no row permission
    # nobody but the functions writes prescriptions
    error = error_of(
        TablesDB(rx.people["prescriber"].client).update_row,
        "main",
        "prescriptions",
        prescription_id,
        {"status": "dispensed"},
    )
    assert error.code == 401


def test_linking_an_account_later_opens_the_patients_earlier_records(rx):
    from datetime import date

    from rxcore import clinics

    patient = clinics.add_patient(
        rx.admin,
        clinic_id=rx.clinics["uk"],
        today=date.today(),
        data={
            "given_name": "Late",
            "family_name": "Linker",
            "date_of_birth": "1960-01-01",
            "nhs_number": "9990000042",
            "address": "3 Mill Lane, Leeds",
            "postcode": "LS2 7AB",
        },
    )
    code, signed = rx.prescribe(
        "prescriber", clinicId=rx.clinics["uk"], patientId=patient["$id"], items=[uk_item()], sign=True
    )
    assert code == 200, signed
    number, item_id = signed["prescription"]["number"], signed["items"][0]["$id"]
    body = {
        "action": "dispense",
        "number": number,
        "idempotencyKey": "late-link",
        "items": [{"itemId": item_id, "quantity": 21}],
    }
    assert rx.execute("pharmacist", "dispensing", body)[0] == 200
    person = rx.user("late_patient", "Late Linker")
    tables = TablesDB(person.client)
    assert tables.list_rows("main", "prescriptions").rows == []
    clinics.link_patient_account(rx.admin, patient_id=patient["$id"], user_id=person.id)
    assert [r.id for r in tables.list_rows("main", "prescriptions").rows] == [signed["prescription"]["$id"]]
    assert [r.id for r in tables.list_rows("main", "prescription_items").rows] == [item_id]
    assert tables.list_rows("main", "dispensing_records").total == 1
    pdf = Storage(person.client).get_file_download("prescription_pdfs", signed["prescription"]["pdf_file_id"])
    assert pdf[:5] == b"%PDF-"
