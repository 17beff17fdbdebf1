"""The receipt a patient downloads from the portal: what was prescribed, by whom and where, and what has been
supplied so far, when and by whom, in plain words (issue 14.13: it used to read "supplied 100 tablets of 100 x 2"
and named no clinic, date or pharmacist). It is a record, not a prescription, and says so."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from rxcore.prescribing.pdf import day
from rxcore.printing import render_lines


def _amount(value: Any, unit: str) -> str:
    return f"{Decimal(str(value)).normalize():f} {unit}"


def _prescribed(item: dict[str, Any]) -> str:
    once = _amount(item["quantity"], item["unit"])
    repeats = int(item.get("repeats") or 0)
    if not repeats:
        return f"Prescribed: {once}, supplied once"
    return f"Prescribed: {once} each time, up to {repeats + 1} times ({repeats} repeat{'s' if repeats > 1 else ''})"


def lines(
    prescription: dict[str, Any],
    items: list[dict[str, Any]],
    records: list[dict[str, Any]],
    pharmacists: dict[str, str],
) -> list[tuple[str, str]]:
    """The receipt as (style, text) lines: pure, so it is tested without a PDF."""
    signed = json.loads(prescription.get("snapshot") or "{}")
    clinic = signed.get("clinic", {})
    where = clinic.get("name", "your clinic") + (f", {clinic['address']}" if clinic.get("address") else "")
    prescriber = signed.get("prescriber", {}).get("name", "your prescriber")
    state = prescription["status"].replace("_", " ")
    out = [
        ("title", "Your prescription receipt"),
        ("text", f"Prescription {prescription['number']}"),
        ("text", f"From {where}"),
        ("text", f"Prescribed by {prescriber} on {day(prescription.get('appropriate_date'))}"),
        ("text", f"Valid until {day(prescription.get('expires_on'))}; now {state}"),
    ]
    by_item: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: r["dispensed_at"]):
        by_item.setdefault(record["item_id"], []).append(record)
    for item in sorted(items, key=lambda i: i["line"]):
        supplies = by_item.get(item["$id"], [])
        out += [
            ("heading", f"{item['line']}. {item['name']}"),
            ("text", f"Dose: {item['dose']}"),
            ("text", _prescribed(item)),
        ]
        for record in supplies:
            who = pharmacists.get(record["pharmacist_id"], "a pharmacist")
            out.append(
                (
                    "text",
                    f"Supplied {_amount(record['quantity'], item['unit'])} on {day(record['dispensed_at'])} by {who}",
                )
            )
        if not supplies:
            out.append(("text", "Nothing supplied yet"))
        owing = Decimal(str(supplies[-1].get("owing") or 0)) if supplies else Decimal(0)
        if owing > 0:
            out.append(("text", f"Still to come: {_amount(owing, item['unit'])}"))
        left = int(item.get("supplies_allowed") or 1) - int(item.get("supplies_done") or 0)
        if supplies and left > 0 and owing == 0:
            out.append(("text", f"Repeats left: {left}"))
    out.append(("note", "This is a record of what was prescribed and supplied. It is not a prescription."))
    return out


def render(
    prescription: dict[str, Any],
    items: list[dict[str, Any]],
    records: list[dict[str, Any]],
    pharmacists: dict[str, str],
) -> bytes:
    title = f"Receipt for prescription {prescription['number']}"
    return render_lines(title, lines(prescription, items, records, pharmacists))
