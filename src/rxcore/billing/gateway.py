"""Stripe through the official `stripe` package, and nothing else of Stripe's outside this module.

What the rest of billing needs from a payment is its state now (`IntentState`), read back from Stripe whenever a
decision depends on it, so that webhook deliveries arriving twice or out of order all decide on the same facts.
Every POST carries a deterministic idempotency key, so a retried execution never creates a second charge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import stripe

from rxcore.errors import NotConfigured, PaymentRequired, ServiceError
from rxcore.settings import BillingSettings


@dataclass(frozen=True)
class IntentState:
    id: str
    status: str  # Stripe's: requires_payment_method, requires_action, processing, succeeded, canceled ...
    amount: int
    currency: str
    amount_refunded: int
    customer: str | None
    client_secret: str | None
    last_error: str | None
    metadata: dict[str, str] = field(default_factory=dict)


def _state(intent: Any) -> IntentState:
    data = intent.to_dict() if hasattr(intent, "to_dict") else dict(intent)
    charge = data.get("latest_charge")
    refunded = int(charge.get("amount_refunded") or 0) if isinstance(charge, dict) else 0
    error = data.get("last_payment_error") or {}
    return IntentState(
        id=data["id"],
        status=data["status"],
        amount=int(data["amount"]),
        currency=str(data["currency"]).lower(),
        amount_refunded=refunded,
        customer=data.get("customer") if isinstance(data.get("customer"), str) else None,
        client_secret=data.get("client_secret"),
        last_error=(error.get("message") or error.get("code")) if isinstance(error, dict) else None,
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
    )


class Gateway:
    def __init__(self, settings: BillingSettings):
        key = settings.stripe_secret_key.get_secret_value()
        if not key:
            raise NotConfigured("billing_not_configured", "STRIPE_SECRET_KEY is not set for this function.")
        options: dict[str, Any] = {"max_network_retries": 2}
        if settings.stripe_api_base:
            options["base_addresses"] = {"api": settings.stripe_api_base}
        self.client = stripe.StripeClient(key, **options)

    def _call(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except stripe.CardError as exc:
            raise PaymentRequired("billing_card_declined", exc.user_message or "The card was declined.") from None
        except stripe.InvalidRequestError as exc:
            raise ServiceError(
                400, "billing_request_invalid", f"Stripe refused the request: {exc.user_message}"
            ) from None
        except stripe.StripeError:
            raise ServiceError(502, "billing_provider_unavailable", "Stripe could not be reached; try again.") from None

    def create_customer(self, name: str, metadata: dict[str, str], key: str) -> str:
        params = {"name": name[:200], "metadata": metadata}
        customer = self._call(self.client.v1.customers.create, params=params, options={"idempotency_key": key})
        return customer.id

    def create_intent(
        self, amount: int, currency: str, customer: str, metadata: dict[str, str], method: str | None, key: str
    ) -> IntentState:
        params: dict[str, Any] = {"amount": amount, "currency": currency, "customer": customer, "metadata": metadata}
        if method:
            params |= {"payment_method": method, "confirm": True}
        intent = self._call(self.client.v1.payment_intents.create, params=params, options={"idempotency_key": key})
        return self.intent(intent.id) if method else _state(intent)

    def intent(self, intent_id: str) -> IntentState:
        """The payment as Stripe has it now, with its charge (for what has been refunded)."""
        read = self.client.v1.payment_intents.retrieve
        return _state(self._call(read, intent_id, params={"expand": ["latest_charge"]}))

    def refund(self, intent_id: str, amount: int, key: str) -> str:
        params = {"payment_intent": intent_id, "amount": amount}
        refund = self._call(self.client.v1.refunds.create, params=params, options={"idempotency_key": key})
        return refund.id


def verified_event(payload: bytes, signature: str, secret: str) -> dict[str, Any]:
    """The event if `signature` is Stripe's over these exact bytes and at most 5 minutes old; else ValueError."""
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance=300)
    except (stripe.SignatureVerificationError, ValueError) as exc:  # a bad signature, or signed bytes not JSON
        raise ValueError(str(exc) or "invalid payload") from None
    return event.to_dict()
