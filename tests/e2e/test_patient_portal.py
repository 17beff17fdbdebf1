"""patient-portal through the real server, executor and SDK: a patient's own records by account or by NHS
identification; never anyone else's."""

from __future__ import annotations

import base64
import json
from datetime import date

import pypdfium2
import pytest
from appwrite.exception import AppwriteException
from appwrite.query import Query

from rxcore import clinics
from tests.support.rx_world import uk_item

IDENTITY = {"nhsNumber": "999 000 0050", "dateOfBirth": "1985-07-14", "postcode": "ls2 9jt"}


@pytest.fixture(scope="module")
def portal(rx):
    """A patient with three prescriptions (one partly dispensed, one dispensed, one a draft) and a linked account;
    and someone else's prescription."""
    patient = clinics.add_patient(
        rx.admin,
        clinic_id=rx.clinics["uk"],
        today=date.today(),
        data={
            "given_name": "Pat",
            "family_name": "Portal",
            "date_of_birth": "1985-07-14",
            "nhs_number": "9990000050",
            "address": "8 Moor Road, Leeds",
            "postcode": "LS2 9JT",
            "phone": "07512 345678",
        },
    )
    account = rx.user("portal_patient", "Pat Portal")
    clinics.link_patient_account(rx.admin, patient_id=patient["$id"], user_id=account.id)
    signed = []
    for quantity in (21, 28, 14):
        code, body = rx.prescribe(
            "prescriber",
            clinicId=rx.clinics["uk"],
            patientId=patient["$id"],
            items=[uk_item(quantity=quantity)],
            sign=True,
        )
        assert code == 200, body
        signed.append(body)
    draft = rx.prescribe("prescriber", clinicId=rx.clinics["uk"], patientId=patient["$id"], items=[uk_item()])[1]
    for n, supplied in ((0, 10), (1, 28)):
        body = {
            "action": "dispense",
            "number": signed[n]["prescription"]["number"],
            "idempotencyKey": f"portal-{n}",
            "items": [{"itemId": signed[n]["items"][0]["$id"], "quantity": supplied}],
        }
        assert rx.execute("pharmacist", "dispensing", body)[0] == 200
    other = rx.prescribe(
        "prescriber", clinicId=rx.clinics["uk"], patientId=rx.patients["uk_child"]["$id"], items=[uk_item()], sign=True
    )[1]
    return {"patient": patient, "account": "portal_patient", "signed": signed, "draft": draft, "other": other}


def call(rx, who, action, **body):
    return rx.execute(who, "patient-portal", {"action": action} | body)


def token(rx):
    code, answer = call(rx, None, "identify", **IDENTITY)
    assert code == 200, answer
    return answer["token"]


def test_history_by_account_with_pages_and_dates(rx, portal):
    code, page1 = call(rx, portal["account"], "get_prescription_history", limit=2)
    assert code == 200, page1
    assert len(page1["prescriptions"]) == 2 and page1["nextCursor"]
    code, page2 = call(rx, portal["account"], "get_prescription_history", limit=2, cursor=page1["nextCursor"])
    ids = [p["$id"] for p in page1["prescriptions"] + page2["prescriptions"]]
    assert sorted(ids) == sorted(s["prescription"]["$id"] for s in portal["signed"]) and page2["nextCursor"] is None
    assert portal["draft"]["prescription"]["$id"] not in ids  # drafts are not the patient's yet
    assert page1["prescriptions"][0]["medicines"] == ["Amoxicillin 500mg capsules"]
    today = date.today().isoformat()
    assert (
        len(call(rx, portal["account"], "get_prescription_history", **{"from": today, "to": today})[1]["prescriptions"])
        == 3
    )
    assert call(rx, portal["account"], "get_prescription_history", **{"from": "2099-01-01"})[1]["prescriptions"] == []


def test_identification_gives_a_token_and_never_says_what_was_wrong(rx, portal):
    answers = []
    for wrong in (
        {"nhsNumber": "999 000 0069"},
        {"dateOfBirth": "1985-07-15"},
        {"postcode": "LS2 9JU"},
        {"nhsNumber": "12345"},
    ):
        code, answer = call(rx, None, "identify", **(IDENTITY | wrong))
        answers.append((code, answer["type"], answer["message"]))
    assert set(answers) == {(401, "portal_identification_failed", "These details do not match our records.")}
    code, answer = call(rx, None, "identify", **IDENTITY)
    assert code == 200 and answer["token"] and answer["expiresAt"]


def test_every_action_by_token(rx, portal):
    t = token(rx)
    partly = portal["signed"][0]["prescription"]
    code, detail = call(rx, None, "get_prescription_detail", token=t, prescriptionId=partly["$id"])
    assert code == 200 and detail["prescription"]["status"] == "partially_dispensed"
    assert detail["dispensing"][0]["quantity"] == 10 and detail["dispensing"][0]["owing"] == 11
    code, tracked = call(rx, None, "track_prescription_status", token=t, prescriptionId=partly["$id"])
    assert [e["event"] for e in tracked["timeline"]] == ["signed", "part_dispensed"]
    code, profile = call(rx, None, "get_patient_profile", token=t)
    assert profile["patient"]["nhs_number"] == "9990000050" and profile["patient"]["notify_sms"] is False
    code, updated = call(
        rx,
        None,
        "update_patient_preferences",
        token=t,
        sms=True,
        whatsapp=True,
        quietHoursStart="21:00",
        quietHoursEnd="07:30",
    )
    assert code == 200 and updated["patient"]["notify_whatsapp"] is True
    assert call(rx, None, "get_patient_profile", token=t)[1]["patient"]["quiet_hours_end"] == "07:30"
    code, bad = call(rx, None, "update_patient_preferences", token=t, quietHoursStart="25:00")
    assert (code, bad["type"]) == (400, "general_argument_invalid")
    code, receipt = call(rx, None, "download_prescription_receipt", token=t, prescriptionId=partly["$id"])
    pdf = base64.b64decode(receipt["base64"])
    text = pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range()
    assert receipt["contentType"] == "application/pdf" and partly["number"] in text
    # Issue 14.13: a receipt a patient understands: where, who, when, what was supplied and what is still to come.
    for expected in ("From Riverside Online Clinic", "Prescribed by Dr Alice Prescott", "Supplied 10 capsules on",
                     "by Priya Patel", "Still to come: 11 capsules", "Prescribed: 21 capsules, supplied once",
                     "This is a record of what was prescribed"):  # fmt: skip
        assert expected in text, (expected, text)
    assert " x " not in text
    code, answer = call(rx, None, "get_patient_profile", token=t + "x")
    assert (code, answer["type"]) == (401, "portal_token_invalid")
    code, answer = call(rx, None, "get_patient_profile")
    assert (code, answer["type"]) == (401, "user_unauthorized")


def test_another_patients_prescription_is_unreachable(rx, portal):
    other = portal["other"]["prescription"]["$id"]
    t = token(rx)
    for action in ("get_prescription_detail", "track_prescription_status", "download_prescription_receipt"):
        for who, extra in ((None, {"token": t}), (portal["account"], {}), ("patient", {})):
            code, answer = call(rx, who, action, prescriptionId=other, **extra)
            assert (code, answer["type"]) == (404, "prescription_not_found"), (action, who)
    listed = call(rx, portal["account"], "get_prescription_history", limit=50)[1]["prescriptions"]
    assert other not in {p["$id"] for p in listed}
    code, answer = call(rx, "stranger", "get_patient_profile")  # an account with no patient record
    assert (code, answer["type"]) == (404, "patient_not_found")
    code, answer = call(rx, portal["account"], "get_patient_profile", patientId=rx.patients["uk"]["$id"])
    assert (code, answer["type"]) == (404, "patient_not_found")


def test_every_access_is_audited(rx, portal):
    events = rx.tables.list("audit_events", [Query.equal("patient_id", portal["patient"]["$id"]), Query.limit(500)])
    actions = {e["action"] for e in events}
    assert {
        "portal.identified",
        "portal.history_viewed",
        "portal.prescription_viewed",
        "portal.status_viewed",
        "portal.profile_viewed",
        "portal.preferences_updated",
        "portal.receipt_downloaded",
    } <= actions
    by_token = [e for e in events if json.loads(e["detail"]).get("via") == "token"]
    assert by_token and all(e["actor_id"] == portal["patient"]["$id"] for e in by_token)


def test_the_portal_function_refuses_caller_headers(rx):
    from appwrite.services.functions import Functions

    with pytest.raises(AppwriteException) as info:
        Functions(rx.client()).create_execution("patient-portal", "{}", headers={"x-appwrite-user-id": "someone"})
    assert info.value.code == 400


def test_a_patient_imported_from_a_spreadsheet_uses_the_portal(rx, tmp_path):
    """Imported patients have 32-character ids (issue 14.1): every action by token, and the audit names them."""
    from scripts import make_patient_test_data as data

    clinic = clinics.create_clinic(
        rx.admin, name="Import Portal Clinic", country="UK", admin_user_id=rx.people["owner"].id, ods_code="D84004"
    )["$id"]
    nhs = next(data.nhs_numbers(880_000))
    path = tmp_path / "one.csv"
    data.write_csv(path, [data.HEADER, data.patient_row(1, nhs)])
    file_id = rx.upload_patients(path)
    body = data.import_request(clinic, file_id)
    code, answer = rx.execute("owner", "patient-import", body)
    assert code == 200 and answer["batch"]["created"] == 1, answer
    patient = rx.tables.list("patients", [Query.equal("clinic_id", clinic)])[0]
    assert len(patient["$id"]) == 32

    identity = {"nhsNumber": nhs, "dateOfBirth": "1941-02-02", "postcode": data.patient_row(1, nhs)[5]}
    code, answer = call(rx, None, "identify", **identity)
    assert code == 200, answer
    t = answer["token"]
    for action, extra in (("get_prescription_history", {}), ("get_patient_profile", {})):
        code, answer = call(rx, None, action, token=t, **extra)
        assert code == 200, (action, answer)
    code, answer = call(rx, None, "update_patient_preferences", token=t, email=False)
    assert code == 200 and answer["patient"]["notify_email"] is False, answer
    events = rx.tables.list("audit_events", [Query.equal("chain", clinic), Query.equal("actor_role", "patient")])
    assert events and all(e["actor_id"] == patient["$id"] for e in events)


def test_australian_patients_identify_with_medicare_number_irn_and_date_of_birth(rx):
    """Issue 14.17."""
    au = {"medicareNumber": "2123 45670 1", "medicareIrn": "1", "dateOfBirth": "1975-06-30"}
    code, answer = call(rx, None, "identify", **au)
    # The same person may be on another clinic's list too (the import tests load one): each record is covered.
    assert code == 200 and rx.patients["au"]["$id"] in answer["patients"], answer
    code, profile = call(rx, None, "get_patient_profile", token=answer["token"])
    assert code == 200 and profile["patient"]["medicare_number"] == "2123456701"
    for wrong in ({"medicareIrn": "2"}, {"dateOfBirth": "1975-06-29"}, {"medicareIrn": None}):
        code, refused = call(rx, None, "identify", **{k: v for k, v in (au | wrong).items() if v is not None})
        assert (code, refused["type"]) == (401, "portal_identification_failed"), wrong


def test_a_clinic_cannot_hold_two_records_of_one_person(rx):
    """Issue 14.7: one NHS number (or Medicare number + IRN) per clinic; another clinic may hold the same person."""
    uk = rx.patients["uk"]
    same = {"given_name": "Jane", "family_name": "Again", "date_of_birth": "1980-02-29", "nhs_number": uk["nhs_number"]}
    with pytest.raises(clinics.DuplicatePatient):
        clinics.add_patient(rx.admin, clinic_id=rx.clinics["uk"], today=date.today(), data=same)
    elsewhere = clinics.add_patient(rx.admin, clinic_id=rx.clinics["uk2"], today=date.today(), data=same)
    assert elsewhere["clinic_id"] == rx.clinics["uk2"]
    medicare = {"given_name": "Liam", "family_name": "Twice", "date_of_birth": "1975-06-30",
                "medicare_number": "2123456701", "medicare_irn": "1", "state": "VIC"}  # fmt: skip
    with pytest.raises(clinics.DuplicatePatient):
        clinics.add_patient(rx.admin, clinic_id=rx.clinics["au"], today=date.today(), data=medicare)
    sibling = clinics.add_patient(
        rx.admin, clinic_id=rx.clinics["au"], today=date.today(), data=medicare | {"medicare_irn": "2"}
    )
    assert sibling["medicare_irn"] == "2"  # the same card, another person on it
