"""The appointment's rules, apart from any I/O: who may move it from which status to which, what it costs, what a
cancellation refunds and when reminders go.

    pending ──paid──▶ booked ──▶ completed | no_show            (the doctor, once the consultation has started)
       │                │
       ├──▶ payment_expired (the system: unpaid after the hold)
       └──▶ cancelled_by_patient | cancelled_by_doctor  ◀──┘   (either side, before it starts)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

HOLD = timedelta(minutes=15)  # how long an unpaid booking keeps its slot
ARCHIVE_AFTER = timedelta(days=30)  # a closed room is archived this long after the appointment ends
REMINDERS = (timedelta(hours=24), timedelta(hours=1))
OCCUPYING = ("pending", "booked")
ENDED = ("completed", "no_show", "cancelled_by_patient", "cancelled_by_doctor", "payment_expired")
RETURNING = ("completed", "no_show")  # a patient with any of these, with any doctor, pays the returning fee

# (from, to) -> who may make the change
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("pending", "booked"): frozenset({"system"}),
    ("pending", "payment_expired"): frozenset({"system"}),
    ("pending", "cancelled_by_patient"): frozenset({"patient"}),
    ("pending", "cancelled_by_doctor"): frozenset({"doctor", "admin"}),
    ("booked", "completed"): frozenset({"doctor"}),
    ("booked", "no_show"): frozenset({"doctor"}),
    ("booked", "cancelled_by_patient"): frozenset({"patient"}),
    ("booked", "cancelled_by_doctor"): frozenset({"doctor", "admin"}),
}
DEFAULT_FEES = {"UK": ("gbp", 8000, 5000), "AU": ("aud", 8000, 5000)}  # currency, new, returning (minor units)
DEFAULT_REFUND_CUTOFF_HOURS = 24


class TransitionRefused(Exception):
    def __init__(self, message: str, code: str = "appointment_transition_invalid"):
        super().__init__(message)
        self.code = code


def check_transition(current: str, target: str, role: str, starts_at: datetime, now: datetime) -> None:
    """Raise TransitionRefused unless `role` may move an appointment from `current` to `target` now."""
    allowed = TRANSITIONS.get((current, target))
    if allowed is None:
        raise TransitionRefused(f"An appointment that is {current} cannot become {target}.")
    if role not in allowed:
        raise TransitionRefused(
            f"Only the {' or '.join(sorted(allowed))} may make it {target}.", "appointment_forbidden"
        )
    if target in ("completed", "no_show") and now < starts_at:
        raise TransitionRefused(f"It can be marked {target} once it has started.")
    if target.startswith("cancelled") and now >= starts_at:
        raise TransitionRefused("It has already started: mark it completed or a no-show instead.")


@dataclass(frozen=True)
class Fees:
    currency: str
    new_patient: int
    returning_patient: int
    refund_cutoff_hours: int = DEFAULT_REFUND_CUTOFF_HOURS


def fees_for(row: dict | None, country: str) -> Fees:
    """The clinic's fees (its `consult_fees` row), else the platform's defaults for its country."""
    if row is not None:
        return Fees(row["currency"], row["new_patient_fee"], row["returning_patient_fee"], row["refund_cutoff_hours"])
    currency, new, returning = DEFAULT_FEES.get(country, DEFAULT_FEES["UK"])
    return Fees(currency, new, returning)


def locked_price(fees: Fees, returning: bool) -> tuple[int, str]:
    """What this booking costs, fixed when it is made: (minor units, "new" | "returning")."""
    return (fees.returning_patient, "returning") if returning else (fees.new_patient, "new")


def refund_due(target: str, current: str, starts_at: datetime, now: datetime, cutoff_hours: int) -> bool:
    """Whether cancelling gives the money back: always when the doctor cancels or nothing was paid yet (the
    order, if any, is cancelled); for the patient, when they cancel at least `cutoff_hours` before the start."""
    if target != "cancelled_by_patient" or current == "pending":
        return True
    return starts_at - now >= timedelta(hours=cutoff_hours)


def reminder_times(starts_at: datetime, now: datetime) -> list[tuple[str, datetime]]:
    """The reminders still ahead: ("24h", when), ("1h", when)."""
    out = []
    for before in REMINDERS:
        at = starts_at - before
        if at > now:
            out.append((f"{int(before.total_seconds() // 3600)}h", at))
    return out
