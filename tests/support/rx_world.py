"""A small world for prescribing tests, built through the real API with rxcore.clinics (as scripts/clinic_admin.py
does): a catalogue of medicines, two UK clinics and an Australian one, their prescribers and pharmacists, patients
(one linked to a patient account), and helpers to execute the functions as any of them."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from appwrite.client import Client
from appwrite.id import ID
from appwrite.input_file import InputFile
from appwrite.services.account import Account
from appwrite.services.functions import Functions
from appwrite.services.storage import Storage
from appwrite.services.users import Users

from rxcore import clinics
from rxcore.checkdigits import verhoeff_digit
from rxcore.tables import Tables
from tests.support.local_server import LocalServer
from tests.support.sdk import set_function_variable, val

PASSWORD = "correct-horse-battery"


def sctid(n: int) -> str:
    """A SNOMED-shaped dm+d id (namespace 1000001, partition 10, Verhoeff check digit)."""
    payload = f"{n}100000110"
    return payload + verhoeff_digit(payload)


def _medicine(code: str, type_: str, name: str, form: str | None, legal: str = "POM", **facts: Any) -> dict:
    return {
        "code": code,
        "type": type_,
        "name": name,
        "form": form,
        "legal_category": legal,
        "release": "test",
        "digest": "0" * 16,
        "available": True,
        "discontinued": False,
        "invalid": False,
        "retired": False,
    } | facts


MEDICINES = {
    "amoxicillin": _medicine(sctid(9001), "vmp", "Amoxicillin 500mg capsules", "Capsule"),
    "paracetamol": _medicine(sctid(9002), "vmp", "Paracetamol 500mg tablets", "Tablet", "P"),
    "morphine": _medicine(
        sctid(9003),
        "vmp",
        "Morphine sulfate 10mg modified-release tablets",
        "Modified-release tablet",
        cd_schedule="2",
        controlled=True,
    ),
    "temazepam": _medicine(sctid(9004), "vmp", "Temazepam 10mg tablets", "Tablet", cd_schedule="3", controlled=True),
    "diazepam": _medicine(sctid(9005), "vmp", "Diazepam 5mg tablets", "Tablet", cd_schedule="4", controlled=True),
    "discontinued": _medicine(sctid(9006), "amp", "Oldbrand 20mg tablets (Gone Ltd)", "Tablet", discontinued=True),
    "invalid": _medicine(sctid(9007), "vmp", "Withdrawn 5mg tablets", "Tablet", invalid=True),
    "vtm": _medicine(sctid(9008), "vtm", "Amoxicillin", None),
    "cannabis_oil": _medicine(
        sctid(9009), "amp", "THC 10mg/mL oral liquid (Example Farms)", "Oral solution", au_schedule="S8"
    ),
    "cbd_oil": _medicine(
        sctid(9010), "amp", "Cannabidiol 100mg/mL oral liquid (Example Farms)", "Oral solution", au_schedule="S4"
    ),
}


@dataclass
class Person:
    id: str
    email: str
    client: Client


@dataclass
class World:
    server: LocalServer
    admin: Client
    people: dict[str, Person] = field(default_factory=dict)
    clinics: dict[str, str] = field(default_factory=dict)
    patients: dict[str, dict] = field(default_factory=dict)

    @property
    def tables(self) -> Tables:
        return Tables(self.admin)

    def client(self) -> Client:
        return Client().set_endpoint(self.server.endpoint).set_project(self.server.project_id)

    def user(self, key: str, name: str) -> Person:
        user_id = ID.unique()
        email = f"{key}-{user_id}@example.test"
        Users(self.admin).create(user_id, email=email, password=PASSWORD, name=name)
        session = Account(self.admin).create_email_password_session(email, PASSWORD)
        person = Person(user_id, email, self.client().set_session(session.secret))
        self.people[key] = person
        return person

    def staff(self, key: str, clinic: str, name: str, role: str, body: str, number: str, **extra: Any) -> Person:
        """A new user who is a practitioner (prescriber or pharmacist) of one of the world's clinics."""
        person = self.user(key, name)
        clinics.add_practitioner(
            self.admin,
            clinic_id=self.clinics[clinic],
            user_id=person.id,
            name=name,
            role=role,
            registration_body=body,
            registration_number=number,
            **extra,
        )
        return person

    def upload_patients(self, path: Path, who: str = "owner") -> str:
        """A patient list uploaded to the `patient_imports` bucket by `who`, as staff do before importing it."""
        upload = InputFile.from_path(str(path))
        return Storage(self.people[who].client).create_file("patient_imports", ID.unique(), upload).id

    def execute(self, who: str | None, function_id: str, body: dict) -> tuple[int, dict]:
        """Run a function synchronously as `who` (None = a guest); (status code, JSON body)."""
        client = self.people[who].client if who else self.client()
        execution = Functions(client).create_execution(function_id, json.dumps(body))
        code = int(execution.responsestatuscode)
        assert val(execution.status) == ("completed" if code < 500 else "failed"), execution.errors
        assert execution.responsebody, f"HTTP {code} without a body; errors: {execution.errors}"
        return code, json.loads(execution.responsebody)

    def prescribe(self, who: str, **body: Any) -> tuple[int, dict]:
        body.setdefault("idempotencyKey", secrets.token_hex(8))
        return self.execute(who, "prescription-create", {"action": "create"} | body)

    def count(self, table: str) -> int:
        from appwrite.query import Query

        return len(self.tables.list(table, [Query.limit(5000)]))


def build(server: LocalServer, admin: Client) -> World:
    world = World(server, admin)
    set_function_variable(admin, "prescription-create", "RX_PRACTITIONER_KEY_SECRET", secrets.token_urlsafe(32))
    set_function_variable(admin, "patient-portal", "RX_PORTAL_TOKEN_SECRET", secrets.token_urlsafe(32))
    tables = world.tables
    for row in MEDICINES.values():
        tables.create("medicines", row["code"], row)
    owner = world.user("owner", "Clinic Owner")
    clinic_specs = {
        "uk": {
            "name": "Riverside Online Clinic",
            "country": "UK",
            "ods_code": "A81001",
            "address": "1 River Street, Leeds LS1 4AP",
        },
        "uk2": {
            "name": "Hilltop Surgery",
            "country": "UK",
            "ods_code": "B82002",
            "address": "9 Hill Road, York YO1 7HH",
        },
        "au": {
            "name": "Harbour Telehealth",
            "country": "AU",
            "hpio": "8003621234567892",
            "state": "VIC",
            "address": "5 Bay St, Melbourne VIC 3000",
        },
    }
    for key, spec in clinic_specs.items():
        world.clinics[key] = clinics.create_clinic(admin, admin_user_id=owner.id, **spec)["$id"]
    staff = [
        ("prescriber", "uk", "Dr Alice Prescott", "prescriber", "GMC", "1234567", {}),
        ("pharmacist", "uk", "Priya Patel", "pharmacist", "GPhC", "2033467", {}),
        ("prescriber2", "uk2", "Dr Bob Hill", "prescriber", "GMC", "7654321", {}),
        ("pharmacist2", "uk2", "Sam Jones", "pharmacist", "GPhC", "2000001", {}),
        (
            "au_prescriber",
            "au",
            "Dr Chloe Nguyen",
            "prescriber",
            "AHPRA",
            "MED0000932846",
            {"prescriber_number": "2425739", "provider_number": "4024742F", "hpii": "8003611234567893"},
        ),
        ("au_pharmacist", "au", "Tom Lee", "pharmacist", "AHPRA", "PHA0001234567", {}),
    ]
    for key, clinic, name, role, body, number, extra in staff:
        world.staff(key, clinic, name, role, body, number, **extra)
    today = date.today()
    world.patients["uk"] = clinics.add_patient(
        admin,
        clinic_id=world.clinics["uk"],
        today=today,
        data={
            "given_name": "Jane",
            "family_name": "Doe",
            "date_of_birth": "1980-02-29",
            "sex": "female",
            "nhs_number": "999 000 0018",
            "address": "14 Park Lane, Leeds",
            "postcode": "ls1 4ap",
            "email": "jane.doe@example.test",
            "phone": "07400 123456",
        },
    )
    world.patients["uk_child"] = clinics.add_patient(
        admin,
        clinic_id=world.clinics["uk"],
        today=today,
        data={
            "given_name": "Tom",
            "family_name": "Doe",
            "date_of_birth": f"{today.year - 7}-05-01",
            "sex": "male",
            "nhs_number": "9990000026",
            "address": "14 Park Lane, Leeds",
            "postcode": "LS1 4AP",
        },
    )
    world.patients["uk_no_address"] = clinics.add_patient(
        admin,
        clinic_id=world.clinics["uk"],
        today=today,
        data={"given_name": "Ann", "family_name": "Nomad", "date_of_birth": "1970-01-01", "postcode": "ZZ99 3VZ"},
    )
    world.patients["uk2"] = clinics.add_patient(
        admin,
        clinic_id=world.clinics["uk2"],
        today=today,
        data={
            "given_name": "Other",
            "family_name": "Patient",
            "date_of_birth": "1990-01-01",
            "nhs_number": "9990000034",
            "address": "2 Hill Road, York",
            "postcode": "YO1 7HH",
        },
    )
    world.patients["au"] = clinics.add_patient(
        admin,
        clinic_id=world.clinics["au"],
        today=today,
        data={
            "given_name": "Liam",
            "family_name": "Smith",
            "date_of_birth": "1975-06-30",
            "sex": "male",
            "medicare_number": "2123456701",
            "medicare_irn": "1",
            "ihi": "8003608333647212",
            "address": "7 Beach Rd, St Kilda VIC",
            "postcode": "3182",
            "state": "VIC",
            "phone": "0412 345 678",
        },
    )
    patient_user = world.user("patient", "Jane Doe")
    world.patients["uk"] = clinics.link_patient_account(
        admin, patient_id=world.patients["uk"]["$id"], user_id=patient_user.id
    )
    world.user("stranger", "Someone Else")
    return world


def uk_item(**overrides: Any) -> dict:
    return {
        "code": MEDICINES["amoxicillin"]["code"],
        "dose": "One capsule three times a day",
        "quantity": 21,
        "unit": "capsules",
        "repeats": 0,
    } | overrides


def morphine_item(**overrides: Any) -> dict:
    return {
        "code": MEDICINES["morphine"]["code"],
        "dose": "One tablet twice a day",
        "quantity": 56,
        "quantityWords": "fifty-six",
        "unit": "tablets",
        "repeats": 0,
        "daysSupply": 28,
    } | overrides
