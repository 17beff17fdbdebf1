"""The requests token-management takes (their JSON Schemas are in docs/functions/token-management.md)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from rxcore.actions import IdempotencyKey, RequestModel, RowId, text

Kind = Literal["credit", "debit", "refund", "reversal", "adjustment", "expiry"]
Currency = Literal["gbp", "aud", "usd"]


class WalletRef(RequestModel):
    """Your own wallet, or a clinic's shared pool (its owners and admins; a member sees their own spend)."""

    clinic_id: RowId | None = Field(None, description="the clinic's pool; your own wallet when absent")


class Window(RequestModel):
    """A date range, `from` inclusive and `to` exclusive (UTC days)."""

    clinic_id: RowId | None = None
    from_: date | None = Field(None, alias="from")
    to: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.from_ and self.to and self.to <= self.from_:
            raise ValueError("`to` must be after `from`")
        return self


class History(Window):
    """A page of the ledger, newest first; `cursor` is the last entry id of the page before."""

    kinds: list[Kind] | None = Field(None, max_length=6)
    member_id: RowId | None = Field(None, description="clinic admins: one member's entries")
    cursor: RowId | None = None
    limit: int = Field(25, ge=1, le=100)


class Analytics(Window):
    """Spend per period, per prescriber, per medicine category; burn rate and days left."""

    granularity: Literal["day", "week", "month"] = "day"


class Export(Window):
    """The ledger in the range as CSV."""


class Adjust(RequestModel):
    """Add or take tokens by hand, with a reason (platform admins; audited)."""

    clinic_id: RowId | None = Field(None, description="a clinic's pool ...")
    prescriber_id: RowId | None = Field(None, description="... or a prescriber's own wallet (exactly one)")
    amount: int = Field(ge=-1_000_000, le=1_000_000, description="tokens, + to add, - to take; not 0")
    reason: text(200)
    idempotency_key: IdempotencyKey

    @model_validator(mode="after")
    def _one_wallet(self) -> Adjust:
        if (self.clinic_id is None) == (self.prescriber_id is None):
            raise ValueError("give exactly one of `clinicId` and `prescriberId`")
        if self.amount == 0:
            raise ValueError("`amount` must not be 0")
        return self


class SetCap(RequestModel):
    """Cap a member's monthly spend from the clinic's pool (clinic owners and admins); null removes the cap."""

    clinic_id: RowId
    member_id: RowId
    monthly_cap: int | None = Field(ge=0, le=10_000_000)


class AutoTopUp(RequestModel):
    enabled: bool
    threshold: int = Field(0, ge=0, le=10_000_000, description="top up when a charge leaves fewer tokens than this")
    plan_id: RowId | None = Field(None, description="the token pack to buy")
    currency: Currency = "gbp"
    payment_method_id: text(64) | None = Field(None, description="a saved card, charged off-session")

    @model_validator(mode="after")
    def _complete(self) -> AutoTopUp:
        if self.enabled and not (self.threshold and self.plan_id and self.payment_method_id):
            raise ValueError("auto top-up needs `threshold`, `planId` and `paymentMethodId`")
        return self


class Configure(RequestModel):
    """Warnings, auto top-up and (a clinic's) overdraft for a wallet; fields left out stay as they are."""

    clinic_id: RowId | None = None
    low_balance_threshold: int | None = Field(None, ge=0, le=10_000_000)
    auto_top_up: AutoTopUp | None = None
    overdraft_limit: int | None = Field(None, ge=0, le=10_000_000)


class PricingRef(RequestModel):
    """The pricing a clinic's prescriptions use (the platform default when it has none of its own)."""

    clinic_id: RowId | None = None


class SetPricing(RequestModel):
    """Set the platform's default pricing, or one clinic's (platform admins)."""

    clinic_id: RowId | None = Field(None, description="this clinic's own row; the default when absent")
    base_per_item: int = Field(ge=0, le=1_000_000)
    controlled_surcharge: int = Field(ge=0, le=1_000_000)
    repeat_discount_percent: int = Field(0, ge=0, le=100)
    active: bool = True
