"""Automatic top-ups: a debit that leaves a wallet under its owner's threshold creates a `wallet_top_ups` row
(rxcore.wallet.policy, in the debit's transaction), and billing-process charges the saved payment method for the
chosen pack on that row's create event, off-session, like any purchase (rxcore.billing.payments): one payment per
request (its id derived from the request's), the tokens credited by settling the intent, once.

The request ends `succeeded` or `failed` and the wallet stops naming it as pending, in one transaction. A failure
pauses auto top-up (the wallet's `top_up_paused` says why) and writes a `wallet.top_up_failed` message for the
owner: a declined card is not retried on every prescription, and nothing is switched off without telling them.
A request whose event was lost (a crash after the commit) is taken up by the sweep on billing-process's schedule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from appwrite.query import Query

from rxcore import outbox
from rxcore.audit import AuditEvent, Change, commit_with_audit
from rxcore.billing.entities import Entity, billing_readers, ensure_customer_for
from rxcore.billing.gateway import Gateway
from rxcore.billing.payments import charge, open_payment
from rxcore.billing.settlement import Actor
from rxcore.clock import iso
from rxcore.errors import ServiceError
from rxcore.ids import derived_id
from rxcore.tables import TableStore

SWEEP_AFTER = timedelta(minutes=1)  # a request still `requested` this long after its creation lost its event


def payment_id_for(request_id: str) -> str:
    return derived_id("top-up-payment", request_id)


def run(
    tables: TableStore, gateway: Gateway, request_id: str, now: Callable[[], datetime], actor: Actor
) -> dict[str, Any]:
    """Charge one requested top-up (again: the same payment and intent, nothing twice); answers its outcome."""
    request = tables.get("wallet_top_ups", request_id)
    if request is None:
        return {"outcome": "not_found"}
    if request["status"] in ("succeeded", "failed"):
        return {"outcome": request["status"], "paymentId": request.get("payment_id")}
    try:
        payment, state = _charge(tables, gateway, request, now, actor)
    except ServiceError as exc:
        return _finish(tables, request, "failed", None, exc.message, now)
    if state.status == "succeeded":
        return _finish(tables, request, "succeeded", payment["$id"], None, now)
    if state.status in ("processing", "requires_capture"):
        return {"outcome": "processing", "paymentId": payment["$id"]}  # its webhook credits it; the sweep ends it
    reason = state.last_error or f"the payment needs the card holder ({state.status})"
    return _finish(tables, request, "failed", payment["$id"], reason, now)


def _charge(
    tables: TableStore, gateway: Gateway, request: dict[str, Any], now: Callable[[], datetime], actor: Actor
) -> tuple[dict[str, Any], Any]:
    wallet = tables.get("wallets", request["wallet_id"]) or {}
    plan = tables.get("billing_plans", request["plan_id"])
    currency = wallet.get("top_up_currency") or "gbp"
    amount = (plan or {}).get(f"amount_{currency}")
    if plan is None or not plan["active"] or plan["kind"] != "token_pack" or not isinstance(amount, int):
        raise ServiceError(409, "billing_plan_not_found", f"The top-up pack is no longer on sale in {currency}.")
    entity = Entity(request["entity_type"], request["entity_id"], _name(tables, request))
    payment_id = payment_id_for(request["$id"])
    columns = {
        **entity.owner_columns(request["requested_by"]),
        "kind": "token_pack",
        "plan_id": plan["$id"],
        "description": f"Automatic top-up: {plan['name']}"[:200],
        "currency": currency,
        "amount": amount,
        "tokens": int(plan["tokens"]),
        "stripe_customer_id": ensure_customer_for(tables, gateway, entity, now),
        "request_digest": f"top-up:{request['$id']}"[:64],
    }
    event = AuditEvent(
        actor.id, actor.role, "payment.created", "payment", payment_id, entity.clinic_id, None, actor.ip,
        {"amount": amount, "topUp": request["$id"]},
    )  # fmt: skip
    payment = open_payment(tables, payment_id, columns, billing_readers(entity.type, entity.id), event, now)
    metadata = {"payment_id": payment_id, "entity_type": entity.type, "entity_id": entity.id, "top_up": request["$id"]}
    settled, state = charge(tables, gateway, payment, metadata, request["payment_method"], now, actor, off_session=True)
    return settled.get("payment") or payment, state


def _name(tables: TableStore, request: dict[str, Any]) -> str:
    table = "clinics" if request["entity_type"] == "clinic" else "practitioners"
    return (tables.get(table, request["entity_id"]) or {}).get("name") or request["entity_id"]


def _finish(
    tables: TableStore,
    request: dict[str, Any],
    status: str,
    payment_id: str | None,
    error: str | None,
    now: Callable[[], datetime],
) -> dict[str, Any]:
    """End the request and free the wallet for the next one; a failure pauses auto top-up and tells the owner."""

    def decide(_tx: str | None) -> Change[dict[str, Any]] | dict[str, Any]:
        current = tables.get("wallet_top_ups", request["$id"]) or request
        if current["status"] in ("succeeded", "failed"):
            return {"outcome": current["status"], "paymentId": current.get("payment_id")}
        at = iso(now())
        update = {
            "status": status,
            "payment_id": payment_id,
            "error": (error or None) and error[:300],
            "updated_at": at,
        }
        operations = [tables.op("update", "wallet_top_ups", request["$id"], update)]
        wallet = tables.get("wallets", request["wallet_id"]) or {}
        freed: dict[str, Any] = {}
        if wallet.get("top_up_pending") == request["$id"]:
            freed["top_up_pending"] = None
        messages = []
        if status == "failed":
            freed["top_up_paused"] = f"The top-up on {at[:10]} failed: {error or 'declined'}"[:200]
            payload = {
                "entityType": request["entity_type"],
                "entityId": request["entity_id"],
                "topUpId": request["$id"],
            }
            clinic = request["entity_id"] if request["entity_type"] == "clinic" else None
            messages.append(
                outbox.Message("wallet.top_up_failed", f"wallet.top_up_failed:{request['$id']}", payload, clinic)
            )
        if freed:
            operations.append(tables.op("update", "wallets", request["wallet_id"], freed | {"updated_at": at}))
        audit = AuditEvent(
            "billing-process", "system", f"wallet.top_up_{status}", "wallet", request["wallet_id"],
            request["entity_id"] if request["entity_type"] == "clinic" else None, None, "",
            {"topUp": request["$id"], "payment": payment_id, "error": error},
        )  # fmt: skip
        return Change(operations, [audit], {"outcome": status, "paymentId": payment_id}, messages=messages)

    return commit_with_audit(tables, decide, now, transactional_reads=True)


def stale(tables: TableStore, now: datetime) -> list[str]:
    """Requests that should have been charged by now (their event lost), oldest first."""
    rows = tables.list(
        "wallet_top_ups",
        [
            Query.equal("status", "requested"),
            Query.less_than("created_at", iso(now - SWEEP_AFTER)),
            Query.order_asc("created_at"),
            Query.limit(50),
        ],
    )
    return [r["$id"] for r in rows]
