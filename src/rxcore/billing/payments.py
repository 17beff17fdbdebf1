"""The two steps every kind of payment takes (a token pack, a consultation order): open the pending payment row,
then get its PaymentIntent and settle our row on it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rxcore.audit import AuditEvent, Change, commit_with_audit
from rxcore.billing.gateway import Gateway, IntentState
from rxcore.billing.settlement import Actor, settle
from rxcore.clock import iso
from rxcore.tables import TableStore


def open_payment(
    tables: TableStore,
    payment_id: str,
    columns: dict[str, Any],
    readers: list[str],
    event: AuditEvent,
    now: Callable[[], datetime],
) -> dict[str, Any]:
    """A new pending payment with `columns` (owner, kind, amount, tokens ...) and its `payment.created` audit event;
    or, when a racing call with the same id wrote it first, that one."""
    at = iso(now())
    row = columns | {
        "amount_refunded": 0,
        "tokens_reversed": 0,
        "status": "pending",
        "history": json.dumps([{"at": at, "event": "created"}]),
        "created_at": at,
        "updated_at": at,
    }

    def decide(_tx: str | None) -> Change[dict[str, Any]] | dict[str, Any]:
        existing = tables.get("billing_payments", payment_id)
        if existing is not None:
            return existing
        operation = tables.op("create", "billing_payments", payment_id, row | {"$permissions": readers})
        return Change([operation], [event], row | {"$id": payment_id})

    return commit_with_audit(tables, decide, now)


def charge(
    tables: TableStore,
    gateway: Gateway,
    payment: dict[str, Any],
    metadata: dict[str, str],
    method: str | None,
    now: Callable[[], datetime],
    actor: Actor,
    *,
    off_session: bool = False,
) -> tuple[dict[str, Any], IntentState]:
    """The payment's intent (the one made before, or a new one under the key `payment:<id>`), with our row settled
    on it: (what settle answered, the intent standing). An intent made twice by racing calls is undone. `off_session`:
    the payer is not there to authenticate (an automatic top-up)."""
    if payment.get("stripe_payment_intent_id"):  # a retry: the intent made the first time stands
        state = gateway.intent(payment["stripe_payment_intent_id"])
    else:
        key = f"payment:{payment['$id']}"  # Stripe answers the same intent for the same key
        state = gateway.create_intent(
            payment["amount"], payment["currency"], payment["stripe_customer_id"], metadata, method, key, off_session
        )
    settled = settle(tables, state, now, actor)
    if settled["outcome"] == "other_intent":  # a racing call's intent was recorded first: it stands, this one goes
        gateway.discard(state)
        state = gateway.intent(settled["payment"]["stripe_payment_intent_id"])
    return settled, state
