"""What the prescriber signs: a snapshot of the prescription as issued, and its canonical bytes.

The snapshot names the clinic, prescriber and patient as they were at signing (a prescription is a legal
document; a later change of address must not change it) and every item's clinical content. Canonical form: JSON
with sorted keys, no spaces, UTF-8, prefixed with a version tag. Verification checks the signature over the
stored snapshot and that the live rows still say what the snapshot says (`live_view`), so changing a quantity,
a dose, a date or the patient on the row is detected as well as changing the signature."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from rxcore.identifiers.uk import format_nhs_number

VERSION = "rx-prescription-v1"
ITEM_FIELDS = ("medicine_code", "name", "dose", "unit", "quantity_words", "repeats", "min_interval_days", "schedule")
# A supplier product's item also signs what makes it lawful to supply; only such items carry these keys, so the
# snapshots signed before they existed verify as they did.
SUPPLIER_FIELDS = ("supplier_product_id", "pathway", "approval_number", "artg", "tga_category")
# Marks only some items carry (absent from snapshots signed before they existed, and from items without them).
MARK_FIELDS = ("brand_substitution_not_permitted",)
PRESCRIPTION_FIELDS = (
    "number",
    "clinic_id",
    "patient_id",
    "prescriber_id",
    "country",
    "authority_number",
    "appropriate_date",
    "first_dispense_by",
    "expires_on",
)


def _quantity(value: Any) -> str:
    return f"{Decimal(str(value)).normalize():f}"


def patient_identifier(patient: dict[str, Any]) -> str | None:
    if patient.get("nhs_number"):
        return f"NHS number {format_nhs_number(patient['nhs_number'])}"
    if patient.get("medicare_number"):
        irn = f" IRN {patient['medicare_irn']}" if patient.get("medicare_irn") else ""
        return f"Medicare {patient['medicare_number']}{irn}"
    if patient.get("ihi"):
        return f"IHI {patient['ihi']}"
    if patient.get("dva_number"):
        return f"DVA {patient['dva_number']}"
    return None


def age_if_under_12(date_of_birth: str | None, on: date) -> int | None:
    if not date_of_birth:
        return None
    born = date.fromisoformat(date_of_birth)
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return age if age < 12 else None


def live_view(prescription: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """The signed facts as the rows hold them now."""
    view = {field: prescription.get(field) for field in PRESCRIPTION_FIELDS}
    view["items"] = [
        {"id": item["$id"], "line": item["line"], "quantity": _quantity(item["quantity"])}
        | {field: item.get(field) for field in ITEM_FIELDS}
        | ({field: item.get(field) for field in SUPPLIER_FIELDS} if item.get("supplier_product_id") else {})
        # decides what may be supplied, so it is signed; only items that carry it have the key (older snapshots
        # verify as they did)
        | {field: True for field in MARK_FIELDS if item.get(field)}
        | {"supplies_allowed": item.get("supplies_allowed"), "controlled": bool(item.get("controlled"))}
        for item in sorted(items, key=lambda row: row["line"])
    ]
    return view


def snapshot(
    prescription: dict[str, Any],
    items: list[dict[str, Any]],
    clinic: dict[str, Any],
    prescriber: dict[str, Any],
    patient: dict[str, Any],
    quantity_texts: dict[str, str],
    signed_at: str,
) -> dict[str, Any]:
    numbers = []
    if prescriber.get("prescriber_number"):
        numbers.append(f"PBS prescriber number {prescriber['prescriber_number']}")
    if prescriber.get("provider_number"):
        numbers.append(f"Medicare provider number {prescriber['provider_number']}")
    if prescriber.get("hpii"):
        numbers.append(f"HPI-I {prescriber['hpii']}")
    view = live_view(prescription, items)
    for item, row in zip(view["items"], sorted(items, key=lambda r: r["line"]), strict=True):
        item.update(
            form=row.get("form"), controlled=bool(row.get("controlled")), quantity_text=quantity_texts[row["$id"]]
        )
        if row.get("days_supply"):  # printed; the supply terms that decide dispensing are compared separately
            item["days_supply"] = row["days_supply"]
    return view | {
        "version": VERSION,
        "jurisdiction": prescription.get("jurisdiction"),
        "signed_at": signed_at,
        "controlled": any(item["controlled"] for item in view["items"]),
        "clinic": {
            "name": clinic["name"],
            "address": clinic.get("address"),
            "identifier": f"ODS {clinic['ods_code']}" if clinic.get("ods_code") else f"HPI-O {clinic.get('hpio')}",
        },
        "prescriber": {
            "name": prescriber["name"],
            "registration": f"{prescriber['registration_body']} {prescriber['registration_number']}",
            "numbers": numbers,
        }
        | {key: prescriber[key] for key in ("address", "phone") if prescriber.get(key)},
        "patient": {
            "name": f"{patient['given_name']} {patient['family_name']}",
            "date_of_birth": patient.get("date_of_birth"),
            "age_under_12": age_if_under_12(patient.get("date_of_birth"), date.fromisoformat(signed_at[:10])),
            "address": ", ".join(p for p in (patient.get("address"), patient.get("postcode")) if p),
            "identifier": patient_identifier(patient),
        },
    }


def canonical_bytes(signed: dict[str, Any]) -> bytes:
    return (VERSION + "\n" + json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)).encode()


def matches_rows(signed: dict[str, Any], prescription: dict[str, Any], items: list[dict[str, Any]]) -> bool:
    live = live_view(prescription, items)
    if any(signed.get(field) != live[field] for field in PRESCRIPTION_FIELDS):
        return False
    if len(signed["items"]) != len(live["items"]):
        return False
    keys = ("id", "line", "quantity", *ITEM_FIELDS, *SUPPLIER_FIELDS, *MARK_FIELDS)
    return all(
        {k: a.get(k) for k in keys} == {k: b.get(k) for k in keys} and _supply_terms(a) == _supply_terms(b)
        for a, b in zip(signed["items"], live["items"], strict=True)
    )


def _supply_terms(item: dict[str, Any]) -> tuple[int, bool]:
    """What decides how often an item may be supplied, and under which rules: inside the signature, so raising
    a row's `supplies_allowed` or clearing `controlled` after signing fails verification (issue 14.3). Snapshots
    signed before 2026-11-30 hold no `supplies_allowed`; it was always 1 + repeats, which they do hold."""
    allowed = item.get("supplies_allowed")
    return (allowed if allowed is not None else 1 + int(item.get("repeats") or 0), bool(item.get("controlled")))
