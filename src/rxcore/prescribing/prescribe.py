"""The prescription-create function's service: create (draft), sign (Ed25519 + PDF), cancel, get.

Every write is one transaction with its audit event, so a prescription never exists without its items or its
trail. The prescription's id is derived from the prescriber and their idempotency key, so the same request
twice returns the same prescription. See docs/functions/prescription-create.md."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import date
from typing import Any

from appwrite.query import Query

from rxcore import audit, signing
from rxcore.access import Caller, caller, gather, practitioner_of, require_keys, row_permissions, text_field
from rxcore.clock import iso
from rxcore.errors import ServiceError
from rxcore.files import ensure_file
from rxcore.function_shell import FunctionRequest
from rxcore.prescribing import canonical, pdf
from rxcore.prescribing.numbers import new_au_number, new_uk_number
from rxcore.prescribing.records import clinic_today, items_of, public
from rxcore.prescribing.rules import (
    MAX_ITEMS,
    Product,
    RuleViolation,
    add_period,
    check_items,
    check_patient,
    parse_item,
    parse_period,
    period_text,
    validity,
)
from rxcore.prescribing.words import quantity_text
from rxcore.tables import retry_conflicts

CANCELLABLE = ("draft", "signed", "partially_dispensed")


def _digest(body: dict[str, Any]) -> str:
    payload = {k: v for k, v in body.items() if k not in ("sign", "action")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _start_date(body: dict[str, Any], today: date) -> str | None:
    value = body.get("startDate")
    if value is None:
        return None
    try:
        start = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        start = None
    if start is None or start < today or start > add_period(today, (6, "months")):
        raise ServiceError(
            400, "general_argument_invalid", "`startDate` is a date (YYYY-MM-DD) from today to 6 months on."
        )
    return value


def create(c: Caller, body: dict[str, Any]) -> dict[str, Any]:
    require_keys(body, {"clinicId", "patientId", "idempotencyKey", "items", "authorityNumber", "startDate", "sign"})
    clinic_id = text_field(body, "clinicId", limit=36)
    patient_id = text_field(body, "patientId", limit=36)
    key = text_field(body, "idempotencyKey", limit=64)
    authority = text_field(body, "authorityNumber", required=False, limit=40)
    start_date = _start_date(body, c.now.date())
    raw_items = body.get("items")
    if not isinstance(raw_items, list) or not 1 <= len(raw_items) <= MAX_ITEMS:
        raise RuleViolation("prescription_invalid", f"`items` must list 1 to {MAX_ITEMS} medicines.")
    requests = [parse_item(item, line) for line, item in enumerate(raw_items, start=1)]
    codes = sorted({r.code for r in requests})
    prescription_id = hashlib.sha256(f"{c.user_id}:{key}".encode()).hexdigest()[:32]
    digest = _digest(body)
    t = c.tables
    reads = gather(
        practitioner=lambda: t.get("practitioners", c.user_id),
        clinic=lambda: t.get("clinics", clinic_id),
        patient=lambda: t.get("patients", patient_id),
        existing=lambda: t.get("prescriptions", prescription_id),
        medicines=lambda: t.list("medicines", [Query.equal("$id", codes), Query.limit(len(codes))]),
        head=lambda: audit.head_of(t, clinic_id),
    )
    prescriber = practitioner_of(reads["practitioner"], "prescriber", clinic_id)
    if reads["existing"] is not None:
        return _replay(c, reads["existing"], digest, body.get("sign") is True)
    clinic, patient = reads["clinic"], reads["patient"]
    if clinic is None or not clinic.get("active", True):
        raise ServiceError(404, "clinic_not_found", "No clinic with this id is yours.")
    if patient is None or patient["clinic_id"] != clinic_id:
        raise ServiceError(404, "patient_not_found", "No patient with this id in this clinic.")
    country = clinic["country"]
    if country == "AU" and not prescriber.get("prescriber_number"):
        raise ServiceError(403, "prescriber_number_required", "Prescribing in Australia needs a PBS prescriber number.")
    if country == "UK" and not clinic.get("ods_code"):
        raise ServiceError(409, "clinic_ods_code_required", "A UK clinic needs an ODS code to number prescriptions.")
    products = {row["$id"]: Product.from_row(row) for row in reads["medicines"]}
    checked = check_items(country, requests, products, authority)
    check_patient(country, checked, patient)

    permissions = row_permissions(clinic_id, patient)
    prescription = {
        "clinic_id": clinic_id,
        "patient_id": patient_id,
        "prescriber_id": c.user_id,
        "country": country,
        "jurisdiction": clinic.get("state"),
        "status": "draft",
        "request_digest": digest,
        "authority_number": authority,
        "start_date": start_date,
        "item_count": len(checked),
        "controlled": any(item.controlled for item in checked),
    }
    items = []
    for item in checked:
        r = item.request
        items.append(
            {
                "$id": f"{prescription_id}-{item.line}",
                "prescription_id": prescription_id,
                "line": item.line,
                "medicine_code": item.product.code,
                "medicine_type": item.product.type,
                "name": item.product.name,
                "form": item.product.form,
                "dose": r.dose,
                "quantity": float(r.quantity),
                "unit": r.unit,
                "quantity_words": r.quantity_words,
                "repeats": r.repeats,
                "min_interval_days": item.min_interval_days,
                "days_supply": r.days_supply,
                "clinical_justification": r.justification,
                "schedule": item.schedule,
                "controlled": item.controlled,
                "supplies_allowed": 1 + r.repeats,
                "first_dispense_within": period_text(item.first_dispense_days),
                "valid_for": period_text(item.validity),
            }
        )
    sequence = t.increment("clinics", clinic_id, "eps_sequence")["eps_sequence"] if country == "UK" else 0
    state = {"head": reads["head"], "first": True}

    def write() -> dict[str, Any] | None:
        if not state["first"]:
            again = t.get("prescriptions", prescription_id)
            if again is not None:  # the same request, sent twice at once, won
                return again
            state["head"] = audit.head_of(t, clinic_id)
        state["first"] = False
        prescription["number"] = new_uk_number(clinic["ods_code"], sequence) if country == "UK" else new_au_number()
        codes = [i["medicine_code"] for i in items]
        event = c.prescription_event(
            "prescriber", "prescription.created", {"$id": prescription_id} | prescription, items=codes
        )
        operations = [t.op("create", "prescriptions", prescription_id, prescription | {"$permissions": permissions})]
        operations += [
            t.op(
                "create",
                "prescription_items",
                row["$id"],
                {k: v for k, v in row.items() if k != "$id"} | {"$permissions": permissions},
            )
            for row in items
        ]
        operations += audit.append_operations(t, [event], iso(c.now), state["head"])
        t.commit(operations)
        return None

    winner = retry_conflicts(write)
    if winner is not None:
        return _replay(c, winner, digest, body.get("sign") is True)
    result = {"prescription": public({"$id": prescription_id} | prescription), "items": items, "replayed": False}
    if body.get("sign") is True:
        return sign(c, {"prescriptionId": prescription_id})
    return result


def _replay(c: Caller, existing: dict[str, Any], digest: str, then_sign: bool) -> dict[str, Any]:
    if existing["request_digest"] != digest:
        raise ServiceError(
            409, "idempotency_key_reused", "This idempotency key was used for a different prescription request."
        )
    if then_sign and existing["status"] == "draft":
        return sign(c, {"prescriptionId": existing["$id"]})
    items = [public(item) for item in items_of(c, existing["$id"])]
    return {"prescription": public(existing), "items": items, "replayed": True}


def _own_prescription(c: Caller, body: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    prescription_id = text_field(body, "prescriptionId", limit=36)
    t = c.tables
    reads = gather(
        practitioner=lambda: t.get("practitioners", c.user_id),
        prescription=lambda: t.get("prescriptions", prescription_id),
        items=lambda: items_of(c, prescription_id),
        **(extra or {}),
    )
    reads["prescriber"] = practitioner_of(reads["practitioner"], "prescriber")
    prescription = reads["prescription"]
    if prescription is None or prescription["clinic_id"] not in reads["prescriber"].get("clinic_ids", []):
        raise ServiceError(404, "prescription_not_found", "No prescription with this id is yours.")
    reads["items"] = [public(item) for item in reads["items"]]
    return reads


def _signing_key(c: Caller, prescriber: dict[str, Any], key_row: dict[str, Any] | None) -> dict[str, Any]:
    """The prescriber's key pair, made on their first signature.

    The key row and the public key on the practitioner's row are written in one transaction: a crash leaves both
    or neither. A practitioner row that does not name the key (left so by a crash before writes were joined) is
    repaired here, before anything is signed with the key."""
    if key_row is not None:
        if prescriber.get("key_fingerprint") != key_row["fingerprint"]:
            published = {"public_key": key_row["public_key"], "key_fingerprint": key_row["fingerprint"]}
            c.tables.update("practitioners", c.user_id, published)
        return key_row
    sealed, public_key = signing.new_key_pair(c.request.env.get("PRACTITIONER_KEY_SECRET", ""), c.user_id)
    row = {
        "practitioner_id": c.user_id,
        "sealed_private_key": sealed,
        "public_key": public_key,
        "fingerprint": signing.fingerprint(public_key),
        "created_at": iso(c.now),
    }
    published = {"public_key": public_key, "key_fingerprint": row["fingerprint"]}
    t = c.tables
    first = True

    def write() -> dict[str, Any]:
        nonlocal first
        if not first:  # lost a race: a signature running at the same moment may have made the key
            made = t.get("practitioner_keys", c.user_id)
            if made is not None:
                return made
        first = False
        keys = t.op("create", "practitioner_keys", c.user_id, row)
        t.commit([keys, t.op("update", "practitioners", c.user_id, published)])
        return row

    return retry_conflicts(write)


def sign(c: Caller, body: dict[str, Any]) -> dict[str, Any]:
    """Sign a draft once. The transaction begins before the prescription is read, so of two signatures racing
    the second commit fails (the row changed after it began), re-reads, and answers the stored result: exactly
    one signature and one `prescription.signed` event. The PDF is rendered from the stored snapshot after the
    commit and written once (a crash in between leaves a signed prescription whose PDF the next call makes)."""
    require_keys(body, {"prescriptionId"})
    t = c.tables

    def attempt() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], bool]:
        tx = t.begin()
        try:
            reads = _own_prescription(c, body, {"key": lambda: t.get("practitioner_keys", c.user_id)})
            prescription, items, prescriber = reads["prescription"], reads["items"], reads["prescriber"]
            if prescription["prescriber_id"] != c.user_id:
                raise ServiceError(
                    403, "prescription_not_yours", "Only the prescriber who wrote a prescription may sign it."
                )
            if prescription["status"] == "cancelled":
                raise ServiceError(409, "prescription_cancelled", "A cancelled prescription cannot be signed.")
            if prescription["status"] != "draft":
                t.rollback(tx)
                return prescription, items, t.get("patients", prescription["patient_id"]), True
            return _sign_draft(c, tx, prescription, items, prescriber, reads["key"]) + (False,)
        except BaseException:
            t.rollback(tx)
            raise

    row, items, patient, replayed = retry_conflicts(attempt)
    _ensure_pdf(c, row, patient)
    return {"prescription": public(row), "items": items, "replayed": replayed}


def _sign_draft(
    c: Caller,
    tx: str,
    prescription: dict[str, Any],
    items: list[dict[str, Any]],
    prescriber: dict[str, Any],
    key_row: dict[str, Any] | None,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    t = c.tables
    clinic_id = prescription["clinic_id"]
    more = gather(
        clinic=lambda: t.get("clinics", clinic_id),
        patient=lambda: t.get("patients", prescription["patient_id"]),
        head=lambda: audit.head_of(t, clinic_id),
        key=lambda: _signing_key(c, prescriber, key_row),
    )
    key = more["key"]
    start = date.fromisoformat(prescription["start_date"]) if prescription.get("start_date") else None
    periods = [(parse_period(i["first_dispense_within"]), parse_period(i["valid_for"])) for i in items]
    today = clinic_today(c, prescription)
    dates = {name: value.isoformat() for name, value in asdict(validity(periods, today, start)).items()}
    signed_at = iso(c.now)
    texts = {i["$id"]: quantity_text(i["quantity"], i.get("quantity_words"), i["unit"]) for i in items}
    signed = canonical.snapshot(
        prescription | dates, items, more["clinic"], prescriber, more["patient"], texts, signed_at
    )
    signature = signing.sign(
        c.request.env.get("PRACTITIONER_KEY_SECRET", ""),
        c.user_id,
        key["sealed_private_key"],
        canonical.canonical_bytes(signed),
    )
    update = dates | {
        "status": "signed",
        "signed_at": signed_at,
        "signature": signature,
        "key_fingerprint": key["fingerprint"],
        "pdf_file_id": prescription["$id"],
        "snapshot": json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
    }
    event = c.prescription_event("prescriber", "prescription.signed", prescription, fingerprint=key["fingerprint"])
    operations = [t.op("update", "prescriptions", prescription["$id"], update)]
    t.commit(operations + audit.append_operations(t, [event], signed_at, more["head"]), tx)
    return prescription | update, items, more["patient"]


def _ensure_pdf(c: Caller, prescription: dict[str, Any], patient: dict[str, Any] | None) -> None:
    """The signed prescription's PDF under its id, readable by the clinic and the patient: rendered from the stored
    snapshot, so every caller would make the same document; made only if it is not there yet."""
    if prescription["status"] == "draft" or not prescription.get("snapshot"):
        return
    ensure_file(
        c.request.client,
        c.request.env.get("RX_PDF_BUCKET_ID", "prescription_pdfs"),
        prescription["$id"],
        lambda: pdf.render(json.loads(prescription["snapshot"]), prescription["key_fingerprint"]),
        f"{prescription['number']}.pdf",
        "application/pdf",
        row_permissions(prescription["clinic_id"], patient or {}),
    )


def cancel(c: Caller, body: dict[str, Any]) -> dict[str, Any]:
    require_keys(body, {"prescriptionId", "reason"})
    reason = text_field(body, "reason", limit=400)
    t = c.tables

    def write() -> dict[str, Any]:
        reads = _own_prescription(c, body)
        prescription = reads["prescription"]
        if prescription["status"] == "cancelled":
            return {"prescription": public(prescription), "items": reads["items"], "replayed": True}
        if prescription["status"] not in CANCELLABLE:
            raise ServiceError(
                409, "prescription_not_cancellable", f"A {prescription['status']} prescription cannot be cancelled."
            )
        update = {"status": "cancelled", "cancelled_at": iso(c.now), "cancel_reason": reason}
        event = c.prescription_event(
            "prescriber",
            "prescription.cancelled",
            prescription,
            reason=reason,
            previous_status=prescription["status"],
        )
        operations = [t.op("update", "prescriptions", prescription["$id"], update)]
        t.commit(operations + audit.append_operations(t, [event], iso(c.now)))
        return {"prescription": public(prescription | update), "items": reads["items"], "replayed": False}

    return retry_conflicts(write)


def get(c: Caller, body: dict[str, Any]) -> dict[str, Any]:
    require_keys(body, {"prescriptionId"})
    reads = _own_prescription(c, body)
    prescription = reads["prescription"]
    event = c.prescription_event(
        "prescriber",
        "prescription.viewed",
        prescription,
    )
    audit.append(c.tables, [event], iso(c.now))
    return {"prescription": public(prescription), "items": reads["items"]}


ACTIONS = {"create": create, "sign": sign, "cancel": cancel, "get": get}


def handle(request: FunctionRequest) -> dict[str, Any]:
    action = request.body.get("action", "create")
    if action not in ACTIONS:
        raise ServiceError(400, "general_argument_invalid", f"`action` must be one of {', '.join(ACTIONS)}.")
    return ACTIONS[action](caller(request), request.body)
