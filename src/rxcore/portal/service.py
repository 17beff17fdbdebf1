"""The patient-portal function: identification and six read/update actions for one patient's own records.

Every action first resolves the patient (rxcore.portal.access), then reads only rows whose patient_id is that
patient's: a prescription of anyone else answers 404 whatever its id. Related rows are read in batches (one query
for all the page's items, one for their dispensing records), never one query per prescription. Every access is
audited. See docs/functions/patient-portal.md."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

from appwrite.query import Query

from rxcore import audit
from rxcore.access import Caller, caller, gather, require_keys
from rxcore.clock import iso
from rxcore.errors import ServiceError
from rxcore.function_shell import FunctionRequest
from rxcore.portal import receipt as receipt_pdf
from rxcore.portal.access import identify, resolve_patient
from rxcore.tables import Tables

VISIBLE = ["signed", "partially_dispensed", "dispensed", "cancelled", "expired"]  # drafts are the prescriber's
PAGE_MAX = 50
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


def _related(t: Tables, prescription_ids: list[str]) -> dict[str, Any]:
    if not prescription_ids:
        return {"items": [], "records": []}
    return gather(
        items=lambda: t.list(
            "prescription_items", [Query.equal("prescription_id", prescription_ids), Query.limit(1000)]
        ),
        records=lambda: t.list(
            "dispensing_records", [Query.equal("prescription_id", prescription_ids), Query.limit(1000)]
        ),
    )


def _own_prescription(c: Caller, patient: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    prescription_id = body.get("prescriptionId")
    found = None
    if isinstance(prescription_id, str) and prescription_id:
        found = c.tables.get("prescriptions", prescription_id)
    if found is None or found["patient_id"] != patient["$id"] or found["status"] not in VISIBLE:
        raise ServiceError(404, "prescription_not_found", "No prescription with this id is yours.")
    return found


def _audit(c: Caller, patient: dict[str, Any], action: str, entity: str, entity_id: str, **detail: Any) -> None:
    role = "patient"
    event = c.event(role, action, entity, entity_id, patient["clinic_id"], patient["$id"], via=_via(c), **detail)
    audit.append(c.tables, [event], iso(c.now))


def _via(c: Caller) -> str:
    return "account" if c.request.user_id else "token"


def _date(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat() if isinstance(value, str) else None
    except ValueError:
        raise ServiceError(400, "general_argument_invalid", f"`{key}` is a date, YYYY-MM-DD.") from None


def history(c: Caller, patient: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    require_keys(body, {"token", "patientId", "limit", "cursor", "from", "to"})
    limit = body.get("limit", 20)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_MAX:
        raise ServiceError(400, "general_argument_invalid", f"`limit` is 1 to {PAGE_MAX}.")
    queries = [
        Query.equal("patient_id", patient["$id"]),
        Query.equal("status", VISIBLE),
        Query.order_desc("signed_at"),
        Query.limit(limit + 1),
    ]
    if start := _date(body, "from"):
        queries.append(Query.greater_than_equal("signed_at", f"{start}T00:00:00.000+00:00"))
    if end := _date(body, "to"):
        queries.append(Query.less_than_equal("signed_at", f"{end}T23:59:59.999+00:00"))
    if isinstance(body.get("cursor"), str):
        queries.append(Query.cursor_after(body["cursor"]))
    rows = c.tables.list("prescriptions", queries)
    page, more = rows[:limit], len(rows) > limit
    items = _related(c.tables, [r["$id"] for r in page])["items"] if page else []
    names: dict[str, list[str]] = {}
    for item in sorted(items, key=lambda i: i["line"]):
        names.setdefault(item["prescription_id"], []).append(item["name"])
    _audit(c, patient, "portal.history_viewed", "patient", patient["$id"], count=len(page))
    return {
        "prescriptions": [_pick(r, PRESCRIPTION_FIELDS) | {"medicines": names.get(r["$id"], [])} for r in page],
        "nextCursor": page[-1]["$id"] if more else None,
    }


def detail(c: Caller, patient: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    require_keys(body, {"token", "patientId", "prescriptionId"})
    prescription = _own_prescription(c, patient, body)
    related = _related(c.tables, [prescription["$id"]])
    _audit(c, patient, "portal.prescription_viewed", "prescription", prescription["$id"])
    return {
        "prescription": _pick(prescription, PRESCRIPTION_FIELDS) | {"pdf_file_id": prescription.get("pdf_file_id")},
        "items": [_pick(i, ITEM_FIELDS) for i in sorted(related["items"], key=lambda i: i["line"])],
        "dispensing": [_pick(r, RECORD_FIELDS) for r in sorted(related["records"], key=lambda r: r["dispensed_at"])],
    }


def track(c: Caller, patient: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    require_keys(body, {"token", "patientId", "prescriptionId"})
    prescription = _own_prescription(c, patient, body)
    records = _related(c.tables, [prescription["$id"]])["records"]
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


def profile(c: Caller, patient: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    require_keys(body, {"token", "patientId"})
    _audit(c, patient, "portal.profile_viewed", "patient", patient["$id"])
    return {"patient": _pick(patient, ("$id", *PROFILE_FIELDS))}


def _hhmm(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or len(value) != 5
        or value[2] != ":"
        or not (value[:2].isdigit() and value[3:].isdigit() and int(value[:2]) < 24 and int(value[3:]) < 60)
    ):
        raise ServiceError(400, "general_argument_invalid", f"`{key}` is a time of day, HH:MM.")
    return value


def update_preferences(c: Caller, patient: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    require_keys(body, {"token", "patientId", "email", "sms", "whatsapp", "quietHoursStart", "quietHoursEnd"})
    update: dict[str, Any] = {}
    for key, column in (("email", "notify_email"), ("sms", "notify_sms"), ("whatsapp", "notify_whatsapp")):
        if key in body:
            if not isinstance(body[key], bool):
                raise ServiceError(400, "general_argument_invalid", f"`{key}` is true or false.")
            update[column] = body[key]
    for key, column in (("quietHoursStart", "quiet_hours_start"), ("quietHoursEnd", "quiet_hours_end")):
        if key in body:
            update[column] = _hhmm(body[key], key)
    if (update.get("notify_sms") or update.get("notify_whatsapp")) and not patient.get("phone"):
        raise ServiceError(400, "patient_phone_required", "SMS and WhatsApp need a mobile number on your record.")
    if not update:
        raise ServiceError(400, "general_argument_invalid", "Give at least one preference to change.")
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


def receipt(c: Caller, patient: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    require_keys(body, {"token", "patientId", "prescriptionId"})
    prescription = _own_prescription(c, patient, body)
    related = _related(c.tables, [prescription["$id"]])
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


ACTIONS = {
    "get_prescription_history": history,
    "get_prescription_detail": detail,
    "track_prescription_status": track,
    "get_patient_profile": profile,
    "update_patient_preferences": update_preferences,
    "download_prescription_receipt": receipt,
}


def handle(request: FunctionRequest) -> dict[str, Any]:
    action = request.body.get("action")
    c = caller(request, guests=True)
    if action == "identify":
        require_keys(request.body, {"nhsNumber", "dateOfBirth", "postcode", "medicareNumber", "medicareIrn"})
        return identify(c, request.body, request.client_ip)
    if action not in ACTIONS:
        raise ServiceError(
            400, "general_argument_invalid", f"`action` must be identify or one of {', '.join(ACTIONS)}."
        )
    patient = resolve_patient(c, request.body)
    if not request.user_id:
        # Identified by token: the audit names the patient as the actor (actor_role "patient", detail via "token").
        # The bare id fits the 36-character actor column whatever id the patient has (an import gives 32 hex).
        c.user_id = patient["$id"]
    return ACTIONS[action](c, patient, request.body)
