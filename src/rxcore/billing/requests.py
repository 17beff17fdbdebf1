"""The requests billing-process takes (their JSON Schemas are in docs/functions/billing-process.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from rxcore.actions import IdempotencyKey, RequestModel, RowId, text

Currency = Literal["gbp", "aud", "usd"]


class PurchaseTokens(RequestModel):
    """Buy a token pack for yourself (a prescriber) or for a clinic's shared pool (its owners and admins)."""

    plan_id: RowId = Field(description="a `billing_plans` row of kind token_pack")
    currency: Currency
    clinic_id: RowId | None = Field(None, description="buy for this clinic's pool; yourself when absent")
    payment_method_id: text(64) | None = Field(
        None, description="a saved payment method: charged at once; without it, answer a client secret for Stripe.js"
    )
    idempotency_key: IdempotencyKey = Field(description="chosen by the client per purchase; a retry answers the same")


class ListPlans(RequestModel):
    """The active plans and packs, with their price in one currency."""

    currency: Currency | None = None


class PaymentRef(RequestModel):
    """One payment, and its state now (re-read from Stripe)."""

    payment_id: RowId


class ReceiptRef(RequestModel):
    """The PDF receipt of a paid payment."""

    payment_id: RowId


class ListPayments(RequestModel):
    """Your payments, or a clinic's (its owners and admins), newest first."""

    clinic_id: RowId | None = None
    limit: int = Field(25, ge=1, le=100)


class RefundPayment(RequestModel):
    """Refund a payment in full or in part (platform admins); a token pack's tokens are taken back."""

    payment_id: RowId
    amount: int | None = Field(None, ge=1, description="minor units; the whole remainder when absent")
    reason: text(200)


class ConsultationOrder(RequestModel):
    """The order for your pending appointment (its price locked at booking) and the client secret for Stripe.js."""

    appointment_id: RowId


class RowEvent(RequestModel):
    """A row's create event: a `wallet_top_ups` row, or an `outbox` message (Appwrite sends it; callers cannot)."""

    event: text(300)
    payload: dict[str, Any]


class Sweep(RequestModel):
    """The schedule's execution (no body)."""
