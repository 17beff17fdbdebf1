"""How a payment's state at Stripe becomes ours: the payment row, the wallet and the audit trail, exactly once.

Whoever learns something about a payment (a webhook delivery, the purchase call that charged a saved card, an
admin's refund) re-reads the PaymentIntent from Stripe and calls `settle` with that state. `transition` compares it
with our row and decides what is new; nothing is decided from the order in which events arrive, so five deliveries
of one event, or a refund's event before its payment's, end in the same state. The ledger entries are keyed by the
intent (`stripe:<pi>:credit`, `stripe:<pi>:refunded:<total>`), so two different events reporting one fact apply it
once; a webhook's own record (`billing_events`, id from the Stripe event id) is written in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from appwrite.query import Query

from rxcore import outbox
from rxcore.audit import AuditEvent, Change, commit_with_audit
from rxcore.billing.gateway import IntentState
from rxcore.clock import iso
from rxcore.ids import derived_id
from rxcore.tables import TableStore
from rxcore.wallet import ledger

HISTORY_CHARS = 4000
PAYABLE = ("pending", "failed")  # a payment that may still succeed (a failed attempt can be retried by the payer)


@dataclass(frozen=True)
class Actor:
    """Who the audit trail names: a user, or `stripe` for a webhook delivery."""

    id: str
    role: str
    ip: str


@dataclass(frozen=True)
class Transition:
    updates: dict[str, Any]
    entries: list[ledger.Entry]
    happened: list[str]  # the financial events, in order: paid, failed, canceled, refunded


def event_row_id(event_id: str) -> str:
    return derived_id("stripe-event", event_id)


def seen_before(tables: TableStore, event: dict[str, Any] | None) -> bool:
    """Whether this webhook event was recorded (and so applied) already."""
    return event is not None and tables.get("billing_events", event_row_id(event["id"])) is not None


def tokens_back(tokens: int, amount: int, refunded: int) -> int:
    """Tokens a refund of `refunded` (in total) takes back from a pack of `tokens` bought for `amount`: in
    proportion, rounded up, so that a refund never leaves the buyer tokens they did not pay for."""
    return min(tokens, -(-tokens * refunded // amount))


def transition(payment: dict[str, Any], state: IntentState, at: str) -> Transition:
    """What is new in `state` for `payment` (pure)."""
    updates: dict[str, Any] = {}
    entries: list[ledger.Entry] = []
    happened: list[str] = []
    status = payment["status"]
    related = {"related_type": "payment", "related_id": payment["$id"]}
    if state.status == "succeeded" and status in PAYABLE:
        status = "succeeded"
        updates |= {"status": status, "paid_at": at}
        happened.append("paid")
        if payment["tokens"] > 0:
            reason = f"Bought {payment['tokens']} tokens ({payment['description']})"
            entries.append(
                ledger.Entry("credit", payment["tokens"], reason, "stripe", f"stripe:{state.id}:credit", **related)
            )
    elif state.status == "requires_payment_method" and state.last_error and status == "pending":
        status = "failed"
        updates["status"] = status
        happened.append("failed")
    elif state.status == "canceled" and status in PAYABLE:
        status = "canceled"
        updates["status"] = status
        happened.append("canceled")
    refunded = min(state.amount_refunded, payment["amount"])
    if refunded > payment["amount_refunded"] and status in ("succeeded", "partially_refunded"):
        status = "refunded" if refunded >= payment["amount"] else "partially_refunded"
        updates |= {"status": status, "amount_refunded": refunded}
        happened.append("refunded")
        due = tokens_back(payment["tokens"], payment["amount"], refunded) - payment["tokens_reversed"]
        if due > 0:
            updates["tokens_reversed"] = payment["tokens_reversed"] + due
            key = f"stripe:{state.id}:refunded:{refunded}"
            reason = f"Refund of {refunded} {payment['currency'].upper()} minor units"
            entries.append(ledger.Entry("reversal", -due, reason, "stripe", key, at_most_balance=True, **related))
    if updates:
        updates["history"] = _history(payment, happened, state, at)
    if not payment.get("stripe_payment_intent_id"):  # first heard of: the purchase that created it
        updates["stripe_payment_intent_id"] = state.id
    if updates:
        updates["updated_at"] = at
    return Transition(updates, entries, happened)


def _history(payment: dict[str, Any], happened: list[str], state: IntentState, at: str) -> str:
    history = json.loads(payment.get("history") or "[]")
    for what in happened:
        item: dict[str, Any] = {"at": at, "event": what}
        if what == "refunded":
            item["amountRefunded"] = state.amount_refunded
        if what == "failed":
            item["reason"] = (state.last_error or "")[:200]
        history.append(item)
    text = json.dumps(history, separators=(",", ":"))
    while len(text) > HISTORY_CHARS and len(history) > 1:  # keep `created` and the newest
        del history[1]
        text = json.dumps(history, separators=(",", ":"))
    return text


def settle(
    tables: TableStore,
    state: IntentState,
    now: Callable[[], datetime],
    actor: Actor,
    event: dict[str, Any] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Bring the payment `state` belongs to up to date, with its ledger entries, audit events and (for a webhook)
    the event's record, in one transaction; again from the start if a concurrent delivery got there first."""

    def decide(_tx: str | None) -> Change[dict[str, Any]] | dict[str, Any]:
        if seen_before(tables, event):
            return {"outcome": "duplicate"}
        at = iso(now())
        payment = _payment_of(tables, state)
        if payment is None:  # not a payment of ours (another integration on the same Stripe account)
            return outcome_only(tables, event, state.id, "ignored", at, _detail(state))
        if payment.get("stripe_payment_intent_id") not in (None, state.id):
            # A second intent for one payment (a concurrent retry where Stripe's idempotency key did not hold):
            # the first one recorded stands; the caller cancels this one.
            return {"outcome": "other_intent", "payment": payment, "walletBalance": None}
        moved = transition(payment, state, at)
        operations: list[dict[str, Any]] = []
        balance = None
        wallet_messages = []
        if moved.entries:
            posting = ledger.post(tables, payment["entity_type"], payment["entity_id"], moved.entries, at)
            operations += posting.operations
            balance = posting.balance_after
            wallet_messages = posting.messages
        if moved.updates:
            operations.append(tables.op("update", "billing_payments", payment["$id"], moved.updates))
        outcome = ",".join(moved.happened) or "unchanged"
        if event is not None:
            operations.append(event_op(tables, event, state.id, outcome, _detail(state), at))
        result = {"outcome": outcome, "payment": payment | moved.updates, "walletBalance": balance}
        if not operations:
            return result
        audit = [_audit(actor, what, payment, state, note) for what in moved.happened]
        messages = messages_for(payment, moved.happened, state) + wallet_messages
        return Change(operations, audit, result, messages=messages)

    return commit_with_audit(tables, decide, now, transactional_reads=True)


def _payment_of(tables: TableStore, state: IntentState) -> dict[str, Any] | None:
    """Our payment behind an intent: named by its metadata (packs, orders, top-ups), or, for the intent that paid a
    subscription's invoice (made by Stripe, without our metadata), recorded on the invoice's payment row."""
    payment_id = state.metadata.get("payment_id", "")
    if payment_id:
        return tables.get("billing_payments", payment_id)
    rows = tables.list("billing_payments", [Query.equal("stripe_payment_intent_id", state.id), Query.limit(1)])
    return rows[0] if rows else None


def messages_for(payment: dict[str, Any], happened: list[str], state: IntentState) -> list[outbox.Message]:
    """What other features learn, written with the change: a receipt and a refund notice for the payer (notification-
    send), and for a consultation order, that its appointment is paid or refunded (the booking)."""
    messages = []
    ids = {"paymentId": payment["$id"], "entityType": payment["entity_type"], "entityId": payment["entity_id"]}
    appointment = payment.get("appointment_id")
    for what in happened:
        if what == "paid":
            messages.append(outbox.Message("payment.succeeded", f"payment.succeeded:{payment['$id']}", ids))
            if appointment:
                key = f"consultation.paid:{appointment}"
                messages.append(outbox.Message("consultation.paid", key, ids | {"appointmentId": appointment}))
        elif what == "refunded":
            key = f"{payment['$id']}:{state.amount_refunded}"
            refund = ids | {"amountRefunded": state.amount_refunded}
            messages.append(outbox.Message("payment.refunded", f"payment.refunded:{key}", refund))
            if appointment:
                refund |= {"appointmentId": appointment}
                messages.append(outbox.Message("consultation.refunded", f"consultation.refunded:{key}", refund))
    clinic = payment.get("clinic_id")
    return [outbox.Message(m.topic, m.key, m.payload, clinic) for m in messages]


def record_event(
    tables: TableStore, event: dict[str, Any], object_id: str, outcome: str, now: Callable[[], datetime]
) -> str:
    """Record an event that changes no payment (once); answers its outcome, or `duplicate`."""

    def decide(_tx: str | None) -> Change[dict[str, Any]] | dict[str, Any]:
        if seen_before(tables, event):
            return {"outcome": "duplicate"}
        return outcome_only(tables, event, object_id, outcome, iso(now()))

    return commit_with_audit(tables, decide, now)["outcome"]


def outcome_only(
    tables: TableStore,
    event: dict[str, Any] | None,
    object_id: str,
    outcome: str,
    at: str,
    detail: str = "",
    answer: dict[str, Any] | None = None,
) -> Change[dict[str, Any]] | dict[str, Any]:
    """A decision that changes nothing of ours: for a webhook, the event's record alone; otherwise just the answer
    (`{"outcome": outcome}` and `answer`)."""
    result = {"outcome": outcome} | (answer or {})
    if event is None:
        return result
    return Change([event_op(tables, event, object_id, outcome, detail, at)], [], result)


def event_op(
    tables: TableStore, event: dict[str, Any], object_id: str, outcome: str, detail: str, at: str
) -> dict[str, Any]:
    created = datetime.fromtimestamp(int(event.get("created") or 0), UTC)
    row = {
        "event_id": str(event["id"])[:255],
        "type": str(event.get("type", ""))[:80],
        "object_id": object_id[:64],
        "outcome": outcome[:24],
        "detail": detail or None,
        "created_at": iso(created),
        "received_at": at,
    }
    return tables.op("create", "billing_events", event_row_id(event["id"]), row)


def _detail(state: IntentState) -> str:
    return json.dumps({"status": state.status, "amountRefunded": state.amount_refunded})


def _audit(actor: Actor, what: str, payment: dict[str, Any], state: IntentState, note: str | None) -> AuditEvent:
    return AuditEvent(
        actor_id=actor.id,
        actor_role=actor.role,
        action=f"payment.{what}",
        entity_type="payment",
        entity_id=payment["$id"],
        clinic_id=payment.get("clinic_id"),
        patient_id=None,
        ip=actor.ip,
        detail={
            "amount": payment["amount"],
            "amountRefunded": state.amount_refunded,
            "currency": payment["currency"],
            "tokens": payment["tokens"],
            "paymentIntent": state.id,
            "customer": payment["stripe_customer_id"],
        }
        | ({"note": note} if note else {}),
    )
