"""Reading and presenting prescription rows: shared by prescribing and dispensing.

Kept apart from `prescribe` so that dispensing, which never renders a PDF, does not import reportlab: each
function is deployed with only its own requirements (src/functions/dispensing/requirements.txt)."""

from __future__ import annotations

from datetime import date
from typing import Any

from appwrite.query import Query

from rxcore.clock import local_date
from rxcore.identity import Caller
from rxcore.prescribing.rules import MAX_ITEMS

HIDDEN = ("snapshot", "request_digest")
SYSTEM = ("$id", "$createdAt", "$updatedAt")


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A row as callers see it: its columns and $id, $createdAt, $updatedAt (not the signed snapshot)."""
    return {k: v for k, v in row.items() if k not in HIDDEN and (not k.startswith("$") or k in SYSTEM)}


def clinic_today(c: Caller, prescription: dict[str, Any]) -> date:
    """Today in the prescribing clinic's calendar, the one the prescription's dates are in."""
    return local_date(c.now, prescription["country"], prescription.get("jurisdiction"))


def items_of(c: Caller, prescription_id: str) -> list[dict[str, Any]]:
    """A prescription's items in line order (one query)."""
    query = [Query.equal("prescription_id", prescription_id), Query.order_asc("line"), Query.limit(MAX_ITEMS)]
    return c.tables.list("prescription_items", query)
