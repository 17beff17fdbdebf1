"""The controlled-drug report's checks (issue 14.19): pure, over rows as stored."""

from __future__ import annotations

from rxcore.prescribing.cd_report import checks

UK = {"country": "UK", "appropriate_date": "2026-03-01", "expires_on": "2026-03-28", "authority_number": None}
MORPHINE = {"schedule": "2", "quantity": 56, "quantity_words": "fifty-six", "repeats": 0, "days_supply": 28,
            "supplies_allowed": 1}  # fmt: skip


def supply(day: str, quantity: float) -> dict:
    return {"dispensed_at": f"{day}T10:00:00.000+00:00", "quantity": quantity}


def test_a_compliant_item_passes_every_check():
    assert checks(UK, MORPHINE, [supply("2026-03-02", 56)]) == []


def test_each_rule_names_what_is_wrong():
    bad = MORPHINE | {"quantity_words": None, "repeats": 1, "days_supply": 45}
    assert checks(UK, bad, []) == [
        "no total quantity in words",
        "Schedule 2 on a repeatable prescription",
        "45 days' supply (more than 30)",
    ]
    assert checks(UK, MORPHINE, [supply("2026-02-28", 10), supply("2026-03-29", 10)]) == [
        "supplied on 2026-02-28, outside 2026-03-01 to 2026-03-28",
        "supplied on 2026-03-29, outside 2026-03-01 to 2026-03-28",
    ]
    assert checks(UK, MORPHINE, [supply("2026-03-02", 56), supply("2026-03-03", 1)]) == ["supplied 57 of 56 allowed"]
    s8 = {"schedule": "S8", "quantity": 25, "repeats": 2, "supplies_allowed": 3}
    au = {"country": "AU", "appropriate_date": "2026-03-01", "expires_on": "2026-09-01", "authority_number": None}
    assert checks(au, s8, []) == ["S8 without an authority or approval number"]
    assert checks(au | {"authority_number": "VIC-1"}, s8, []) == []
