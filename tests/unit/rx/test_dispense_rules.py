"""Dispensing rules: what may be supplied now, owings, repeats and their intervals, the 10 % pack tolerance."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from rxcore.prescribing.dispense_rules import (
    DispenseRefused,
    ItemState,
    dispensable_problem,
    plan_supply,
    record_id,
    status_after,
)

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def state(**changes) -> ItemState:
    base = ItemState(
        id="item-1",
        line=1,
        name="Amoxicillin",
        quantity=Decimal(21),
        unit="capsules",
        supplies_allowed=3,
        supplies_done=0,
        current_supplied=Decimal(0),
        current_parts=0,
        last_supply_at=None,
        min_interval_days=7,
        controlled=False,
    )
    return replace(base, **changes)


def prescription(**changes):
    return {"number": "N1", "status": "signed", "expires_on": "2026-09-09", "first_dispense_by": "2026-09-09"} | changes


def refused(type_, call, *args):
    with pytest.raises(DispenseRefused) as info:
        call(*args)
    assert info.value.type == type_, info.value.message
    return info.value


def test_prescription_states_that_cannot_be_dispensed():
    today = date(2026, 3, 10)
    assert dispensable_problem(prescription(), [state()], today) is None
    assert dispensable_problem(prescription(status="cancelled"), [state()], today).type == "prescription_cancelled"
    assert dispensable_problem(prescription(status="draft"), [state()], today).type == "prescription_not_signed"
    assert (
        dispensable_problem(prescription(status="dispensed"), [state()], today).type == "prescription_fully_dispensed"
    )
    done = state(supplies_done=3)
    assert dispensable_problem(prescription(), [done], today).type == "prescription_fully_dispensed"
    assert dispensable_problem(prescription(expires_on="2026-03-09"), [state()], today).type == "prescription_expired"
    assert dispensable_problem(prescription(expires_on="2026-03-10"), [state()], today) is None  # last valid day
    late_first = prescription(first_dispense_by="2026-03-01")
    assert dispensable_problem(late_first, [state()], today).type == "prescription_expired"
    assert dispensable_problem(late_first, [state(supplies_done=1)], today) is None  # already started
    post_dated = prescription(appropriate_date="2026-03-17")  # issue 14.2: a start date a week ahead
    assert dispensable_problem(post_dated, [state()], today).type == "prescription_not_yet_valid"
    assert dispensable_problem(post_dated, [state()], date(2026, 3, 17)) is None


def test_part_supply_leaves_an_owing_then_completes():
    first = plan_supply(state(), Decimal(14), NOW)
    assert (first.supply_number, first.part, first.owing) == (1, 1, Decimal(7))
    assert first.item.current_supplied == 14 and first.item.supplies_done == 0 and first.item.last_supply_at == NOW
    later = NOW + timedelta(days=2)
    second = plan_supply(first.item, Decimal(7), later)
    assert (second.supply_number, second.part, second.owing) == (1, 2, Decimal(0))
    assert second.item.supplies_done == 1 and second.item.current_supplied == 0
    assert second.item.last_supply_at == NOW  # the interval counts from when the supply began
    refused("quantity_exceeds_remaining", plan_supply, first.item, Decimal(10), later)


def test_repeats_wait_for_their_interval_and_run_out():
    once = plan_supply(state(), Decimal(21), NOW).item
    refused("repeat_too_early", plan_supply, once, Decimal(21), NOW + timedelta(days=6, hours=23))
    twice = plan_supply(once, Decimal(21), NOW + timedelta(days=7)).item
    thrice = plan_supply(twice, Decimal(21), NOW + timedelta(days=14)).item
    assert thrice.complete
    refused("item_fully_dispensed", plan_supply, thrice, Decimal(1), NOW + timedelta(days=30))


def test_pack_tolerance_for_ordinary_items_only():
    assert plan_supply(state(), Decimal(23), NOW).item.supplies_done == 1  # 21 + 10 % to complete a pack
    refused("quantity_exceeds_remaining", plan_supply, state(), Decimal(24), NOW)
    refused("quantity_exceeds_remaining", plan_supply, state(controlled=True), Decimal(22), NOW)
    refused("general_argument_invalid", plan_supply, state(), Decimal(0), NOW)


def test_record_ids_collide_for_the_same_supply_part_and_status():
    assert record_id("item-1", 1, 1) == record_id("item-1", 1, 1) != record_id("item-1", 1, 2)
    assert len(record_id("x", 1, 1)) == 32
    assert status_after([state(supplies_done=3), state(supplies_done=1)]) == "partially_dispensed"
    assert status_after([state(supplies_done=3)]) == "dispensed"
