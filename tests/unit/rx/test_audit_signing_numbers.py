"""The audit hash chain, Ed25519 signing with sealed keys, canonical snapshots, prescription numbers, patients."""

from __future__ import annotations

import base64
from datetime import date

import pytest
from cryptography.exceptions import InvalidTag

from rxcore.audit import GENESIS, AuditEvent, chain_rows, event_id, verify_chain
from rxcore.errors import ServiceError
from rxcore.identifiers import InvalidIdentifier
from rxcore.patients import InvalidPatient, normalise_patient
from rxcore.prescribing import canonical
from rxcore.prescribing.numbers import new_au_number, new_uk_number, normalise_number
from rxcore.signing import fingerprint, new_key_pair, sign, verify

SECRET = "s" * 40


def events(n, clinic="clinic-1"):
    return [
        AuditEvent(
            "user-1",
            "prescriber",
            "prescription.created",
            "prescription",
            f"p{i}",
            clinic,
            "pt-1",
            "127.0.0.1",
            {"i": i},
        )
        for i in range(n)
    ]


def built_chain(n):
    rows = chain_rows(None, events(n), "2026-03-10T12:00:00.000+00:00")
    return [row | {"$id": event_id(row["chain"], row["seq"])} for row in rows]


def test_chain_links_and_continues_from_its_head():
    rows = built_chain(3)
    assert rows[0]["prev_hash"] == GENESIS and rows[1]["prev_hash"] == rows[0]["hash"]
    assert [r["seq"] for r in rows] == [1, 2, 3]
    more = chain_rows(rows[-1], events(1), "2026-03-10T12:00:01.000+00:00")
    assert more[0]["seq"] == 4 and more[0]["prev_hash"] == rows[-1]["hash"]
    assert verify_chain(rows) is None
    assert chain_rows(None, events(1, clinic=None), "t")[0]["chain"] == "platform"


@pytest.mark.parametrize(
    "tamper, seq, reason",
    [
        (lambda rows: rows[1].update(actor_id="someone-else"), 2, "content"),
        (lambda rows: rows[2].update(prev_hash="f" * 64), 3, "prev_hash"),
        (lambda rows: rows.pop(1), 2, "missing"),
        (lambda rows: rows[1].update(hash=rows[1]["hash"][::-1]), 2, "content"),
        (lambda rows: rows[0].update({"$id": "x"}), 1, "row id"),
    ],
)
def test_chain_names_the_first_broken_link(tamper, seq, reason):
    rows = built_chain(4)
    tamper(rows)
    broken = verify_chain(rows)
    assert broken is not None and broken.seq == seq and reason in broken.reason


def test_sign_and_verify_with_a_sealed_key():
    sealed, public = new_key_pair(SECRET, "user-1")
    signature = sign(SECRET, "user-1", sealed, b"message")
    assert verify(public, b"message", signature)
    assert not verify(public, b"messagE", signature)
    assert not verify(public, b"message", base64.b64encode(b"\0" * 64).decode())
    assert not verify(public, b"message", "not base64!")
    other_sealed, other_public = new_key_pair(SECRET, "user-2")
    assert not verify(other_public, b"message", signature)
    assert len(fingerprint(public).split()) == 16
    with pytest.raises(InvalidTag):  # the sealed key is bound to its practitioner and to the secret
        sign(SECRET, "user-2", sealed, b"message")
    with pytest.raises(InvalidTag):
        sign("t" * 40, "user-1", sealed, b"message")
    with pytest.raises(ServiceError) as info:
        new_key_pair("short", "user-1")
    assert info.value.type == "signing_not_configured"


def test_canonical_snapshot_detects_row_changes():
    prescription = {
        "number": "N",
        "clinic_id": "c",
        "patient_id": "p",
        "prescriber_id": "u",
        "country": "UK",
        "authority_number": None,
        "appropriate_date": "2026-03-10",
        "first_dispense_by": "2026-09-09",
        "expires_on": "2026-09-09",
    }
    items = [
        {
            "$id": "i1",
            "line": 1,
            "medicine_code": "1",
            "name": "A",
            "dose": "d",
            "quantity": 28.0,
            "unit": "tablets",
            "quantity_words": None,
            "repeats": 0,
            "min_interval_days": 0,
            "schedule": None,
            "form": "Tablet",
        }
    ]
    clinic = {"name": "Clinic", "ods_code": "A81001"}
    prescriber = {"name": "Dr A", "registration_body": "GMC", "registration_number": "1234567"}
    patient = {"given_name": "Jane", "family_name": "Doe", "date_of_birth": "2020-01-01", "nhs_number": "9990000018"}
    signed = canonical.snapshot(
        prescription,
        items,
        clinic,
        prescriber,
        patient,
        {"i1": "28 (twenty-eight) tablets"},
        "2026-03-10T12:00:00.000+00:00",
    )
    assert signed["patient"]["identifier"] == "NHS number 999 000 0018" and signed["patient"]["age_under_12"] == 6
    assert canonical.matches_rows(signed, prescription, items)
    assert canonical.canonical_bytes(signed).startswith(b"rx-prescription-v1\n")
    assert not canonical.matches_rows(signed, prescription, [items[0] | {"quantity": 56.0}])
    assert not canonical.matches_rows(signed, prescription | {"expires_on": "2027-01-01"}, items)
    assert not canonical.matches_rows(signed, prescription, items + [items[0] | {"$id": "i2", "line": 2}])


def test_prescription_numbers():
    uk = new_uk_number("A81001", 5)
    assert normalise_number(uk.lower()) == uk and uk.split("-")[1] == "A81001"
    au = new_au_number()
    assert normalise_number(f" {au.lower()} ") == au and len(au) == 23
    assert new_au_number() != au
    broken = au[:-1] + ("0" if au[-1] != "0" else "1")
    for bad in (broken, "AU-123", "", None, "83C40E-A23856-00123X"):
        with pytest.raises(InvalidIdentifier):
            normalise_number(bad)


def test_patient_validation_by_country():
    today = date(2026, 3, 10)
    uk = normalise_patient(
        "UK",
        {
            "given_name": " Jane ",
            "family_name": "Doe",
            "nhs_number": "943 476 5919",
            "postcode": "ls1 4ap",
            "phone": "07400 123456",
            "email": "Jane@Example.test",
            "sex": "Female",
            "date_of_birth": "1980-02-29",
            "address": "",
        },
        today,
    )
    assert uk == {
        "given_name": "Jane",
        "family_name": "Doe",
        "nhs_number": "9434765919",
        "postcode": "LS1 4AP",
        "phone": "+447400123456",
        "email": "jane@example.test",
        "sex": "female",
        "date_of_birth": "1980-02-29",
    }
    with pytest.raises(InvalidPatient) as info:
        normalise_patient(
            "UK",
            {
                "family_name": "Doe",
                "nhs_number": "9434765918",
                "date_of_birth": "2027-01-01",
                "medicare_number": "2123456701",
                "userId": "x",
            },
            today,
        )
    assert set(info.value.errors) == {"given_name", "nhs_number", "date_of_birth", "medicare_number", "userId"}
    au = normalise_patient(
        "AU",
        {
            "given_name": "Liam",
            "family_name": "Smith",
            "medicare_number": "21234567011",
            "ihi": "8003608333647212",
            "state": "vic",
            "postcode": "3182",
        },
        today,
    )
    assert au["medicare_number"] == "2123456701" and au["medicare_irn"] == "1" and au["state"] == "VIC"
    with pytest.raises(InvalidPatient) as info:
        normalise_patient(
            "AU", {"given_name": "L", "family_name": "S", "nhs_number": "9434765919", "postcode": "LS1"}, today
        )
    assert set(info.value.errors) == {"nhs_number", "postcode"}
