"""Dispensing rules, pure: whether a prescription may be dispensed now, and what a supply changes.

Each item is supplied `1 + repeats` times. A supply may come in parts: when stock is short the pharmacist
supplies part and the rest is owed, completed later within the prescription's validity. A repeat may not
start before its interval has passed since the previous supply began. For a non-controlled item the last part
may exceed the owed quantity by up to 10 % so that a whole pack can be supplied (HMR 2012 reg 217B)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from rxcore.errors import ServiceError
from rxcore.ids import derived_id

PACK_TOLERANCE = Decimal("0.10")
DISPENSABLE = ("signed", "partially_dispensed")


class DispenseRefused(ServiceError):
    """A dispense the rules or the prescription's state refuse (400 or 409, with a specific type)."""


@dataclass(frozen=True)
class ItemState:
    """What dispensing needs of a `prescription_items` row."""

    id: str
    line: int
    name: str
    quantity: Decimal
    unit: str
    supplies_allowed: int
    supplies_done: int
    current_supplied: Decimal  # of the supply in progress; 0 when none is open
    current_parts: int
    last_supply_at: datetime | None
    min_interval_days: int
    controlled: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ItemState:
        last = row.get("last_supply_at")
        return cls(
            id=row["$id"],
            line=row["line"],
            name=row["name"],
            quantity=Decimal(str(row["quantity"])),
            unit=row["unit"],
            supplies_allowed=row["supplies_allowed"],
            supplies_done=row["supplies_done"],
            current_supplied=Decimal(str(row.get("current_supplied") or 0)),
            current_parts=row.get("current_parts") or 0,
            last_supply_at=datetime.fromisoformat(last) if last else None,
            min_interval_days=row.get("min_interval_days") or 0,
            controlled=bool(row.get("controlled")),
        )

    @property
    def complete(self) -> bool:
        return self.supplies_done >= self.supplies_allowed

    @property
    def owing(self) -> Decimal:
        return self.quantity - self.current_supplied if self.current_supplied else Decimal(0)


def dispensable_problem(prescription: dict[str, Any], items: list[ItemState], today: date) -> DispenseRefused | None:
    """Why the prescription cannot be dispensed today, or None."""
    status = prescription["status"]
    number = prescription["number"]
    if status == "cancelled":
        return DispenseRefused(409, "prescription_cancelled", f"Prescription {number} was cancelled.")
    if status == "draft":
        return DispenseRefused(409, "prescription_not_signed", f"Prescription {number} has not been signed.")
    if status == "dispensed" or (items and all(item.complete for item in items)):
        return DispenseRefused(409, "prescription_fully_dispensed", f"Prescription {number} is fully dispensed.")
    appropriate = prescription.get("appropriate_date")
    if appropriate and today < date.fromisoformat(appropriate):
        # Post-dated (a start date ahead): nothing may be supplied before the date the prescriber chose, which is
        # also where a controlled drug's 28 days begin (HMR 2012 reg. 217; Misuse of Drugs Regulations 2001).
        return DispenseRefused(
            409, "prescription_not_yet_valid", f"Prescription {number} may not be dispensed before {appropriate}."
        )
    if status == "expired" or today > date.fromisoformat(prescription["expires_on"]):
        return DispenseRefused(
            409, "prescription_expired", f"Prescription {number} expired after {prescription['expires_on']}."
        )
    never_dispensed = all(item.supplies_done == 0 and not item.current_supplied for item in items)
    if never_dispensed and today > date.fromisoformat(prescription["first_dispense_by"]):
        return DispenseRefused(
            409,
            "prescription_expired",
            f"Prescription {number} had to be first dispensed by {prescription['first_dispense_by']}.",
        )
    return None


@dataclass(frozen=True)
class SupplyLine:
    item: ItemState  # the state after this supply
    record_id: str
    supply_number: int
    part: int
    quantity: Decimal
    owing: Decimal


def record_id(item_id: str, supply_number: int, part: int) -> str:
    """Deterministic per (item, supply, part): two pharmacists racing for the same supply create the same row id,
    so the second commit fails instead of supplying twice."""
    return derived_id(item_id, supply_number, part)


def plan_supply(item: ItemState, quantity: Decimal, now: datetime) -> SupplyLine:
    label = f"Item {item.line} ({item.name})"
    if quantity <= 0:
        raise DispenseRefused(400, "general_argument_invalid", f"{label}: the quantity must be above 0.")
    if item.current_supplied:
        remaining = item.owing
        supply_number, part = item.supplies_done + 1, item.current_parts + 1
        started = item.last_supply_at
    else:
        if item.complete:
            raise DispenseRefused(409, "item_fully_dispensed", f"{label} has no supplies left.")
        if item.supplies_done and item.last_supply_at and item.min_interval_days:
            earliest = item.last_supply_at + timedelta(days=item.min_interval_days)
            if now < earliest:
                raise DispenseRefused(
                    409,
                    "repeat_too_early",
                    f"{label}: the next supply is due from {earliest.date().isoformat()} "
                    f"({item.min_interval_days} days after the last one).",
                )
        remaining = item.quantity
        supply_number, part, started = item.supplies_done + 1, 1, now
    tolerance = Decimal(0) if item.controlled else (item.quantity * PACK_TOLERANCE)
    if quantity > remaining + tolerance:
        raise DispenseRefused(
            409,
            "quantity_exceeds_remaining",
            f"{label}: {quantity.normalize():f} {item.unit} asked, {remaining.normalize():f} left in this supply.",
        )
    supplied = item.current_supplied + quantity
    if supplied >= item.quantity:
        after = replace(
            item,
            supplies_done=item.supplies_done + 1,
            current_supplied=Decimal(0),
            current_parts=0,
            last_supply_at=started,
        )
        owing = Decimal(0)
    else:
        after = replace(item, current_supplied=supplied, current_parts=part, last_supply_at=started)
        owing = item.quantity - supplied
    return SupplyLine(after, record_id(item.id, supply_number, part), supply_number, part, quantity, owing)


def status_after(items: list[ItemState]) -> str:
    return "dispensed" if all(item.complete for item in items) else "partially_dispensed"
