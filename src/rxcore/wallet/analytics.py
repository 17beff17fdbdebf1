"""Spend analytics over ledger entries (pure): what was spent per day, week or month, per prescriber, per medicine
category (controlled drugs or not), the burn rate and how many days the balance lasts at that rate.

Spend is what prescriptions cost less what cancelled prescriptions gave back (debits and refunds); purchases,
adjustments and reversals move the balance but are not spend."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

SPEND_KINDS = ("debit", "refund")
BURN_DAYS = 30


def period_of(day: date, granularity: str) -> str:
    if granularity == "month":
        return day.strftime("%Y-%m")
    if granularity == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


def _controlled_share(entry: dict[str, Any]) -> int:
    """Tokens of a spend entry that were for controlled drugs (a refund gives back its debit's share)."""
    detail = json.loads(entry.get("detail") or "{}")
    share = int(detail.get("controlledTokens") or 0)
    if entry["kind"] == "refund":
        share = -int(detail.get("refundedControlledTokens") or 0)
    return share


def summarise(
    entries: list[dict[str, Any]], granularity: str, today: date, balance: int | None, names: dict[str, str]
) -> dict[str, Any]:
    """Entries of one wallet (any order) → the analytics answer. `balance` None hides the forecast (a member
    looking at their own spend in a clinic pool)."""
    per_period: dict[str, int] = defaultdict(int)
    per_member: dict[str, dict[str, int]] = defaultdict(lambda: {"tokens": 0, "prescriptions": 0})
    controlled = 0
    total = 0
    recent = 0
    since = today - timedelta(days=BURN_DAYS)
    for entry in entries:
        if entry["kind"] not in SPEND_KINDS:
            continue
        spent = -int(entry["amount"])
        day = datetime.fromisoformat(entry["created_at"].replace("Z", "+00:00")).date()
        per_period[period_of(day, granularity)] += spent
        member = entry.get("member_id") or entry["actor_id"]
        per_member[member]["tokens"] += spent
        per_member[member]["prescriptions"] += 1 if entry["kind"] == "debit" else -1
        controlled += _controlled_share(entry)
        total += spent
        if day >= since:
            recent += spent
    burn = round(recent / BURN_DAYS, 2)
    forecast = None if balance is None or burn <= 0 else int(max(balance, 0) / burn)
    return {
        "granularity": granularity,
        "spend": [{"period": p, "tokens": t} for p, t in sorted(per_period.items())],
        "byPrescriber": [
            {"memberId": m, "name": names.get(m), **v}
            for m, v in sorted(per_member.items(), key=lambda kv: -kv[1]["tokens"])
        ],
        "byCategory": {"controlled": controlled, "other": total - controlled},
        "totalSpent": total,
        "burnRatePerDay": burn,
        "balance": balance,
        "forecastDaysLeft": forecast,
    }
