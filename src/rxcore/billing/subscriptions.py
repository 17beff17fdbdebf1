"""Plans as Stripe subscriptions: a prescriber's Starter plan or a clinic's Clinic plan, one live subscription per
billing entity, each **paid invoice** crediting the plan's monthly token allowance once (the ledger key is the
invoice's id: Stripe issues one invoice per period, and a replayed or reordered `invoice.paid` finds its entry).

As with payments, every webhook about an invoice or a subscription re-reads it from Stripe, and the effect and the
event's record are one transaction (settlement.py). Stripe Plans are used, not Prices: localstripe has no Prices."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from appwrite.query import Query
from pydantic import Field

from rxcore import outbox
from rxcore.actions import IdempotencyKey, RequestModel, RowId, text
from rxcore.audit import AuditEvent, Change, commit_with_audit
from rxcore.billing.entities import billing_entity, billing_readers, ensure_customer
from rxcore.billing.gateway import InvoiceState, SubscriptionGateway, SubscriptionState
from rxcore.billing.requests import Currency
from rxcore.billing.settlement import Actor, event_op, outcome_only, seen_before
from rxcore.clock import iso
from rxcore.errors import BadRequest, Conflict, NotFound
from rxcore.identity import Caller
from rxcore.ids import derived_id
from rxcore.tables import TableStore
from rxcore.wallet import ledger

LIVE = ("active", "trialing", "past_due", "incomplete")


class Subscribe(RequestModel):
    """Subscribe yourself (a prescriber) or a clinic (its owners and admins) to a plan, paid by a saved method."""

    plan_id: RowId = Field(description="a `billing_plans` row of kind subscription")
    currency: Currency
    payment_method_id: text(64) = Field(description="charged now and at each renewal")
    clinic_id: RowId | None = None
    idempotency_key: IdempotencyKey


class CancelSubscription(RequestModel):
    """Stop a subscription at the end of the period paid for (its allowance stays)."""

    clinic_id: RowId | None = None


def _ts(seconds: int | None) -> str | None:
    return iso(datetime.fromtimestamp(int(seconds), UTC)) if seconds else None


def _day(seconds: int | None, default: str) -> str:
    return (_ts(seconds) or default)[:10]


def _live(tables: TableStore, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
    rows = tables.list(
        "billing_subscriptions",
        [Query.equal("entity_type", entity_type), Query.equal("entity_id", entity_id), Query.limit(10)],
    )
    return [r for r in rows if r["status"] in LIVE]


def subscribe(c: Caller, params: Subscribe) -> dict[str, Any]:
    """Start the plan: the first invoice is paid at once and its allowance credited."""
    entity = billing_entity(c, params.clinic_id)
    plan = c.tables.get("billing_plans", params.plan_id)
    if plan is None or not plan["active"] or plan["kind"] != "subscription":
        raise NotFound("billing_plan_not_found", "No plan on sale has this id.")
    if plan["entity_type"] not in ("any", entity.type):
        raise BadRequest("billing_plan_not_for_entity", f"This plan is not sold to {entity.type} accounts.")
    amount = plan.get(f"amount_{params.currency}")
    if not isinstance(amount, int) or amount < 1:
        raise BadRequest("billing_currency_unavailable", f"This plan has no price in {params.currency.upper()}.")
    if _live(c.tables, entity.type, entity.id):
        raise Conflict("billing_subscription_exists", "There is already a subscription; cancel it first.")
    gateway = SubscriptionGateway(c.settings)  # type: ignore[arg-type]
    customer = ensure_customer(c, gateway, entity)
    stripe_plan = gateway.ensure_plan(
        plan["$id"], plan["name"], amount, params.currency, plan.get("interval") or "month"
    )
    gateway.set_default_method(customer, params.payment_method_id)
    metadata = {"entity_type": entity.type, "entity_id": entity.id, "plan_id": plan["$id"]}
    key = "subscribe:" + derived_id(c.user_id, params.idempotency_key)
    state = gateway.subscribe(customer, stripe_plan, metadata, key)
    now = iso(c.now)
    row = {
        **entity.owner_columns(c.user_id),
        "plan_id": plan["$id"],
        "currency": params.currency,
        "status": state.status,
        "stripe_subscription_id": state.id,
        "stripe_customer_id": customer,
        "cancel_at_period_end": state.cancel_at_period_end,
        "current_period_end": _ts(state.current_period_end),
        "created_at": now,
        "updated_at": now,
    }
    row_id = subscription_row_id(state.id)
    event = c.event("payer", "subscription.created", "subscription", row_id, entity.clinic_id, None, plan=plan["$id"])
    operation = c.tables.op("create", "billing_subscriptions", row_id, row | {"$permissions": entity.readers()})
    commit_with_audit(c.tables, lambda _tx: Change([operation], [event], None), lambda: c.now)
    settled = None
    if state.latest_invoice:
        invoice = gateway.invoice(state.latest_invoice)
        settled = settle_invoice(c.tables, invoice, c.now_fresh, Actor(c.user_id, "payer", c.request.client_ip))
    return {"subscription": {"$id": row_id} | row, "walletBalance": (settled or {}).get("walletBalance")}


def cancel(c: Caller, params: CancelSubscription) -> dict[str, Any]:
    entity = billing_entity(c, params.clinic_id)
    live = _live(c.tables, entity.type, entity.id)
    if not live:
        raise NotFound("billing_subscription_not_found", "There is no subscription to cancel.")
    gateway = SubscriptionGateway(c.settings)  # type: ignore[arg-type]
    state = gateway.cancel_at_period_end(live[0]["stripe_subscription_id"])
    return {"subscription": sync_subscription(c.tables, state, c.now_fresh, Actor(c.user_id, "payer", ""))}


def subscription_row_id(stripe_id: str) -> str:
    return derived_id("subscription", stripe_id)


def sync_subscription(
    tables: TableStore,
    state: SubscriptionState,
    now: Callable[[], datetime],
    actor: Actor,
    event: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Bring our subscription row to Stripe's state (status, period end, cancellation)."""

    def decide(_tx: str | None) -> Change[dict[str, Any]] | dict[str, Any]:
        if seen_before(tables, event):
            return {"outcome": "duplicate"}
        at = iso(now())
        row = tables.get("billing_subscriptions", subscription_row_id(state.id))
        if row is None:
            return outcome_only(tables, event, state.id, "ignored", at)
        updates = {
            "status": state.status,
            "cancel_at_period_end": state.cancel_at_period_end,
            "current_period_end": _ts(state.current_period_end) or row.get("current_period_end"),
        }
        changed = {k: v for k, v in updates.items() if row.get(k) != v}
        if not changed:
            return outcome_only(tables, event, state.id, "unchanged", at, answer=row)
        operations = [tables.op("update", "billing_subscriptions", row["$id"], changed | {"updated_at": at})]
        if event is not None:
            operations.append(event_op(tables, event, state.id, "synced", "", at))
        audit = [_audit(actor, "subscription.updated", row, changed)]
        return Change(operations, audit, {"outcome": "synced"} | row | changed)

    return commit_with_audit(tables, decide, now, transactional_reads=True)


def settle_invoice(
    tables: TableStore,
    invoice: InvoiceState,
    now: Callable[[], datetime],
    actor: Actor,
    event: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A paid invoice of one of our subscriptions: a payment row and the plan's allowance, once per invoice."""

    def decide(_tx: str | None) -> Change[dict[str, Any]] | dict[str, Any]:
        if seen_before(tables, event):
            return {"outcome": "duplicate"}
        at = iso(now())
        rows = tables.list(
            "billing_subscriptions", [Query.equal("stripe_subscription_id", invoice.subscription or ""), Query.limit(1)]
        )
        payment_id = derived_id("invoice", invoice.id)
        ours = rows[0] if rows else None
        if ours is not None and invoice.status != "paid" and (event or {}).get("type") == "invoice.payment_failed":
            return _payment_failed(tables, ours, invoice, actor, event, at)
        if ours is None or invoice.status != "paid" or tables.get("billing_payments", payment_id) is not None:
            outcome = "ignored" if ours is None else ("unpaid" if invoice.status != "paid" else "unchanged")
            return outcome_only(tables, event, invoice.id, outcome, at)
        plan = tables.get("billing_plans", ours["plan_id"]) or {"name": ours["plan_id"], "tokens": 0}
        payment = {
            "entity_type": ours["entity_type"],
            "entity_id": ours["entity_id"],
            "clinic_id": ours.get("clinic_id"),
            "user_id": ours["user_id"],
            "kind": "subscription",
            "plan_id": ours["plan_id"],
            "description": f"{plan['name']}, {_day(invoice.period_start, at)} to {_day(invoice.period_end, at)}",
            "currency": invoice.currency,
            "amount": max(invoice.amount_paid, 1),
            "amount_refunded": 0,
            "tokens": int(plan["tokens"]),
            "tokens_reversed": 0,
            "status": "succeeded",
            "stripe_customer_id": ours["stripe_customer_id"],
            "stripe_payment_intent_id": invoice.payment_intent,
            "request_digest": f"invoice:{invoice.id}"[:64],
            "history": json.dumps([{"at": at, "event": "paid", "invoice": invoice.id}]),
            "created_at": at,
            "updated_at": at,
            "paid_at": at,
        }
        readers = billing_readers(ours["entity_type"], ours["entity_id"])
        operations = [tables.op("create", "billing_payments", payment_id, payment | {"$permissions": readers})]
        entry = ledger.Entry(
            "credit",
            payment["tokens"],
            f"Monthly allowance: {plan['name']}",
            "stripe",
            f"stripe:invoice:{invoice.id}:allowance",
            related_type="payment",
            related_id=payment_id,
        )
        posting = ledger.post(tables, ours["entity_type"], ours["entity_id"], [entry] if entry.amount else [], at)
        operations += posting.operations
        period_end = _ts(invoice.period_end)
        if period_end and period_end != ours.get("current_period_end"):
            operations.append(
                tables.op(
                    "update", "billing_subscriptions", ours["$id"], {"current_period_end": period_end, "updated_at": at}
                )
            )
        if event is not None:
            operations.append(event_op(tables, event, invoice.id, "allowance_credited", "", at))
        audit = [_audit(actor, "subscription.invoice_paid", ours, {"invoice": invoice.id, "tokens": payment["tokens"]})]
        result = {"outcome": "allowance_credited", "walletBalance": posting.balance_after}
        return Change(operations, audit, result, messages=posting.messages)

    return commit_with_audit(tables, decide, now, transactional_reads=True)


def _payment_failed(
    tables: TableStore,
    ours: dict[str, Any],
    invoice: InvoiceState,
    actor: Actor,
    event: dict[str, Any] | None,
    at: str,
) -> Change[dict[str, Any]]:
    """A renewal Stripe could not charge: the owner is told once per invoice (Stripe retries it on its own schedule;
    the subscription's `past_due` status comes from Stripe with the subscription's own event)."""
    payload = {"entityType": ours["entity_type"], "entityId": ours["entity_id"], "subscriptionId": ours["$id"],
               "invoice": invoice.id}  # fmt: skip
    message = outbox.Message(
        "subscription.payment_failed", f"subscription.payment_failed:{invoice.id}", payload, ours.get("clinic_id")
    )
    operations = [event_op(tables, event, invoice.id, "payment_failed", "", at)] if event is not None else []
    audit = [_audit(actor, "subscription.payment_failed", ours, {"invoice": invoice.id})]
    # Stripe's retries fail again: one notice per invoice
    told = tables.get(outbox.table_of(message.topic), outbox.message_id(message.key)) is not None
    return Change(operations, audit, {"outcome": "payment_failed"}, messages=[] if told else [message])


def _audit(actor: Actor, action: str, row: dict[str, Any], detail: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        actor_id=actor.id,
        actor_role=actor.role,
        action=action,
        entity_type="subscription",
        entity_id=row["$id"],
        clinic_id=row.get("clinic_id"),
        patient_id=None,
        ip=actor.ip,
        detail=detail,
    )
