"""The pure parts of notification-send: quiet hours in the recipient's zone, what the delivery log shows of an
address, and which deliveries are suppressed, deferred or sent at once."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from rxcore.notify import preferences
from rxcore.notify.recipients import Recipient, masked
from rxcore.notify.service import _decide
from rxcore.notify.types import TYPES

LONDON = ZoneInfo("Europe/London")
NIGHT = preferences.Preferences(quiet_start=time(22, 0), quiet_end=time(7, 0))


@pytest.mark.parametrize(
    ("utc", "until"),
    [
        (datetime(2026, 12, 4, 21, 59, tzinfo=UTC), None),  # 21:59 in London (GMT): not yet quiet
        (datetime(2026, 12, 4, 23, 30, tzinfo=UTC), datetime(2026, 12, 5, 7, 0, tzinfo=UTC)),
        (datetime(2026, 12, 5, 6, 59, tzinfo=UTC), datetime(2026, 12, 5, 7, 0, tzinfo=UTC)),
        (datetime(2026, 7, 4, 21, 30, tzinfo=UTC), datetime(2026, 7, 5, 6, 0, tzinfo=UTC)),  # 22:30 BST → 07:00 BST
        (datetime(2026, 12, 5, 7, 0, tzinfo=UTC), None),
    ],
)
def test_quiet_hours_are_the_recipients_own_and_cross_midnight(utc, until):
    assert preferences.quiet_until(NIGHT, utc, LONDON) == until


def test_quiet_hours_follow_a_zone_the_recipient_chose():
    melbourne = preferences.Preferences(quiet_start=time(21, 0), quiet_end=time(8, 0), timezone="Australia/Melbourne")
    noon_utc = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # 23:00 in Melbourne (AEDT)
    assert preferences.quiet_until(melbourne, noon_utc, LONDON) == datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
    assert preferences.quiet_until(preferences.Preferences(), noon_utc, LONDON) is None


def test_the_log_masks_addresses():
    assert masked("jane.doe@example.test") == "j***@example.test"
    assert masked("+447400123456") == "+44*******456"
    assert masked(None) is None


def recipient(email="a@example.test", phone="+447400123456") -> Recipient:
    return Recipient("patient", "p1", "Ann", email, phone, LONDON, None)


def test_which_deliveries_go_now_wait_or_are_suppressed():
    ready, now = TYPES["prescription.ready"], datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert _decide(ready, preferences.Preferences(), "sms", recipient(), now) == ("queued", now, None)
    assert _decide(ready, preferences.Preferences(sms=False), "sms", recipient(), now)[0::2] == (
        "suppressed",
        "opted out",
    )
    muted = preferences.Preferences(muted_types=frozenset({"prescription.ready"}))
    assert _decide(ready, muted, "email", recipient(), now)[0] == "suppressed"
    assert _decide(ready, preferences.Preferences(), "email", recipient(email=None), now)[0] == "suppressed"
    late = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)
    assert _decide(ready, NIGHT, "email", recipient(), late) == (
        "deferred", datetime(2026, 12, 5, 7, 0, tzinfo=UTC), "quiet hours")  # fmt: skip


def test_unsubscribe_links_are_signed_for_one_recipient():
    from rxcore.notify import unsubscribe

    value = unsubscribe.token("secret", "patient", "p1")
    assert unsubscribe.subject_of("secret", value) == ("patient", "p1")
    assert unsubscribe.subject_of("other secret", value) is None
    encoded, _, mac = value.partition(".")
    other = unsubscribe.token("secret", "patient", "p2").partition(".")[0]
    assert unsubscribe.subject_of("secret", f"{other}.{mac}") is None  # someone else's id with this signature
    assert unsubscribe.subject_of("secret", "garbage") is None
    assert unsubscribe.link("", "secret", "user", "u1") is None  # no public URL: no link
