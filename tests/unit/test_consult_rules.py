"""Consultation rules apart from I/O: slots across DST changes, overlaps, transitions, prices, refunds, reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from rxcore.consult import rules
from rxcore.consult.schedule import Pattern, expand, in_zone, local_instant, overlapping, zone

MON_TO_FRI = frozenset(range(5))


def _pattern(**overrides) -> Pattern:
    base = dict(first_day=date(2026, 3, 23), last_day=date(2026, 4, 3), weekdays=MON_TO_FRI, start=time(9),
                end=time(10), minutes=30, zone="Europe/London")  # fmt: skip
    return Pattern(**(base | overrides))


def test_a_fortnight_across_the_uk_spring_change_keeps_local_times_and_moves_utc():
    slots = expand(_pattern())
    assert len(slots) == 10 * 2  # ten weekdays, two 30-minute slots each
    before, after = slots[0][0], slots[-2][0]  # Mon 23 March (GMT) and Fri 3 April (BST)
    assert (before.hour, after.hour) == (9, 8), "09:00 local is 09:00 UTC before 29 March and 08:00 UTC after"
    assert {in_zone(s, "Europe/London")[11:16] for s, _ in slots} == {"09:00", "09:30"}


def test_brisbane_has_no_dst_and_sydney_does():
    brisbane = expand(_pattern(zone="Australia/Brisbane", first_day=date(2026, 4, 1), last_day=date(2026, 4, 9)))
    assert {s.hour for s, _ in brisbane} == {23}  # 09:00 AEST (UTC+10), both sides of Sydney's change on 5 April
    sydney = expand(_pattern(zone="Australia/Sydney", first_day=date(2026, 4, 1), last_day=date(2026, 4, 9)))
    assert {s.hour for s, _ in sydney} == {22, 23}  # +11 until 5 April, +10 after


def test_the_skipped_hour_makes_no_slot_and_the_repeated_hour_one():
    tz = zone("Europe/London")
    assert local_instant(date(2026, 3, 29), time(1, 30), tz) is None  # 01:00–02:00 does not exist that night
    assert local_instant(date(2026, 10, 25), time(1, 30), tz) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    night = _pattern(first_day=date(2026, 3, 29), last_day=date(2026, 3, 29), weekdays=frozenset({6}),
                     start=time(0), end=time(3))  # fmt: skip
    assert [in_zone(s, "Europe/London")[11:16] for s, _ in expand(night)] == ["00:00", "00:30", "02:00", "02:30"]


def test_breaks_are_left_out_and_bad_patterns_are_refused():
    slots = expand(_pattern(end=time(12), breaks=((time(10, 30), time(11)),), last_day=date(2026, 3, 23)))
    assert [in_zone(s, "Europe/London")[11:16] for s, _ in slots] == ["09:00", "09:30", "10:00", "11:00", "11:30"]
    for bad in (dict(minutes=20), dict(end=time(9)), dict(last_day=date(2026, 3, 1)), dict(zone="Mars/Olympus"),
                dict(last_day=date(2026, 12, 31))):  # fmt: skip
        with pytest.raises(ValueError):
            expand(_pattern(**bad))
    with pytest.raises(ValueError, match="at most 90"):
        expand(_pattern(start=time(9), end=time(17), minutes=15, last_day=date(2026, 3, 27)))  # 5 × 32


def test_overlapping_finds_the_first_clash():
    at = datetime(2026, 5, 1, 9, tzinfo=UTC)
    half = timedelta(minutes=30)
    assert overlapping([(at, at + half), (at + half, at + 2 * half)]) is None
    assert overlapping([(at + timedelta(minutes=15), at + timedelta(minutes=30)), (at, at + half)]) == (
        at + timedelta(minutes=15), at + timedelta(minutes=30))  # fmt: skip


def test_only_the_right_person_moves_an_appointment_and_only_at_the_right_time():
    start = datetime(2026, 5, 1, 9, tzinfo=UTC)
    early, late = start - timedelta(hours=2), start + timedelta(minutes=5)
    rules.check_transition("booked", "completed", "doctor", start, late)
    rules.check_transition("pending", "cancelled_by_patient", "patient", start, early)
    refusals = [
        ("booked", "completed", "patient", late, "appointment_forbidden"),
        ("booked", "completed", "doctor", early, "appointment_transition_invalid"),
        ("booked", "cancelled_by_doctor", "doctor", late, "appointment_transition_invalid"),
        ("completed", "cancelled_by_patient", "patient", early, "appointment_transition_invalid"),
        ("pending", "booked", "patient", early, "appointment_forbidden"),
        ("payment_expired", "booked", "system", early, "appointment_transition_invalid"),
    ]
    for current, target, role, now, code in refusals:
        with pytest.raises(rules.TransitionRefused) as refused:
            rules.check_transition(current, target, role, start, now)
        assert refused.value.code == code, (current, target, role)


def test_prices_are_the_clinics_or_the_countrys_and_refunds_follow_the_cut_off():
    assert rules.locked_price(rules.fees_for(None, "AU"), False) == (8000, "new")
    assert rules.fees_for(None, "AU").currency == "aud"
    clinic = {"currency": "gbp", "new_patient_fee": 9000, "returning_patient_fee": 4500, "refund_cutoff_hours": 48}
    assert rules.locked_price(rules.fees_for(clinic, "UK"), True) == (4500, "returning")
    start = datetime(2026, 5, 3, 9, tzinfo=UTC)
    assert rules.refund_due("cancelled_by_patient", "booked", start, start - timedelta(hours=24), 24)
    assert not rules.refund_due("cancelled_by_patient", "booked", start, start - timedelta(hours=23), 24)
    assert rules.refund_due("cancelled_by_doctor", "booked", start, start - timedelta(minutes=5), 24)
    assert rules.refund_due("cancelled_by_patient", "pending", start, start - timedelta(minutes=5), 24)


def test_reminders_still_ahead():
    start = datetime(2026, 5, 3, 9, tzinfo=UTC)
    assert [label for label, _ in rules.reminder_times(start, start - timedelta(days=2))] == ["24h", "1h"]
    assert rules.reminder_times(start, start - timedelta(hours=3)) == [("1h", start - timedelta(hours=1))]
    assert rules.reminder_times(start, start - timedelta(minutes=30)) == []
