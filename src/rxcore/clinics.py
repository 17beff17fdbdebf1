"""Setting up clinics and their people, through the Appwrite API with a server (API key) client.

A clinic is an Appwrite team (team id = clinic id) plus a `clinics` row readable by its members. Practitioners
are users with a `practitioners` row, a membership of each clinic with their role, and a label. Patients are
rows readable by their clinic's team and, once linked to an account, by that user. Used by
scripts/clinic_admin.py and by the tests; see docs/clinics-and-people.md."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.query import Query
from appwrite.services.storage import Storage
from appwrite.services.teams import Teams
from appwrite.services.users import Users

from rxcore.access import row_permissions
from rxcore.identifiers import InvalidIdentifier
from rxcore.identifiers.au import normalise_healthcare_identifier, normalise_provider_number, pbs_prescriber_number
from rxcore.identifiers.uk import normalise_ods_code, normalise_registration
from rxcore.patients import AU_STATES, normalise_patient
from rxcore.tables import Tables

ROLE_BODIES = {
    ("UK", "prescriber"): ("GMC", "NMC", "GPhC", "HCPC", "GDC"),
    ("UK", "pharmacist"): ("GPhC",),
    ("AU", "prescriber"): ("AHPRA",),
    ("AU", "pharmacist"): ("AHPRA",),
}


def create_clinic(
    client: Client,
    *,
    name: str,
    country: str,
    admin_user_id: str,
    ods_code: str | None = None,
    hpio: str | None = None,
    state: str | None = None,
    address: str | None = None,
    clinic_id: str | None = None,
    database_id: str = "main",
) -> dict[str, Any]:
    """A team, its `clinics` row, and its first admin as the team's owner."""
    if country not in ("UK", "AU"):
        raise InvalidIdentifier("country is UK or AU")
    row: dict[str, Any] = {"name": name.strip(), "country": country, "address": address, "active": True}
    if country == "UK":
        row["ods_code"] = normalise_ods_code(ods_code or "")
    else:
        row["hpio"] = normalise_healthcare_identifier("HPI-O", hpio or "")
        if state not in AU_STATES:
            raise InvalidIdentifier(f"an Australian clinic needs its state: one of {', '.join(AU_STATES)}")
        row["state"] = state
    team_id = clinic_id or ID.unique()
    Teams(client).create(team_id, name, ["owner", "admin", "prescriber", "pharmacist", "staff"])
    Teams(client).create_membership(team_id, ["owner", "admin"], user_id=admin_user_id)
    return Tables(client, database_id).create("clinics", team_id, row, [f'read("team:{team_id}")'])


def _label(client: Client, user_id: str, label: str) -> None:
    users = Users(client)
    labels = list(users.get(user_id).labels)
    if label not in labels:
        users.update_labels(user_id, [*labels, label])


def add_practitioner(
    client: Client,
    *,
    clinic_id: str,
    user_id: str,
    name: str,
    role: str,
    registration_body: str,
    registration_number: str,
    prescriber_number: str | None = None,
    provider_number: str | None = None,
    hpii: str | None = None,
    address: str | None = None,
    phone: str | None = None,
    database_id: str = "main",
) -> dict[str, Any]:
    """Make a user a prescriber or pharmacist of a clinic (a practitioner may work for several clinics). `address`
    and `phone` are the prescriber's own, printed on their prescriptions (UK and AU law ask for both)."""
    tables = Tables(client, database_id)
    clinic = tables.get("clinics", clinic_id)
    if clinic is None:
        raise InvalidIdentifier(f"no clinic {clinic_id}")
    bodies = ROLE_BODIES.get((clinic["country"], role))
    if bodies is None or registration_body not in bodies:
        raise InvalidIdentifier(f"a {role} in {clinic['country']} is registered with one of {', '.join(bodies or ())}")
    row: dict[str, Any] = {
        "user_id": user_id,
        "name": name.strip(),
        "role": role,
        "registration_body": registration_body,
        "registration_number": normalise_registration(registration_body, registration_number),
        "active": True,
    }
    if prescriber_number:
        row["prescriber_number"] = pbs_prescriber_number(prescriber_number)[0]
    if provider_number:
        row["provider_number"] = normalise_provider_number(provider_number)
    if hpii:
        row["hpii"] = normalise_healthcare_identifier("HPI-I", hpii)
    if address and address.strip():
        row["address"] = " ".join(address.split())[:300]
    if phone and phone.strip():
        if not re.fullmatch(r"\+?[0-9][0-9 ()-]{5,18}", phone.strip()):
            raise InvalidIdentifier(f"{phone!r} is not a telephone number")
        row["phone"] = phone.strip()
    existing = tables.get("practitioners", user_id)
    clinics = sorted({*(existing or {}).get("clinic_ids", []), clinic_id})
    row["clinic_ids"] = clinics
    permissions = [f'read("user:{user_id}")', *(f'read("team:{c}")' for c in clinics)]
    if existing is None:
        saved = tables.create("practitioners", user_id, row, permissions)
    else:
        saved = tables.update("practitioners", user_id, row, permissions)
    try:
        Teams(client).create_membership(clinic_id, [role], user_id=user_id)
    except AppwriteException as exc:
        if exc.code != 409:  # already a member
            raise
    _label(client, user_id, role)
    return saved


def add_patient(
    client: Client, *, clinic_id: str, data: dict[str, Any], today: date, database_id: str = "main"
) -> dict[str, Any]:
    """A validated patient row of the clinic (rxcore.patients.InvalidPatient names every bad field)."""
    tables = Tables(client, database_id)
    clinic = tables.get("clinics", clinic_id)
    if clinic is None:
        raise InvalidIdentifier(f"no clinic {clinic_id}")
    row = normalise_patient(clinic["country"], data, today) | {"clinic_id": clinic_id}
    try:
        return tables.create("patients", ID.unique(), row, row_permissions(clinic_id, {}))
    except AppwriteException as exc:
        # The clinic_nhs_unique / clinic_medicare_unique indexes: one record per person and clinic.
        if exc.code == 409 and "unique" in (exc.type or ""):
            which = "NHS number" if row.get("nhs_number") else "Medicare number and IRN"
            raise DuplicatePatient(f"the clinic already has a patient with this {which}") from None
        raise


class DuplicatePatient(InvalidIdentifier):
    """A second record for one person in one clinic (same NHS number, or Medicare number + IRN)."""


def link_patient_account(
    client: Client, *, patient_id: str, user_id: str, database_id: str = "main", pdf_bucket: str = "prescription_pdfs"
) -> dict[str, Any]:
    """Let a patient's own account read their record, their prescriptions (rows, items, dispensing records and
    PDFs) and, from then on, every new one."""
    tables = Tables(client, database_id)
    patient = tables.get("patients", patient_id)
    if patient is None:
        raise InvalidIdentifier(f"no patient {patient_id}")
    permissions = row_permissions(patient["clinic_id"], {"user_id": user_id})

    def grant(table: str, row_id: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        return tables.update(table, row_id, data or {}, permissions)

    saved = grant("patients", patient_id, {"user_id": user_id})
    ids = [Query.select(["$id"])]
    mine = [Query.equal("patient_id", patient_id), Query.select(["$id", "pdf_file_id"])]
    for prescription in list(tables.each("prescriptions", mine, page=100)):
        grant("prescriptions", prescription["$id"])
        of_it = [Query.equal("prescription_id", prescription["$id"]), *ids]
        for item in list(tables.each("prescription_items", of_it, page=100)):
            grant("prescription_items", item["$id"])
        if prescription.get("pdf_file_id"):
            Storage(client).update_file(pdf_bucket, prescription["pdf_file_id"], permissions=permissions)
    for record in list(tables.each("dispensing_records", [Query.equal("patient_id", patient_id), *ids], page=100)):
        grant("dispensing_records", record["$id"])
    _label(client, user_id, "patient")
    return saved
