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

from rxcore import audit, outbox, signing
from rxcore.access import row_permissions
from rxcore.actions import Dispatcher
from rxcore.audit import Change, commit_with_audit
from rxcore.clock import iso
from rxcore.dmd import search as medicine_search
from rxcore.errors import Conflict, Forbidden, NotFound, PaymentRequired, invalid_argument
from rxcore.files import ensure_file
from rxcore.identity import Caller, practitioner_of
from rxcore.ids import derived_id
from rxcore.prescribing import canonical, pdf
from rxcore.prescribing.numbers import new_au_number, new_uk_number
from rxcore.prescribing.records import clinic_today, items_of, public
from rxcore.prescribing.requests import CancelPrescription, CreatePrescription, MedicineSearch, PrescriptionRef
from rxcore.prescribing.rules import (
    Product,
    add_period,
    check_items,
    check_patient,
    parse_period,
    period_text,
    validity,
)
from rxcore.prescribing.words import quantity_text
from rxcore.settings import PrescribingSettings
from rxcore.tables import retry_conflicts
from rxcore.wallet import pricing, spending

CANCELLABLE = ("draft", "signed", "partially_dispensed")
actions = Dispatcher("prescription-create", default="create", settings=PrescribingSettings)


def _digest(params: CreatePrescription) -> str:
    """What the request asked for (not whether to sign at once): the same key must come with the same request."""
    payload = params.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude={"sign"})
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _start_date(start: date | None, today: date) -> str | None:
    if start is None:
        return None
    if start < today or start > add_period(today, (6, "months")):
        raise invalid_argument("`startDate` is a date (YYYY-MM-DD) from today to 6 months on.")
    return start.isoformat()


@actions.action("create", CreatePrescription)
def create(c: Caller, params: CreatePrescription) -> dict[str, Any]:
    """Write a draft prescription (signed at once with `sign`); the same idempotency key answers the same one."""
    clinic_id, patient_id, authority = params.clinic_id, params.patient_id, params.authority_number
    start_date = _start_date(params.start_date, c.now.date())
    requests = [line.to_request() for line in params.items]
    codes = sorted({r.code for r in requests if not r.supplier})
    supplier_ids = sorted({r.code for r in requests if r.supplier})
    prescription_id = derived_id(c.user_id, params.idempotency_key)
    digest = _digest(params)
    t = c.tables
    reads = c.gather(
        practitioner=lambda: t.get("practitioners", c.user_id),
        clinic=lambda: t.get("clinics", clinic_id),
        patient=lambda: t.get("patients", patient_id),
        existing=lambda: t.get("prescriptions", prescription_id),
        medicines=lambda: t.list("medicines", [Query.equal("$id", codes), Query.limit(len(codes))]) if codes else [],
        supplier_products=lambda: (
            t.list("supplier_products", [Query.equal("$id", supplier_ids), Query.limit(len(supplier_ids))])
            if supplier_ids
            else []
        ),
        head=lambda: audit.head_of(t, clinic_id),
        pricing=lambda: pricing.load(t, clinic_id),
        payer=lambda: spending.payer_for(t, c.user_id, clinic_id),
    )
    prescriber = practitioner_of(reads["practitioner"], "prescriber", clinic_id)
    if reads["existing"] is not None:
        return _replay(c, reads["existing"], digest, params.sign)
    clinic, patient = reads["clinic"], reads["patient"]
    _check_setting(clinic_id, clinic, patient, prescriber)
    country = clinic["country"]
    products = {row["$id"]: Product.from_row(row) for row in reads["medicines"]}
    products |= {row["$id"]: Product.from_supplier_row(row) for row in reads["supplier_products"]}
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
    items = [_item_row(prescription_id, item) for item in checked]
    price = pricing.quote(reads["pricing"], [(i.line, i.controlled, i.request.repeats) for i in checked])
    payer: spending.Payer = reads["payer"]
    charging = price.total > 0
    wallet_rows = c.gather(**spending.charge_reads(t, payer, iso(c.now))) if charging else {}
    spending.precheck(payer, price, wallet_rows)  # before a prescription number is taken: a refusal writes nothing
    sequence = t.increment("clinics", clinic_id, "eps_sequence")["eps_sequence"] if country == "UK" else 0
    first = True

    def decide(_tx: str | None) -> Change[None] | dict[str, Any]:
        nonlocal first
        # The first attempt decides on the rows read above (a debit from a balance that has moved since collides
        # on the ledger's next entry number and comes back here). After a lost race, read at once: whether the
        # same request won, the chain's new head and, when charging, the wallet's rows.
        got: dict[str, Any] = dict(wallet_rows)
        if not first:
            now = {
                "again": lambda: t.get("prescriptions", prescription_id),
                "head": lambda: audit.head_of(t, clinic_id),
            }
            got = c.gather(**now, **(spending.charge_reads(t, payer, iso(c.now)) if charging else {}))
        if got.get("again") is not None:
            return got["again"]  # the same request, sent twice at once, won
        head = got["head"] if not first else reads["head"]
        first = False
        prescription["number"] = new_uk_number(clinic["ods_code"], sequence) if country == "UK" else new_au_number()
        codes = [i["medicine_code"] for i in items]
        created = {"$id": prescription_id} | prescription
        event = c.prescription_event("prescriber", "prescription.created", created, items=codes, tokens=price.total)
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
        charged = spending.charge(t, payer, price, prescription_id, prescription["number"], iso(c.now), got or None)
        messages = charged.messages if charged else []
        operations += charged.operations if charged else []
        return Change(operations, [event], charged, messages=messages, head=head, head_is_current=True)

    winner = _commit_paid(c, decide, payer)
    if isinstance(winner, dict):
        return _replay(c, winner, digest, params.sign)
    if params.sign:
        return sign(c, PrescriptionRef(prescription_id=prescription_id))
    answer = {"prescription": public({"$id": prescription_id} | prescription), "items": items, "replayed": False}
    return answer | {"charge": _charge_answer(price, payer, winner)}


@actions.action("search_medicines", MedicineSearch)
def search_medicines(c: Caller, params: MedicineSearch) -> dict[str, Any]:
    """Search the dm+d catalogue to prescribe from (active prescribers and pharmacists): every word must match the
    start of a word in the name, the best matches first, a generic name also finding its brands."""
    row = c.tables.get("practitioners", c.user_id)
    if row is None or not row.get("active"):
        raise Forbidden("practitioner_not_authorised", "Only an active prescriber or pharmacist may search.")
    return medicine_search.search(lambda queries: c.tables.list("medicines", queries), params.query, params.limit)


# A clinic pool's wallet is one row every member's prescription writes (its next ledger entry), so with 50 at once a
# prescription can lose many races in a row. The default 40 (about 1.7 s of pauses) is the likely cause of the one 409
# among 1,000 concurrent deductions a loaded full test run saw; 150 allows about 7 s, within a sync execution.
WALLET_RACES = 150


def _commit_paid(c: Caller, decide: Any, payer: spending.Payer) -> Any:
    """Commit the prescription with its debit. A wallet too short is refused with 402, but first, when its owner
    set up auto top-up, one top-up is started (or the one on its way awaited) and the charge decided again.

    The transaction need not begin before the wallet is read: a debit computed from a balance someone changed
    since collides with theirs on the ledger's next entry number (rxcore.wallet.ledger) and is decided again, so
    the window in which racing prescriptions from one pool lose to each other stays as short as the commit."""
    try:
        return commit_with_audit(c.tables, decide, lambda: c.now, races=WALLET_RACES)
    except PaymentRequired as short:
        if short.type != "wallet_insufficient_balance":
            raise
        if not spending.top_up_before_refusing(c.tables, payer, lambda: iso(c.now_fresh())):
            raise
    return commit_with_audit(c.tables, decide, lambda: c.now, races=WALLET_RACES)


def _charge_answer(price: pricing.Quote, payer: spending.Payer, posting: Any) -> dict[str, Any]:
    """What the prescriber is told it cost; the balance only of their own wallet (a clinic pool's is its admins')."""
    own = payer.entity_type == "individual"
    return {
        "tokens": price.total,
        "wallet": payer.entity_type if price.total else None,
        "balanceAfter": posting.balance_after if own and posting is not None else None,
    }


def _check_setting(clinic_id: str, clinic: dict | None, patient: dict | None, prescriber: dict[str, Any]) -> None:
    """The clinic is active and can number prescriptions, the patient is its own, the prescriber may prescribe
    in its country."""
    if clinic is None or not clinic.get("active", True):
        raise NotFound("clinic_not_found", "No clinic with this id is yours.")
    if patient is None or patient["clinic_id"] != clinic_id:
        raise NotFound("patient_not_found", "No patient with this id in this clinic.")
    if clinic["country"] == "AU" and not prescriber.get("prescriber_number"):
        raise Forbidden("prescriber_number_required", "Prescribing in Australia needs a PBS prescriber number.")
    if clinic["country"] == "UK" and not clinic.get("ods_code"):
        raise Conflict("clinic_ods_code_required", "A UK clinic needs an ODS code to number prescriptions.")


def _item_row(prescription_id: str, item: Any) -> dict[str, Any]:
    """The `prescription_items` row of a checked item (its id from the prescription and the line)."""
    r = item.request
    return {
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
        "brand_substitution_not_permitted": r.no_brand_substitution,
        "clinical_justification": r.justification,
        "schedule": item.schedule,
        "controlled": item.controlled,
        "supplies_allowed": 1 + r.repeats,
        "first_dispense_within": period_text(item.first_dispense_days),
        "valid_for": period_text(item.validity),
    } | _supplier_columns(item)


def _supplier_columns(item: Any) -> dict[str, Any]:
    """What a supplier product's item adds: the product, its pathway and approval, ARTG number, TGA category."""
    if item.product.type != "sup":
        return {}
    r = item.request
    return {"supplier_product_id": r.code, "pathway": None if item.product.artg else r.pathway,
            "approval_number": None if item.product.artg else r.approval_number, "artg": item.product.artg,
            "tga_category": item.product.tga_category}  # fmt: skip


def _replay(c: Caller, existing: dict[str, Any], digest: str, then_sign: bool) -> dict[str, Any]:
    if existing["request_digest"] != digest:
        raise Conflict("idempotency_key_reused", "This idempotency key was used for a different prescription request.")
    if then_sign and existing["status"] == "draft":
        return sign(c, PrescriptionRef(prescription_id=existing["$id"]))
    items = [public(item) for item in items_of(c, existing["$id"])]
    return {"prescription": public(existing), "items": items, "replayed": True}


def _own_prescription(c: Caller, prescription_id: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    t = c.tables
    reads = c.gather(
        practitioner=lambda: t.get("practitioners", c.user_id),
        prescription=lambda: t.get("prescriptions", prescription_id),
        items=lambda: items_of(c, prescription_id),
        **(extra or {}),
    )
    reads["prescriber"] = practitioner_of(reads["practitioner"], "prescriber")
    prescription = reads["prescription"]
    if prescription is None or prescription["clinic_id"] not in reads["prescriber"].get("clinic_ids", []):
        raise NotFound("prescription_not_found", "No prescription with this id is yours.")
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
    sealed, public_key = signing.new_key_pair(c.settings.practitioner_key_secret.get_secret_value(), c.user_id)
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


@actions.action("sign", PrescriptionRef)
def sign(c: Caller, params: PrescriptionRef) -> dict[str, Any]:
    """Sign a draft once (Ed25519 over its canonical form) and store its PDF.

    The transaction begins before the prescription is read, so of two signatures racing the second commit fails
    (the row changed after it began), re-reads, and answers the stored result: exactly one signature, one
    `prescription.signed` event and one "prescription ready" message. The PDF is rendered from the stored snapshot
    after the commit and written once (a crash in between leaves a signed prescription whose PDF the next call
    makes)."""
    t = c.tables

    def decide(_tx: str | None) -> Any:
        reads = _own_prescription(c, params.prescription_id, {"key": lambda: t.get("practitioner_keys", c.user_id)})
        prescription, items, prescriber = reads["prescription"], reads["items"], reads["prescriber"]
        if prescription["prescriber_id"] != c.user_id:
            raise Forbidden("prescription_not_yours", "Only the prescriber who wrote a prescription may sign it.")
        if prescription["status"] == "cancelled":
            raise Conflict("prescription_cancelled", "A cancelled prescription cannot be signed.")
        if prescription["status"] != "draft":
            return prescription, items, t.get("patients", prescription["patient_id"]), True
        return _sign_draft(c, prescription, items, prescriber, reads["key"])

    row, items, patient, replayed = commit_with_audit(t, decide, lambda: c.now, transactional_reads=True)
    _ensure_pdf(c, row, patient)
    return {"prescription": public(row), "items": items, "replayed": replayed}


def _sign_draft(
    c: Caller,
    prescription: dict[str, Any],
    items: list[dict[str, Any]],
    prescriber: dict[str, Any],
    key_row: dict[str, Any] | None,
) -> Change[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], bool]]:
    t = c.tables
    clinic_id = prescription["clinic_id"]
    more = c.gather(
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
        c.settings.practitioner_key_secret.get_secret_value(),
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
    ready = outbox.Message(
        "prescription.ready",
        f"prescription.ready:{prescription['$id']}",
        {
            "prescriptionId": prescription["$id"],
            "patientId": prescription["patient_id"],
            "number": prescription["number"],
        },
        clinic_id,
    )
    return Change(
        [t.op("update", "prescriptions", prescription["$id"], update)],
        [event],
        result=(prescription | update, items, more["patient"], False),
        messages=[ready],
        head=more["head"],
    )


def _ensure_pdf(c: Caller, prescription: dict[str, Any], patient: dict[str, Any] | None) -> None:
    """The signed prescription's PDF under its id, readable by the clinic and the patient: rendered from the stored
    snapshot, so every caller would make the same document; made only if it is not there yet."""
    if prescription["status"] == "draft" or not prescription.get("snapshot"):
        return
    ensure_file(
        c.request.client,
        c.settings.pdf_bucket_id,
        prescription["$id"],
        lambda: pdf.render(json.loads(prescription["snapshot"]), prescription["key_fingerprint"]),
        f"{prescription['number']}.pdf",
        "application/pdf",
        row_permissions(prescription["clinic_id"], patient or {}),
    )


@actions.action("cancel", CancelPrescription)
def cancel(c: Caller, params: CancelPrescription) -> dict[str, Any]:
    """Cancel a prescription not yet fully dispensed (again: the same answer, nothing written)."""
    t = c.tables

    def decide(_tx: str | None) -> Any:
        reads = _own_prescription(c, params.prescription_id)
        prescription = reads["prescription"]
        if prescription["status"] == "cancelled":
            return {"prescription": public(prescription), "items": reads["items"], "replayed": True}
        if prescription["status"] not in CANCELLABLE:
            raise Conflict(
                "prescription_not_cancellable", f"A {prescription['status']} prescription cannot be cancelled."
            )
        update = {"status": "cancelled", "cancelled_at": iso(c.now), "cancel_reason": params.reason}
        # Nothing supplied yet: its tokens go back (once, by the refund's key). Once anything was dispensed, not.
        refunded = (
            None
            if prescription["status"] == "partially_dispensed"
            else spending.refund(t, prescription["$id"], c.user_id, iso(c.now))
        )
        event = c.prescription_event(
            "prescriber",
            "prescription.cancelled",
            prescription,
            reason=params.reason,
            previous_status=prescription["status"],
            tokens_refunded=refunded.applied[0]["amount"] if refunded else 0,
        )
        result = {"prescription": public(prescription | update), "items": reads["items"], "replayed": False}
        result["tokensRefunded"] = refunded.applied[0]["amount"] if refunded else 0
        operations = [t.op("update", "prescriptions", prescription["$id"], update)]
        operations += refunded.operations if refunded else []
        return Change(operations, [event], result, messages=refunded.messages if refunded else [])

    return commit_with_audit(t, decide, lambda: c.now, transactional_reads=True)


@actions.action("get", PrescriptionRef)
def get(c: Caller, params: PrescriptionRef) -> dict[str, Any]:
    """A prescription of the caller's clinics with its items (the read is audited)."""
    reads = _own_prescription(c, params.prescription_id)
    prescription = reads["prescription"]
    event = c.prescription_event("prescriber", "prescription.viewed", prescription)
    audit.append(c.tables, [event], iso(c.now))
    return {"prescription": public(prescription), "items": reads["items"]}
