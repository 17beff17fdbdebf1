"""The dispensing function's service: verify a prescription by its number, and dispense it.

A dispense reads the prescription inside a transaction, plans each supply with the pure rules, and commits the
item updates, the dispensing records, the new status and the audit event together. Record ids are derived from
(item, supply, part), so two pharmacists racing for the last quantity write the same row and only the first
commit lands; the other re-reads and is told nothing is left. A request's idempotency key marks its records, so
sending it again changes nothing. See docs/functions/dispensing.md."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from appwrite.query import Query

from rxcore import audit, outbox, signing
from rxcore.actions import Dispatcher
from rxcore.audit import Change, commit_with_audit
from rxcore.clock import iso
from rxcore.errors import BadRequest, Conflict, NotFound
from rxcore.identifiers import InvalidIdentifier
from rxcore.identity import Caller, practitioner_of
from rxcore.prescribing import canonical
from rxcore.prescribing.cd_report import controlled_drug_report
from rxcore.prescribing.dispense_rules import (
    DISPENSABLE,
    DispenseRefused,
    ItemState,
    dispensable_problem,
    plan_supply,
    status_after,
)
from rxcore.prescribing.numbers import normalise_number
from rxcore.prescribing.records import clinic_today, items_of, public
from rxcore.prescribing.requests import ControlledDrugReport, Dispense, NumberRef
from rxcore.prescribing.rules import MAX_ITEMS

actions = Dispatcher("dispensing")
RECORD_FIELDS = ("item_id", "supply_number", "part", "quantity", "owing", "dispensed_at", "pharmacist_id", "note")


def _number(raw: str) -> str:
    try:
        return normalise_number(raw)
    except InvalidIdentifier as exc:
        raise BadRequest("prescription_number_invalid", f"`number`: {exc}.") from None


def _lookups(c: Caller, number: str, **extra: Any) -> dict[str, Any]:
    t = c.tables
    return c.gather(
        practitioner=lambda: t.get("practitioners", c.user_id),
        found=lambda: t.list("prescriptions", [Query.equal("number", number), Query.limit(1)]),
        **extra,
    )


def _authorise(reads: dict[str, Any], number: str) -> dict[str, Any]:
    """The prescription, if the caller is an active pharmacist of its clinic (otherwise 403, or 404 so that
    another clinic's prescriptions are not revealed)."""
    pharmacist = practitioner_of(reads["practitioner"], "pharmacist")
    prescription = reads["found"][0] if reads["found"] else None
    if prescription is None or prescription["clinic_id"] not in (pharmacist.get("clinic_ids") or []):
        raise NotFound("prescription_not_found", f"No prescription numbered {number} for your clinic.")
    return prescription


def _details(c: Caller, prescription: dict[str, Any], **extra: Any) -> dict[str, Any]:
    t = c.tables
    return c.gather(
        items=lambda: items_of(c, prescription["$id"]),
        prescriber=lambda: t.get("practitioners", prescription["prescriber_id"]),
        head=lambda: audit.head_of(t, prescription["clinic_id"]),
        **extra,
    )


def signature_problem(
    prescription: dict[str, Any], items: list[dict[str, Any]], prescriber: dict[str, Any] | None
) -> str | None:
    """Why the signature does not hold, or None: the prescriber's public key must be the one that signed, the
    signature must verify over the stored snapshot, and the rows must still say what was signed."""
    if prescription["status"] == "draft" or not prescription.get("signature"):
        return None  # unsigned: reported as prescription_not_signed
    public_key = (prescriber or {}).get("public_key")
    if not public_key or signing.fingerprint(public_key) != prescription.get("key_fingerprint"):
        return "the prescriber's public key is not the one this prescription was signed with"
    signed = json.loads(prescription.get("snapshot") or "{}")
    if not signing.verify(public_key, canonical.canonical_bytes(signed), prescription["signature"]):
        return "the signature does not verify"
    if not canonical.matches_rows(signed, prescription, items):
        return "the prescription's rows differ from what was signed"
    return None


def _item_view(row: dict[str, Any], state: ItemState) -> dict[str, Any]:
    return public(row) | {
        "owing": float(state.owing),
        "supplies_remaining": state.supplies_allowed - state.supplies_done,
    }


def _expiry(c: Caller, prescription: dict[str, Any], head: dict[str, Any] | None = None) -> Change[None]:
    """Record that a signed prescription ran past its dates (a state change, so it is audited)."""
    event = c.prescription_event("system", "prescription.expired", prescription, expires_on=prescription["expires_on"])
    operations = [c.tables.op("update", "prescriptions", prescription["$id"], {"status": "expired"})]
    return Change(operations, [event], head=head)


@actions.action("verify", NumberRef)
def verify(c: Caller, params: NumberRef) -> dict[str, Any]:
    """Check a prescription before supplying it: its signature, its dates, what is left (the check is audited)."""
    number = _number(params.number)
    prescription = _authorise(_lookups(c, number), number)
    more = _details(c, prescription)
    states = [ItemState.from_row(row) for row in more["items"]]
    broken = signature_problem(prescription, more["items"], more["prescriber"])
    problem = (
        DispenseRefused(409, "signature_invalid", f"Prescription {number} fails verification: {broken}.")
        if broken
        else dispensable_problem(prescription, states, clinic_today(c, prescription))
    )
    result = {"signature_valid": broken is None and prescription["status"] != "draft", "dispensable": problem is None}
    if problem is not None:
        result["problem"] = problem.to_json()
    event = c.prescription_event(
        "pharmacist",
        "prescription.verified",
        prescription,
        **result,
    )
    if problem is not None and problem.type == "prescription_expired" and prescription["status"] in DISPENSABLE:
        commit_with_audit(c.tables, lambda _tx: _expiry(c, prescription), lambda: c.now)
        prescription = prescription | {"status": "expired"}
    audit.append(c.tables, [event], iso(c.now))
    return {
        "prescription": public(prescription),
        "items": [_item_view(row, state) for row, state in zip(more["items"], states, strict=True)],
        "verification": result | {"key_fingerprint": prescription.get("key_fingerprint")},
    }


def _same_request(
    records: list[dict[str, Any]], prescription: dict[str, Any], lines: list[tuple[str, Decimal]]
) -> None:
    """A key already used answers its first result only for the same request: the same prescription, the same
    items and quantities. Anything else is a mistake (or a reused key) that must not pass for a success."""
    done = {r["item_id"]: Decimal(str(r["quantity"])) for r in records}
    if any(r["prescription_id"] != prescription["$id"] for r in records) or done != {i: q for i, q in lines}:
        raise Conflict("idempotency_key_reused", "This idempotency key was used for a different dispense request.")


def _replay(c: Caller, prescription: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    items = items_of(c, prescription["$id"])  # the items only: a replay verifies and writes nothing
    return {
        "prescription": public(prescription),
        "records": [public(r) for r in sorted(records, key=lambda r: r["$id"])],
        "items": [_item_view(row, ItemState.from_row(row)) for row in items],
        "replayed": True,
    }


@actions.action("dispense", Dispense)
def dispense(c: Caller, params: Dispense) -> dict[str, Any]:
    """Supply items in full or in part, exactly once per idempotency key."""
    number = _number(params.number)
    lines = [(line.item_id, line.quantity) for line in params.items]
    request_key = hashlib.sha256(f"{c.user_id}:{params.idempotency_key}".encode()).hexdigest()
    t = c.tables
    done_query = [Query.equal("request_key", request_key), Query.limit(MAX_ITEMS)]

    def decide(_tx: str | None) -> Any:
        # The transaction began before these reads: a change by anyone else to what the decision rests on (the
        # prescription, its items) before our commit fails the commit, and we decide again.
        reads = _lookups(c, number, done=lambda: t.list("dispensing_records", done_query))
        prescription = _authorise(reads, number)
        if reads["done"]:
            _same_request(reads["done"], prescription, lines)
            return _replay(c, prescription, reads["done"])
        more = _details(c, prescription, fresh=lambda: t.get("prescriptions", prescription["$id"]))
        prescription = more["fresh"]
        broken = signature_problem(prescription, more["items"], more["prescriber"])
        if broken:
            event = c.prescription_event("pharmacist", "prescription.verification_failed", prescription, reason=broken)
            refused = Conflict("signature_invalid", f"Prescription {number} fails verification: {broken}.")
            return Change([], [event], head=more["head"], then_raise=refused)
        rows = {row["$id"]: row for row in more["items"]}
        states = {item_id: ItemState.from_row(row) for item_id, row in rows.items()}
        problem = dispensable_problem(prescription, list(states.values()), clinic_today(c, prescription))
        if problem is not None and problem.type == "prescription_expired":
            expiry = _expiry(c, prescription, more["head"])
            expiry.then_raise = problem
            return expiry
        if problem is not None:
            raise problem
        return _apply(c, prescription, rows, states, lines, request_key, params.note, more["head"])

    return commit_with_audit(t, decide, lambda: c.now, transactional_reads=True)


def _apply(
    c: Caller,
    prescription: dict[str, Any],
    rows: dict[str, dict[str, Any]],
    states: dict[str, ItemState],
    lines: list[tuple[str, Decimal]],
    request_key: str,
    note: str | None,
    head: dict[str, Any] | None,
) -> Change[dict[str, Any]]:
    t = c.tables
    now = iso(c.now)
    permissions = [p for p in prescription.get("$permissions", []) if p.startswith("read(")]
    operations, records = [], []
    for item_id, quantity in lines:
        if item_id not in states:
            raise NotFound("item_not_found", f"Prescription {prescription['number']} has no item {item_id}.")
        supply = plan_supply(states[item_id], quantity, c.now)
        states[item_id] = after = supply.item
        record = {
            "prescription_id": prescription["$id"],
            "item_id": item_id,
            "clinic_id": prescription["clinic_id"],
            "patient_id": prescription["patient_id"],
            "pharmacist_id": c.user_id,
            "supply_number": supply.supply_number,
            "part": supply.part,
            "quantity": float(supply.quantity),
            "owing": float(supply.owing),
            "request_key": request_key,
            "dispensed_at": now,
            "note": note,
        }
        records.append({"$id": supply.record_id} | record)
        operations.append(
            t.op("create", "dispensing_records", supply.record_id, record | {"$permissions": permissions})
        )
        operations.append(t.op("update", "prescription_items", item_id, _item_update(after)))
    status = status_after(list(states.values()))
    operations.append(t.op("update", "prescriptions", prescription["$id"], {"status": status}))
    event = c.prescription_event(
        "pharmacist",
        "prescription.dispensed",
        prescription,
        status=status,
        supplied=[{k: r[k] for k in ("item_id", "supply_number", "part", "quantity", "owing")} for r in records],
    )
    result = {
        "prescription": public(prescription | {"status": status}),
        "records": sorted(records, key=lambda r: r["$id"]),
        "items": [_item_view(rows[i] | _item_update(s), s) for i, s in states.items()],
        "replayed": False,
    }
    return Change(operations, [event], result, head=head, messages=[_dispensed(prescription, states, request_key)])


def _dispensed(prescription: dict[str, Any], states: dict[str, ItemState], request_key: str) -> outbox.Message:
    """For the patient (notification-send): what was supplied and how many supplies remain; once per dispense."""
    # Supplies still to come after this one: a supply in progress (something owed) is not one of them.
    left = sum(
        max(s.supplies_allowed - s.supplies_done - (1 if s.current_supplied > 0 else 0), 0) for s in states.values()
    )
    owing = any(s.current_supplied > 0 for s in states.values())
    payload = {"prescriptionId": prescription["$id"], "patientId": prescription["patient_id"],
               "number": prescription["number"], "suppliesLeft": left, "owing": owing}  # fmt: skip
    key = f"prescription.dispensed:{prescription['$id']}:{request_key[:16]}"
    return outbox.Message("prescription.dispensed", key, payload, prescription["clinic_id"])


def _item_update(state: ItemState) -> dict[str, Any]:
    last: datetime | None = state.last_supply_at
    return {
        "supplies_done": state.supplies_done,
        "current_supplied": float(state.current_supplied),
        "current_parts": state.current_parts,
        "last_supply_at": iso(last) if last else None,
    }


actions.action("controlled_drug_report", ControlledDrugReport)(controlled_drug_report)
