"""Clinical writes that a crash could once leave half-done (issue 20): each is now one transaction, or is ordered
so that whatever prefix survived is repaired by the next run. These tests build the state a crash left under the
old code and show the next run repairs it; tests/e2e/test_crash_safety.py kills the server for real."""

from __future__ import annotations

import pytest
from appwrite.query import Query

from tests.support.rx_world import uk_item

pytestmark = pytest.mark.e2e


def _new_prescriber(rx, key: str) -> str:
    number = "7000001" if key.endswith("1") else "7000002"
    return rx.staff(key, "uk", "Dr New Signer", "prescriber", "GMC", number).id


def _create_and_sign(rx, who: str) -> dict:
    code, created = rx.prescribe(who, clinicId=rx.clinics["uk"], patientId=rx.patients["uk"]["$id"], items=[uk_item()])
    assert code == 200, created
    code, signed = rx.execute(
        who, "prescription-create", {"action": "sign", "prescriptionId": created["prescription"]["$id"]}
    )
    assert code == 200, signed
    return signed["prescription"]


def _dispensable(rx, number: str) -> bool:
    code, verified = rx.execute("pharmacist", "dispensing", {"action": "verify", "number": number})
    assert code == 200, verified
    return verified["verification"]["signature_valid"] and verified["verification"]["dispensable"]


def test_first_signature_publishes_the_key_with_the_key(rx):
    user_id = _new_prescriber(rx, "signer1")
    prescription = _create_and_sign(rx, "signer1")
    key_row = rx.tables.get("practitioner_keys", user_id)
    practitioner = rx.tables.get("practitioners", user_id)
    assert practitioner["key_fingerprint"] == key_row["fingerprint"] == prescription["key_fingerprint"]
    assert practitioner["public_key"] == key_row["public_key"]
    assert _dispensable(rx, prescription["number"])


def test_a_key_without_its_public_key_is_repaired_by_the_next_signature(rx):
    """The state the old code left when it died between saving the key and publishing it: every later
    prescription of that prescriber failed verification, permanently."""
    user_id = _new_prescriber(rx, "signer2")
    first = _create_and_sign(rx, "signer2")
    rx.tables.update("practitioners", user_id, {"public_key": None, "key_fingerprint": None})
    assert not _dispensable(rx, first["number"])  # the damage, as a pharmacist met it

    second = _create_and_sign(rx, "signer2")
    practitioner = rx.tables.get("practitioners", user_id)
    assert practitioner["key_fingerprint"] == rx.tables.get("practitioner_keys", user_id)["fingerprint"]
    assert _dispensable(rx, second["number"]) and _dispensable(rx, first["number"])


def test_a_dispense_key_replays_only_its_own_request(rx):
    """Issue 14.5: the same key with another quantity or on another prescription is a 409, never a replay."""
    first, second = _create_and_sign(rx, "prescriber"), _create_and_sign(rx, "prescriber")
    items = rx.tables.list("prescription_items", [Query.equal("prescription_id", first["$id"])])

    def dispense(prescription, quantity, item_id=items[0]["$id"]):
        body = {"action": "dispense", "number": prescription["number"], "idempotencyKey": "key-once",
                "items": [{"itemId": item_id, "quantity": quantity}]}  # fmt: skip
        return rx.execute("pharmacist", "dispensing", body)

    code, done = dispense(first, 10)
    assert code == 200 and done["replayed"] is False, done
    assert dispense(first, 10)[1]["replayed"] is True
    code, answer = dispense(first, 11)
    assert (code, answer["type"]) == (409, "idempotency_key_reused")
    other_item = rx.tables.list("prescription_items", [Query.equal("prescription_id", second["$id"])])[0]["$id"]
    code, answer = dispense(second, 10, other_item)
    assert (code, answer["type"]) == (409, "idempotency_key_reused")
    records = rx.tables.list("dispensing_records", [Query.equal("prescription_id", second["$id"])])
    assert records == [], "nothing was written for the refused request"


def test_concurrent_signatures_of_one_draft_make_one_signature_one_event_one_pdf(rx):
    """Issue 14.4: eight signatures at once: one signs, the others answer the stored result."""
    from concurrent.futures import ThreadPoolExecutor

    from appwrite.services.storage import Storage

    code, created = rx.prescribe(
        "prescriber", clinicId=rx.clinics["uk"], patientId=rx.patients["uk"]["$id"], items=[uk_item()]
    )
    assert code == 200, created
    prescription_id = created["prescription"]["$id"]
    body = {"action": "sign", "prescriptionId": prescription_id}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: rx.execute("prescriber", "prescription-create", body), range(8)))
    assert all(code == 200 for code, _ in answers), answers
    stored = rx.tables.get("prescriptions", prescription_id)
    assert sorted(a["replayed"] for _, a in answers) == [False] + [True] * 7
    assert {a["prescription"]["signature"] for _, a in answers} == {stored["signature"]}
    events = rx.tables.list(
        "audit_events", [Query.equal("entity_id", prescription_id), Query.equal("action", "prescription.signed")]
    )
    assert len(events) == 1
    pdf = Storage(rx.admin).get_file("prescription_pdfs", prescription_id)
    assert pdf.sizeoriginal > 0 and stored["pdf_file_id"] == prescription_id
    assert _dispensable(rx, stored["number"])
