"""What a wallet's owner has asked to happen when its balance crosses a line (pure; rxcore.wallet.ledger applies it
in the same transaction as the entries that moved the balance).

- **Low-balance warning**: when the balance falls under `low_balance_threshold`, one `wallet.low_balance` outbox
  message; `low_balance_notified` remembers it until the balance is back at or over the threshold, so a wallet
  hovering under the line is warned once per crossing, not once per prescription.
- **Automatic top-up**: when auto top-up is on and the balance falls under `top_up_threshold`, a `wallet_top_ups`
  row is created (billing-process charges the saved card on its create event) and `top_up_pending` names it. While
  one is pending no other starts: the wallet row is written by every debit, so of two debits racing past the
  threshold only one commits its top-up (the other's transaction conflicts and decides again, seeing it pending).
  A failed top-up pauses auto top-up (`top_up_paused`) and tells the owner; saving the settings again resumes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rxcore import outbox
from rxcore.ids import derived_id
from rxcore.wallet.access import owners, wallet_id


@dataclass(frozen=True)
class Changes:
    updates: dict[str, Any] = field(default_factory=dict)  # for the wallet row
    rows: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (table, id, data) to create
    messages: list[outbox.Message] = field(default_factory=list)


def top_up_id(wallet_id: str, number: int) -> str:
    return derived_id("top-up", wallet_id, number)


def clinic_of(entity_type: str, entity_id: str) -> str | None:
    return entity_id if entity_type == "clinic" else None


def after_posting(wallet: dict[str, Any], entity_type: str, entity_id: str, after: int, at: str) -> Changes:
    """What the balance moving to `after` asks for: a warning, a reset of the warning, a top-up."""
    updates: dict[str, Any] = {}
    rows: list[tuple[str, str, dict[str, Any]]] = []
    messages: list[outbox.Message] = []
    owner = {"entityType": entity_type, "entityId": entity_id}
    clinic = clinic_of(entity_type, entity_id)
    wid = wallet.get("$id") or wallet_id(entity_type, entity_id)

    threshold = int(wallet.get("low_balance_threshold") or 0)
    notified = bool(wallet.get("low_balance_notified"))
    if threshold and after < threshold and not notified:
        updates["low_balance_notified"] = True
        crossing = int(wallet.get("low_balance_crossings") or 0) + 1
        updates["low_balance_crossings"] = crossing
        payload = owner | {"balance": after, "threshold": threshold}
        messages.append(outbox.Message("wallet.low_balance", f"wallet.low_balance:{wid}:{crossing}", payload, clinic))
    elif notified and (not threshold or after >= threshold):
        updates["low_balance_notified"] = False

    if can_top_up(wallet) and after < int(wallet.get("top_up_threshold") or 0):
        started = top_up_request(wallet, entity_type, entity_id, after, at)
        updates |= started.updates
        rows += started.rows
    return Changes(updates, rows, messages)


def can_top_up(wallet: dict[str, Any]) -> bool:
    """Auto top-up is on, set up, not paused by a failure, and none is on its way."""
    return (
        bool(wallet.get("auto_top_up"))
        and not wallet.get("top_up_pending")
        and not wallet.get("top_up_paused")
        and bool(wallet.get("top_up_plan_id"))
        and bool(wallet.get("top_up_payment_method"))
    )


def top_up_request(wallet: dict[str, Any], entity_type: str, entity_id: str, balance: int, at: str) -> Changes:
    """Start a top-up: the `wallet_top_ups` row billing-process acts on, and the wallet naming it as pending."""
    wid = wallet.get("$id") or wallet_id(entity_type, entity_id)
    number = int(wallet.get("top_up_count") or 0) + 1
    request_id = top_up_id(wid, number)
    row = top_up_row(wallet, wid, entity_type, entity_id, balance, at)
    return Changes({"top_up_pending": request_id, "top_up_count": number}, [("wallet_top_ups", request_id, row)])


def top_up_row(
    wallet: dict[str, Any], wid: str, entity_type: str, entity_id: str, balance: int, at: str
) -> dict[str, Any]:
    return {
        "wallet_id": wid,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "plan_id": wallet["top_up_plan_id"],
        "payment_method": wallet["top_up_payment_method"],
        "requested_by": wallet.get("top_up_set_by") or entity_id,
        "balance_at_request": balance,
        "status": "requested",
        "payment_id": None,
        "error": None,
        "created_at": at,
        "updated_at": at,
        "$permissions": owners(entity_type, entity_id),
    }
