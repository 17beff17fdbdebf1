"""The patient-portal function: identification and six read/update actions for one patient's own records.

Every action first resolves the patient (rxcore.portal.access), then reads only rows whose patient_id is that
patient's: a prescription of anyone else answers 404 whatever its id. Related rows are read in batches (one query
for all the page's items, one for their dispensing records), never one query per prescription. Every access is
audited. See docs/functions/patient-portal.md."""

from __future__ import annotations

import base64
from typing import Any

from appwrite.query import Query

from rxcore import audit
from rxcore.actions import Dispatcher
from rxcore.clock import iso
from rxcore.errors import BadRequest, NotFound
from rxcore.identity import Caller
from rxcore.portal import receipt as receipt_pdf
from rxcore.portal.access import identify
from rxcore.portal.requests import History, Identify, PatientRequest, Preferences, PrescriptionOfPatient
from rxcore.settings import PortalSettings

actions = Dispatcher("patient-portal", settings=PortalSettings)
actions.action("identify", Identify, guests=True)(identify)
VISIBLE = ["signed", "partially_dispensed", "dispensed", "cancelled", "expired"]  # drafts are the prescriber's
PROFILE_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "nhs_number",
    "medicare_number",
    "medicare_irn",
    "ihi",
    "address",
    "postcode",
    "state",
    "email",
    "phone",
    "notify_email",
    "notify_sms",
    "notify_whatsapp",
    "quiet_hours_start",
    "quiet_hours_end",
)
PRESCRIPTION_FIELDS = (
    "$id",
    "number",
    "status",
    "country",
    "signed_at",
    "appropriate_date",
    "expires_on",
    "cancelled_at",
    "item_count",
    "controlled",
    "clinic_id",
)
ITEM_FIELDS = (
    "$id",
    "prescription_id",
    "line",
    "name",
    "dose",
    "quantity",
    "unit",
    "repeats",
    "supplies_allowed",
    "supplies_done",
    "current_supplied",
)
RECORD_FIELDS = ("$id", "prescription_id", "item_id", "supply_number", "part", "quantity", "owing", "dispensed_at")


def _pick(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: row.get(k) for k in fields}


def _related(c: Caller, prescription_ids: list[str]) -> dict[str, Any]:
    if not prescription_ids:
        return {"items": [], "records": []}
    t = c.tables
    return c.gather(
        items=lambda: t.list(
            "prescription_items", [Query.equal("prescription_id", prescription_ids), Query.limit(1000)]
        ),
        records=lambda: t.list(
            "dispensing_records", [Query.equal("prescription_id", prescription_ids), Query.limit(1000)]
        ),
    )


def _patient(c: Caller, params: PatientRequest) -> dict[str, Any]:
    """The patient this call is about (rxcore.identity). Identified by token, the patient is the actor the audit
    names (actor_role "patient", detail via "token"); the bare id fits the actor column whatever id they have."""
    patient = c.patient(params.token, params.patient_id)
    if not c.request.user_id:
        c.user_id = patient["$id"]
    return patient


def _own_prescription(c: Caller, patient: dict[str, Any], prescription_id: str) -> dict[str, Any]:
    found = c.tables.get("prescriptions", prescription_id)
    if found is None or found["patient_id"] != patient["$id"] or found["status"] not in VISIBLE:
        raise NotFound("prescription_not_found", "No prescription with this id is yours.")
    return found


def _audit(c: Caller, patient: dict[str, Any], action: str, entity: str, entity_id: str, **detail: Any) -> None:
    role = "patient"
    event = c.event(role, action, entity, entity_id, patient["clinic_id"], patient["$id"], via=_via(c), **detail)
    audit.append(c.tables, [event], iso(c.now))


def _via(c: Caller) -> str:
    return "account" if c.request.user_id else "token"


@actions.action("get_prescription_history", History, guests=True)
def history(c: Caller, params: History) -> dict[str, Any]:
    """The patient's prescriptions, newest first, paged with `cursor`, optionally between two dates."""
    patient = _patient(c, params)
    limit = params.limit
    queries = [
        Query.equal("patient_id", patient["$id"]),
        Query.equal("status", VISIBLE),
        Query.order_desc("signed_at"),
        Query.limit(limit + 1),
    ]
    if params.first:
        queries.append(Query.greater_than_equal("signed_at", f"{params.first}T00:00:00.000+00:00"))
    if params.last:
        queries.append(Query.less_than_equal("signed_at", f"{params.last}T23:59:59.999+00:00"))
    if params.cursor:
        queries.append(Query.cursor_after(params.cursor))
    rows = c.tables.list("prescriptions", queries)
    page, more = rows[:limit], len(rows) > limit
    items = _related(c, [r["$id"] for r in page])["items"] if page else []
    names: dict[str, list[str]] = {}
    for item in sorted(items, key=lambda i: i["line"]):
        names.setdefault(item["prescription_id"], []).append(item["name"])
    _audit(c, patient, "portal.history_viewed", "patient", patient["$id"], count=len(page))
    return {
        "prescriptions": [_pick(r, PRESCRIPTION_FIELDS) | {"medicines": names.get(r["$id"], [])} for r in page],
        "nextCursor": page[-1]["$id"] if more else None,
    }


@actions.action("get_prescription_detail", PrescriptionOfPatient, guests=True)
def detail(c: Caller, params: PrescriptionOfPatient) -> dict[str, Any]:
    """One prescription: its items and every supply, with the PDF's file id."""
    patient = _patient(c, params)
    prescription = _own_prescription(c, patient, params.prescription_id)
    related = _related(c, [prescription["$id"]])
    _audit(c, patient, "portal.prescription_viewed", "prescription", prescription["$id"])
    return {
        "prescription": _pick(prescription, PRESCRIPTION_FIELDS) | {"pdf_file_id": prescription.get("pdf_file_id")},
        "items": [_pick(i, ITEM_FIELDS) for i in sorted(related["items"], key=lambda i: i["line"])],
        "dispensing": [_pick(r, RECORD_FIELDS) for r in sorted(related["records"], key=lambda r: r["dispensed_at"])],
    }


@actions.action("track_prescription_status", PrescriptionOfPatient, guests=True)
def track(c: Caller, params: PrescriptionOfPatient) -> dict[str, Any]:
    """Where a prescription is: signed, supplied (in part), cancelled, as a timeline."""
    patient = _patient(c, params)
    prescription = _own_prescription(c, patient, params.prescription_id)
    records = _related(c, [prescription["$id"]])["records"]
    timeline = [{"at": prescription["signed_at"], "event": "signed"}]
    timeline += [
        {
            "at": r["dispensed_at"],
            "event": "dispensed" if not r["owing"] else "part_dispensed",
            "quantity": r["quantity"],
            "owing": r["owing"],
        }
        for r in records
    ]
    if prescription.get("cancelled_at"):
        timeline.append({"at": prescription["cancelled_at"], "event": "cancelled"})
    _audit(c, patient, "portal.status_viewed", "prescription", prescription["$id"])
    return {
        "number": prescription["number"],
        "status": prescription["status"],
        "expires_on": prescription["expires_on"],
        "timeline": sorted(timeline, key=lambda e: e["at"] or ""),
    }


@actions.action("get_patient_profile", PatientRequest, guests=True)
def profile(c: Caller, params: PatientRequest) -> dict[str, Any]:
    """The patient's own record: identifiers, contact details, notification preferences."""
    patient = _patient(c, params)
    _audit(c, patient, "portal.profile_viewed", "patient", patient["$id"])
    return {"patient": _pick(patient, ("$id", *PROFILE_FIELDS))}


PREFERENCE_COLUMNS = {
    "email": "notify_email",
    "sms": "notify_sms",
    "whatsapp": "notify_whatsapp",
    "quiet_hours_start": "quiet_hours_start",
    "quiet_hours_end": "quiet_hours_end",
}


@actions.action("update_patient_preferences", Preferences, guests=True)
def update_preferences(c: Caller, params: Preferences) -> dict[str, Any]:
    """Change how the patient hears from us: email, SMS, WhatsApp, quiet hours."""
    patient = _patient(c, params)
    given = params.model_fields_set
    update = {column: getattr(params, field) for field, column in PREFERENCE_COLUMNS.items() if field in given}
    for column in ("notify_email", "notify_sms", "notify_whatsapp"):
        if column in update and update[column] is None:
            raise BadRequest("general_argument_invalid", "`email`, `sms` and `whatsapp` are true or false.")
    if (update.get("notify_sms") or update.get("notify_whatsapp")) and not patient.get("phone"):
        raise BadRequest("patient_phone_required", "SMS and WhatsApp need a mobile number on your record.")
    if not update:
        raise BadRequest("general_argument_invalid", "Give at least one preference to change.")
    event = c.event(
        "patient",
        "portal.preferences_updated",
        "patient",
        patient["$id"],
        patient["clinic_id"],
        patient["$id"],
        via=_via(c),
        changes=update,
    )
    operations = [c.tables.op("update", "patients", patient["$id"], update)]
    c.tables.commit(operations + audit.append_operations(c.tables, [event], iso(c.now)))
    return {"patient": _pick(patient | update, ("$id", *PROFILE_FIELDS))}


@actions.action("download_prescription_receipt", PrescriptionOfPatient, guests=True)
def receipt(c: Caller, params: PrescriptionOfPatient) -> dict[str, Any]:
    """A PDF receipt of what was supplied (base64)."""
    patient = _patient(c, params)
    prescription = _own_prescription(c, patient, params.prescription_id)
    related = _related(c, [prescription["$id"]])
    ids = list({r["pharmacist_id"] for r in related["records"]})
    staff = c.tables.list("practitioners", [Query.equal("$id", ids), Query.limit(100)]) if ids else []
    pharmacists = {p["$id"]: p["name"] for p in staff}
    pdf = receipt_pdf.render(prescription, related["items"], related["records"], pharmacists)
    _audit(c, patient, "portal.receipt_downloaded", "prescription", prescription["$id"])
    return {
        "filename": f"receipt-{prescription['number']}.pdf",
        "contentType": "application/pdf",
        "base64": base64.b64encode(pdf).decode(),
    }
