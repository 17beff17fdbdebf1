"""The pure part of billing: what a payment's state at Stripe changes, tokens taken back by refunds, and the
ledger's once-per-key postings (on the in-memory TableStore; the e2e tests drive the real function)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from rxcore.billing import receipt
from rxcore.billing.gateway import IntentState
from rxcore.billing.receipt import included_tax, money
from rxcore.billing.settlement import Actor, settle, tokens_back, transition
from rxcore.errors import PaymentRequired
from rxcore.wallet import ledger
from tests.support.memory_tables import MemoryTables

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
AT = "2026-12-04T10:00:00.000+00:00"


def payment(**overrides) -> dict:
    return {
        "$id": "pay1",
        "entity_type": "individual",
        "entity_id": "u1",
        "clinic_id": None,
        "status": "pending",
        "amount": 1999,
        "amount_refunded": 0,
        "tokens": 100,
        "tokens_reversed": 0,
        "currency": "gbp",
        "description": "100 tokens",
        "stripe_payment_intent_id": "pi_1",
        "stripe_customer_id": "cus_1",
        "history": "[]",
    } | overrides


def state(status: str = "succeeded", refunded: int = 0, error: str | None = None) -> IntentState:
    return IntentState("pi_1", status, 1999, "gbp", refunded, "cus_1", None, error, {"payment_id": "pay1"})


@pytest.mark.parametrize(
    ("tokens", "amount", "refunded", "back"),
    [(100, 1999, 1999, 100), (100, 1999, 1000, 51), (100, 1999, 1, 1), (100, 2000, 1000, 50), (0, 500, 500, 0)],
)
def test_a_refund_takes_back_tokens_in_proportion_rounded_up(tokens, amount, refunded, back):
    assert tokens_back(tokens, amount, refunded) == back


def test_a_success_credits_the_pack_once_and_a_repeat_changes_nothing():
    moved = transition(payment(), state(), AT)
    assert moved.happened == ["paid"] and moved.updates["status"] == "succeeded"
    assert [(e.kind, e.amount, e.key) for e in moved.entries] == [("credit", 100, "stripe:pi_1:credit")]
    again = transition(payment(status="succeeded"), state(), AT)
    assert (again.updates, again.entries, again.happened) == ({}, [], [])


def test_a_refund_seen_before_the_payment_does_both_in_order():
    moved = transition(payment(), state(refunded=1999), AT)
    assert moved.happened == ["paid", "refunded"] and moved.updates["status"] == "refunded"
    assert [(e.kind, e.amount) for e in moved.entries] == [("credit", 100), ("reversal", -100)]


def test_failures_and_cancellations_only_move_an_unpaid_payment():
    assert transition(payment(), state("requires_payment_method", error="declined"), AT).updates["status"] == "failed"
    assert transition(payment(status="succeeded"), state("canceled"), AT).updates == {}
    assert transition(payment(), state("requires_payment_method"), AT).updates == {}  # not attempted yet


def test_the_ledger_posts_each_key_once_and_never_below_zero():
    tables = MemoryTables()
    credit = ledger.Entry("credit", 100, "bought", "stripe", "k1")
    tables.commit(ledger.post(tables, "individual", "u1", [credit], AT).operations)
    again = ledger.post(tables, "individual", "u1", [credit], AT)
    assert (again.operations, again.balance_after) == ([], 100)
    with pytest.raises(PaymentRequired) as refused:
        ledger.post(tables, "individual", "u1", [ledger.Entry("debit", -101, "spend", "u1", "k2")], AT)
    assert refused.value.type == "wallet_insufficient_balance"
    capped = ledger.Entry("reversal", -150, "refund", "stripe", "k3", at_most_balance=True)
    posting = ledger.post(tables, "individual", "u1", [capped], AT)
    tables.commit(posting.operations)
    assert posting.balance_after == 0 and posting.applied[0]["amount"] == -100
    assert ledger.verify(tables, "individual", "u1") is None


def test_settling_twice_and_after_a_lost_race_credits_once():
    tables = MemoryTables()
    tables.create("billing_payments", "pay1", {k: v for k, v in payment().items() if k != "$id"})
    actor = Actor("stripe", "stripe", "")
    event = {"id": "evt_1", "type": "payment_intent.succeeded", "created": 1796387938}
    first = settle(tables, state(), lambda: NOW, actor, event)
    assert first["outcome"] == "paid" and first["walletBalance"] == 100
    assert settle(tables, state(), lambda: NOW, actor, event)["outcome"] == "duplicate"
    other = {"id": "evt_2", "type": "charge.succeeded", "created": 1796387939}
    assert settle(tables, state(), lambda: NOW, actor, other)["outcome"] == "unchanged"
    assert ledger.balance(tables, "individual", "u1") == 100
    assert len(tables.rows["billing_events"]) == 2 and len(tables.rows["audit_events"]) == 1


# --- receipts ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(1999, "gbp", "£19.99"), (3499, "aud", "A$34.99"), (-500, "usd", "-US$5.00"), (1234567, "gbp", "£12,345.67")],
)
def test_money_is_printed_from_minor_units(minor, currency, text):
    assert money(minor, currency) == text


def test_included_tax_is_rounded_half_up_to_the_penny():
    assert included_tax(1999, Decimal(20)) == 333  # 19.99 - 16.658 = 3.3317
    assert included_tax(1200, Decimal(20)) == 200
    assert included_tax(1100, Decimal(10)) == 100  # Australian GST


def test_a_receipt_shows_tax_only_when_configured_and_refunds_net():
    paid = payment(status="partially_refunded", amount_refunded=1000, paid_at="2026-12-04T10:00:00.000+00:00")
    plain = [text for _, text in receipt.lines(paid, "Dr Alice Prescott", "Rx Platform")]
    assert "100 tokens: £19.99" in plain and "Total paid: £19.99" in plain
    assert "Refunded: -£10.00" in plain and "Net paid: £9.99" in plain and "Paid on 04/12/2026 in GBP" in plain
    assert not any("VAT" in line for line in plain)
    taxed = [text for _, text in receipt.lines(paid, "Dr A", "Rx", "VAT", Decimal(20))]
    assert "Includes VAT at 20%: £3.33" in taxed
