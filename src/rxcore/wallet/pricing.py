"""What a prescription costs in tokens, from the admin-editable `token_pricing` table (pure apart from `load`).

A pricing row holds a base cost per item, a surcharge per controlled-drug item and a percentage off an item that
authorises repeats (one prescription standing in for several). The row for a clinic (its `clinic_id` set) wins over the
platform's `default`; with neither, prescribing costs nothing and no wallet is touched (token billing is switched
on by configuring prices, not by code). Each debit stores the breakdown and the pricing row it used."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appwrite.query import Query

from rxcore.ids import derived_id
from rxcore.tables import TableStore

TABLE = "token_pricing"
DEFAULT = "default"


def row_id_for(clinic_id: str | None) -> str:
    """`default`, or a clinic's own row (derived: ids are at most 36 characters, clinic ids up to 36 too)."""
    return derived_id("pricing", clinic_id) if clinic_id else DEFAULT


@dataclass(frozen=True)
class Pricing:
    source: str  # the row it came from: `default` or the clinic's row id
    base_per_item: int
    controlled_surcharge: int
    repeat_discount_percent: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Pricing:
        return cls(
            row["$id"],
            int(row["base_per_item"]),
            int(row["controlled_surcharge"]),
            int(row.get("repeat_discount_percent") or 0),
        )


@dataclass(frozen=True)
class ItemPrice:
    line: int
    controlled: bool
    repeats: int
    tokens: int


@dataclass(frozen=True)
class Quote:
    pricing: str | None
    items: tuple[ItemPrice, ...]

    @property
    def total(self) -> int:
        return sum(i.tokens for i in self.items)

    @property
    def controlled_tokens(self) -> int:
        return sum(i.tokens for i in self.items if i.controlled)

    def detail(self) -> dict[str, Any]:
        """What the debit entry records, for analytics and for anyone asking why it cost what it did."""
        return {
            "pricing": self.pricing,
            "items": len(self.items),
            "controlledItems": sum(1 for i in self.items if i.controlled),
            "controlledTokens": self.controlled_tokens,
        }


def item_price(pricing: Pricing, controlled: bool, repeats: int) -> int:
    """Base, plus the surcharge for a controlled drug, less the repeat discount (rounded down, never below 0)."""
    tokens = pricing.base_per_item + (pricing.controlled_surcharge if controlled else 0)
    if repeats > 0 and pricing.repeat_discount_percent:
        tokens -= tokens * pricing.repeat_discount_percent // 100
    return max(tokens, 0)


def quote(pricing: Pricing | None, items: list[tuple[int, bool, int]]) -> Quote:
    """The price of items given as (line, controlled, repeats); free (an empty quote) without pricing."""
    if pricing is None:
        return Quote(None, ())
    return Quote(pricing.source, tuple(ItemPrice(n, c, r, item_price(pricing, c, r)) for n, c, r in items))


def load(tables: TableStore, clinic_id: str) -> Pricing | None:
    """The pricing a clinic's prescriptions use: its own row, else the platform default, else none (free)."""
    wanted = [row_id_for(clinic_id), DEFAULT]
    rows = {r["$id"]: r for r in tables.list(TABLE, [Query.equal("$id", wanted), Query.limit(2)])}
    for row_id in wanted:
        row = rows.get(row_id)
        if row is not None and row.get("active", True):
            return Pricing.from_row(row)
    return None
