"""The token wallet's rules on the in-memory TableStore: prices, the ledger's floor and overdraft, member caps,
low-balance warnings once per crossing, one automatic top-up at a time, refunds once, and the analytics sums.
The e2e tests (tests/e2e/test_tokens.py) drive the same code in the real functions."""

from __future__ import annotations

import json
from datetime import date

import pytest

from rxcore.errors import PaymentRequired
from rxcore.wallet import analytics, ledger, policy, pricing, spending
from tests.support.memory_tables import MemoryTables

AT = "2026-12-04T10:00:00.000+00:00"
PRICES = pricing.Pricing("default", base_per_item=10, controlled_surcharge=15, repeat_discount_percent=20)


def commit(tables: MemoryTables, posting: ledger.Posting | None) -> None:
    if posting is not None and posting.operations:
        tables.commit(posting.operations)


def credit(tables, entity=("individual", "u1"), tokens=100, key="buy-1"):
    commit(tables, ledger.post(tables, *entity, [ledger.Entry("credit", tokens, "bought", "stripe", key)], AT))


@pytest.mark.parametrize(
    ("controlled", "repeats", "tokens"),
    [(False, 0, 10), (True, 0, 25), (False, 2, 8), (True, 5, 20)],
)
def test_an_item_costs_base_plus_controlled_surcharge_less_the_repeat_discount(controlled, repeats, tokens):
    assert pricing.item_price(PRICES, controlled, repeats) == tokens


def test_a_quote_adds_its_items_and_records_the_controlled_share():
    quote = pricing.quote(PRICES, [(1, False, 0), (2, True, 0)])
    assert quote.total == 35
    assert quote.detail() == {"pricing": "default", "items": 2, "controlledItems": 1, "controlledTokens": 25}
    assert pricing.quote(None, [(1, True, 0)]).total == 0  # no pricing configured: free


def test_a_clinic_row_wins_over_the_default_and_an_inactive_row_is_skipped():
    tables = MemoryTables()
    base = {"base_per_item": 5, "controlled_surcharge": 1, "repeat_discount_percent": 0, "active": True}
    assert pricing.load(tables, "c1") is None
    tables.create(pricing.TABLE, pricing.DEFAULT, base)
    assert pricing.load(tables, "c1").base_per_item == 5
    tables.create(pricing.TABLE, pricing.row_id_for("c1"), base | {"base_per_item": 7})
    assert pricing.load(tables, "c1").base_per_item == 7
    tables.update(pricing.TABLE, pricing.row_id_for("c1"), {"active": False})
    assert pricing.load(tables, "c1").base_per_item == 5


def test_the_balance_never_goes_below_zero_or_below_the_overdraft():
    tables = MemoryTables()
    credit(tables, tokens=10)
    debit = ledger.Entry("debit", -11, "rx", "u1", "rx:1")
    with pytest.raises(PaymentRequired) as refused:
        ledger.post(tables, "individual", "u1", [debit], AT)
    assert refused.value.type == "wallet_insufficient_balance"
    tables.update("wallets", ledger.wallet_id("individual", "u1"), {"overdraft_limit": 5})
    commit(tables, ledger.post(tables, "individual", "u1", [debit], AT))
    assert ledger.balance(tables, "individual", "u1") == -1
    assert ledger.verify(tables, "individual", "u1") is None


def test_a_key_applies_once_and_verify_names_the_first_entry_that_disagrees():
    tables = MemoryTables()
    credit(tables, tokens=10)
    credit(tables, tokens=10)  # the same key again: nothing
    assert ledger.balance(tables, "individual", "u1") == 10
    credit(tables, tokens=5, key="buy-2")
    first = tables.list("wallet_transactions", [])[0]
    tables.update("wallet_transactions", first["$id"], {"balance_after": 11})
    assert "says 11" in ledger.verify(tables, "individual", "u1")


def test_a_member_cap_refuses_what_goes_over_it_this_month():
    tables = MemoryTables()
    credit(tables, entity=("clinic", "c1"), tokens=100)
    payer = spending.Payer("clinic", "c1", "doc")
    tables.create("wallet_member_caps", spending.cap_id(payer.wallet_id, "doc"), {"monthly_cap": 25})
    commit(tables, spending.charge(tables, payer, pricing.quote(PRICES, [(1, False, 0)] * 2), "p1", "N1", AT))
    with pytest.raises(PaymentRequired) as refused:
        spending.charge(tables, payer, pricing.quote(PRICES, [(1, False, 0)]), "p2", "N2", AT)
    assert refused.value.type == "wallet_member_cap_exceeded"
    assert spending.spend_of(tables, payer.wallet_id, "doc", AT[:7]) == 20


def test_a_cancelled_prescription_gets_its_tokens_back_once_and_the_spend_goes_down():
    tables = MemoryTables()
    credit(tables, entity=("clinic", "c1"), tokens=100)
    payer = spending.Payer("clinic", "c1", "doc")
    commit(tables, spending.charge(tables, payer, pricing.quote(PRICES, [(1, True, 0)]), "p1", "N1", AT))
    refund = spending.refund(tables, "p1", "doc", AT)
    assert refund.applied[0]["amount"] == 25
    commit(tables, refund)
    assert spending.refund(tables, "p1", "doc", AT) is None
    assert spending.refund(tables, "never-charged", "doc", AT) is None
    assert ledger.balance(tables, "clinic", "c1") == 100
    assert spending.spend_of(tables, payer.wallet_id, "doc", AT[:7]) == 0


def test_a_low_balance_is_warned_once_per_crossing():
    wallet = {"low_balance_threshold": 50}
    first = policy.after_posting(wallet, "clinic", "c1", 40, AT)
    assert [m.topic for m in first.messages] == ["wallet.low_balance"] and first.updates["low_balance_notified"]
    wallet |= first.updates
    assert policy.after_posting(wallet, "clinic", "c1", 30, AT).messages == []  # still under: no second warning
    back = policy.after_posting(wallet, "clinic", "c1", 60, AT)
    assert back.updates == {"low_balance_notified": False}
    wallet |= back.updates
    again = policy.after_posting(wallet, "clinic", "c1", 10, AT)
    assert again.messages[0].key != first.messages[0].key  # a new crossing, a new message


def test_auto_top_up_starts_one_request_and_none_while_it_is_pending_or_paused():
    wallet = {"auto_top_up": True, "top_up_threshold": 50, "top_up_plan_id": "pack", "top_up_payment_method": "pm_1"}
    assert policy.after_posting(wallet, "individual", "u1", 60, AT).rows == []
    started = policy.after_posting(wallet, "individual", "u1", 40, AT)
    assert [table for table, _, _ in started.rows] == ["wallet_top_ups"]
    assert started.updates["top_up_pending"] == started.rows[0][1]
    assert policy.after_posting(wallet | started.updates, "individual", "u1", 30, AT).rows == []
    assert policy.after_posting(wallet | {"top_up_paused": "declined"}, "individual", "u1", 30, AT).rows == []


def test_two_debits_racing_past_the_threshold_start_one_top_up():
    tables = MemoryTables()
    credit(tables, tokens=100)
    wid = ledger.wallet_id("individual", "u1")
    tables.update("wallets", wid, {"auto_top_up": True, "top_up_threshold": 95, "top_up_plan_id": "p",
                                   "top_up_payment_method": "pm"})  # fmt: skip
    tx_a, tx_b = tables.begin(), tables.begin()
    a = ledger.post(tables, "individual", "u1", [ledger.Entry("debit", -10, "a", "u1", "rx:a")], AT)
    b = ledger.post(tables, "individual", "u1", [ledger.Entry("debit", -10, "b", "u1", "rx:b")], AT)
    tables.commit(a.operations, tx_a)
    with pytest.raises(Exception) as lost:
        tables.commit(b.operations, tx_b)
    assert getattr(lost.value, "code", None) == 409
    b = ledger.post(tables, "individual", "u1", [ledger.Entry("debit", -10, "b", "u1", "rx:b")], AT)
    tables.commit(b.operations)
    assert len(tables.list("wallet_top_ups", [])) == 1
    assert ledger.verify(tables, "individual", "u1") is None


def test_analytics_sum_spend_per_period_member_and_category():
    def row(kind, amount, day, member, controlled=0, refunded=0):
        detail = {"controlledTokens": controlled} if kind == "debit" else {"refundedControlledTokens": refunded}
        return {"kind": kind, "amount": amount, "created_at": f"2026-12-0{day}T09:00:00.000+00:00",
                "member_id": member, "actor_id": member, "detail": json.dumps(detail)}  # fmt: skip

    entries = [
        row("debit", -25, 1, "a", controlled=25),
        row("debit", -10, 1, "b"),
        row("debit", -10, 2, "a"),
        row("refund", 25, 3, "a", refunded=25),
        row("credit", 100, 3, "stripe"),
    ]

    out = analytics.summarise(entries, "day", date(2026, 12, 4), 90, {"a": "Dr A"})
    assert out["spend"] == [{"period": "2026-12-01", "tokens": 35}, {"period": "2026-12-02", "tokens": 10},
                            {"period": "2026-12-03", "tokens": -25}]  # fmt: skip
    assert out["byPrescriber"] == [
        {"memberId": "a", "name": "Dr A", "tokens": 10, "prescriptions": 1},  # two charged, one given back
        {"memberId": "b", "name": None, "tokens": 10, "prescriptions": 1},
    ]
    assert out["byCategory"] == {"controlled": 0, "other": 20}
    assert out["totalSpent"] == 20 and out["burnRatePerDay"] == round(20 / 30, 2)
    assert out["forecastDaysLeft"] == int(90 / round(20 / 30, 2))
    assert analytics.summarise(entries, "month", date(2026, 12, 4), None, {})["forecastDaysLeft"] is None
