"""The controlled-drug report a clinic's admins keep (the consultation description's Schedule 8 audit; in the UK
the register a clinic reviews): every controlled-drug item prescribed in a period, with its supplies, the checks it
passes or fails, and totals per drug; paged as JSON, or the whole period as CSV. Reading it is audited.

Checks (`checks`, pure): a UK Schedule 2 or 3 item has the total quantity in words, no repeats, and a days' supply
of at most 30 (advised); an Australian S8 item has an authority or approval number; every supply falls within the
prescription's dates (not before its appropriate date, not after it expired); no more was supplied than allowed.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from appwrite.query import Query

from rxcore import audit, csvsafe
from rxcore.clock import clinic_zone, iso
from rxcore.identity import Caller
from rxcore.prescribing.requests import ControlledDrugReport

ADMIN_ROLES = {"owner", "admin"}
MAX_PAGE = 100
COLUMNS = (
    "prescription", "signed_at", "status", "appropriate_date", "expires_on", "prescriber", "prescriber_registration",
    "patient", "patient_identifier", "medicine_code", "medicine", "schedule", "quantity", "unit", "quantity_words",
    "days_supply", "repeats", "authority_number", "supplied", "supplies", "checks",
)  # fmt: skip


def checks(prescription: dict[str, Any], item: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    """What this controlled-drug item fails of the rules above; an empty list is compliant."""
    problems = []
    schedule = item.get("schedule") or ""
    if prescription["country"] == "UK" and schedule in ("2", "3"):
        if not item.get("quantity_words"):
            problems.append("no total quantity in words")
        if item.get("repeats"):
            problems.append(f"Schedule {schedule} on a repeatable prescription")
        if item.get("days_supply") and item["days_supply"] > 30:
            problems.append(f"{item['days_supply']} days' supply (more than 30)")
    if schedule == "S8" and not prescription.get("authority_number"):
        problems.append("S8 without an authority or approval number")
    start, end = prescription.get("appropriate_date"), prescription.get("expires_on")
    for record in records:
        day = record["dispensed_at"][:10]
        if (start and day < start) or (end and day > end):
            problems.append(f"supplied on {day}, outside {start} to {end}")
    allowed = Decimal(str(item["quantity"])) * int(item.get("supplies_allowed") or 1)
    supplied = sum((Decimal(str(r["quantity"])) for r in records), Decimal(0))
    if supplied > allowed:
        problems.append(f"supplied {supplied:f} of {allowed:f} allowed")
    return problems


def _period(first: date, last: date, clinic: dict[str, Any]) -> tuple[str, str]:
    """The clinic-local calendar days asked for, as UTC bounds of signed_at."""
    zone = clinic_zone(clinic["country"], clinic.get("state"))
    start = datetime.combine(first, datetime.min.time(), zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
    return iso(start), iso(end)


def _name(staff: dict[str, dict[str, Any]], user_id: str) -> str | None:
    return staff.get(user_id, {}).get("name")


def _row(prescription: dict, item: dict, supplies: list[dict], staff: dict, patient: dict) -> dict[str, Any]:
    prescriber = staff.get(prescription["prescriber_id"], {})
    registration = f"{prescriber.get('registration_body', '')} {prescriber.get('registration_number', '')}".strip()
    return {
        "prescription": prescription["number"],
        "signed_at": prescription.get("signed_at"),
        "status": prescription["status"],
        "appropriate_date": prescription.get("appropriate_date"),
        "expires_on": prescription.get("expires_on"),
        "prescriber": prescriber.get("name"),
        "prescriber_registration": registration,
        "patient": f"{patient.get('given_name', '')} {patient.get('family_name', '')}".strip(),
        "patient_identifier": patient.get("nhs_number") or patient.get("medicare_number"),
        "medicine_code": item["medicine_code"],
        "medicine": item["name"],
        "schedule": item.get("schedule"),
        "quantity": item["quantity"],
        "unit": item["unit"],
        "quantity_words": item.get("quantity_words"),
        "days_supply": item.get("days_supply"),
        "repeats": item.get("repeats"),
        "authority_number": prescription.get("authority_number"),
        "supplied": float(sum((Decimal(str(r["quantity"])) for r in supplies), Decimal(0))),
        "supplies": [
            {
                "dispensed_at": r["dispensed_at"],
                "quantity": r["quantity"],
                "pharmacist": staff.get(r["pharmacist_id"], {}).get("name"),
            }
            for r in supplies
        ],  # fmt: skip
        "checks": checks(prescription, item, supplies) or ["ok"],
    }


def _rows(c: Caller, prescriptions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One report row per controlled item of `prescriptions` (at most 100), with its people and supplies."""
    if not prescriptions:
        return []
    t, ids = c.tables, [p["$id"] for p in prescriptions]
    patient_ids = list({p["patient_id"] for p in prescriptions})
    reads = c.gather(
        items=lambda: t.list("prescription_items", [Query.equal("prescription_id", ids), Query.limit(2000)]),
        records=lambda: t.list("dispensing_records", [Query.equal("prescription_id", ids), Query.limit(5000)]),
        patients=lambda: t.list("patients", [Query.equal("$id", patient_ids), Query.limit(MAX_PAGE)]),
    )
    people = list({p["prescriber_id"] for p in prescriptions} | {r["pharmacist_id"] for r in reads["records"]})
    staff = {p["$id"]: p for p in t.list("practitioners", [Query.equal("$id", people), Query.limit(MAX_PAGE)])}
    patients = {p["$id"]: p for p in reads["patients"]}
    rows = []
    for prescription in prescriptions:
        items = [i for i in reads["items"] if i["prescription_id"] == prescription["$id"] and i.get("controlled")]
        for item in sorted(items, key=lambda i: i["line"]):
            supplies = sorted(
                (r for r in reads["records"] if r["item_id"] == item["$id"]), key=lambda r: r["dispensed_at"]
            )
            rows.append(_row(prescription, item, supplies, staff, patients.get(prescription["patient_id"], {})))
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, dict[str, Any]] = {}
    for row in rows:
        empty = {"medicine": row["medicine"], "unit": row["unit"], "items": 0, "prescribed": 0.0, "supplied": 0.0}
        total = totals.setdefault(row["medicine_code"], empty)
        total["items"] += 1
        total["prescribed"] += row["quantity"] * (1 + int(row["repeats"] or 0))
        total["supplied"] += row["supplied"]
    not_compliant = sum(row["checks"] != ["ok"] for row in rows)
    return {"items": len(rows), "not_compliant": not_compliant, "per_medicine": totals}


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        supplies = "; ".join(f"{s['dispensed_at'][:10]} {s['quantity']} by {s['pharmacist']}" for s in row["supplies"])
        writer.writerow([*(row[k] for k in COLUMNS[:-2]), supplies, "; ".join(row["checks"])])
    return out.getvalue()


def controlled_drug_report(c: Caller, params: ControlledDrugReport) -> dict[str, Any]:
    """A clinic's controlled-drug report for a period, for its admins: JSON pages or the whole period as CSV.

    The whole period is read (a clinic's controlled-drug prescriptions in at most a year) so that the totals
    and the compliance count are the period's; JSON pages through its rows with `cursor`, CSV holds them all."""
    clinic = c.clinic_member(params.clinic_id, ADMIN_ROLES)
    first, last, form, limit = params.first, params.last, params.format, params.limit
    start, end = _period(first, last, clinic)
    base = [
        Query.equal("clinic_id", clinic["$id"]),
        Query.equal("controlled", True),
        Query.greater_than_equal("signed_at", start),
        Query.less_than("signed_at", end),
        Query.order_asc("signed_at"),
    ]
    signed = list(c.tables.each("prescriptions", base, page=MAX_PAGE))
    rows = [row for i in range(0, len(signed), MAX_PAGE) for row in _rows(c, signed[i : i + MAX_PAGE])]
    summary = _summary(rows)
    period = f"{first}..{last}"
    event = c.event("admin", "report.controlled_drugs_viewed", "clinic", clinic["$id"], clinic["$id"], None,
                    period=period, format=form, items=len(rows))  # fmt: skip
    audit.append(c.tables, [event], iso(c.now))
    if form == "csv":
        name = f"controlled-drugs-{clinic['$id']}-{first}-{last}.csv"
        return {"csv": _csv(rows), "filename": name, "summary": summary}
    cursor = params.cursor
    offset = int(cursor) if cursor and cursor.isdigit() else 0
    following = offset + limit if offset + limit < len(rows) else None
    return {
        "rows": rows[offset : offset + limit],
        "cursor": None if following is None else str(following),
        "summary": summary,
    }
