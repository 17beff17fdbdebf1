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


def stripe_id(value: Any) -> str | None:
    """The id of a field Stripe sends as an id or, when expanded, as the object."""
    return value if isinstance(value, str) else (value or {}).get("id")


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
        customer=stripe_id(data.get("customer")),
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
        self,
        amount: int,
        currency: str,
        customer: str,
        metadata: dict[str, str],
        method: str | None,
        key: str,
        off_session: bool = False,
    ) -> IntentState:
        params: dict[str, Any] = {"amount": amount, "currency": currency, "customer": customer, "metadata": metadata}
        if method:
            params |= {"payment_method": method, "confirm": True}
        if method and off_session:
            params["off_session"] = True
        intent = self._call(self.client.v1.payment_intents.create, params=params, options={"idempotency_key": key})
        return self.intent(intent.id) if method else _state(intent)

    def intent(self, intent_id: str) -> IntentState:
        """The payment as Stripe has it now, with its charge (for what has been refunded)."""
        read = self.client.v1.payment_intents.retrieve
        return _state(self._call(read, intent_id, params={"expand": ["latest_charge"]}))

    def cancel_intent(self, intent_id: str) -> None:
        self._call(self.client.v1.payment_intents.cancel, intent_id)

    def discard(self, state: IntentState) -> None:
        """Undo an intent made twice for one payment: cancelled, or refunded in full if it was already charged."""
        if state.status == "succeeded":
            self.refund(state.id, state.amount, key=f"discard:{state.id}")
        elif state.status != "canceled":
            self.cancel_intent(state.id)

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


@dataclass(frozen=True)
class InvoiceState:
    id: str
    status: str  # draft, open, paid, uncollectible, void
    subscription: str | None
    customer: str | None
    currency: str
    amount_paid: int
    period_start: int | None
    period_end: int | None
    payment_intent: str | None = None  # what paid it: refunds of it arrive about this intent


def _invoice_intent(data: dict[str, Any]) -> str | None:
    """The PaymentIntent that paid an invoice: `payment_intent` in older API versions (and localstripe), the
    invoice's `payments` list since 2025-03-31."""
    direct = stripe_id(data.get("payment_intent"))
    if direct:
        return direct
    for item in ((data.get("payments") or {}).get("data")) or []:
        found = stripe_id((item.get("payment") or {}).get("payment_intent"))
        if found:
            return found
    return None


@dataclass(frozen=True)
class SubscriptionState:
    id: str
    status: str  # active, past_due, canceled, incomplete ...
    customer: str | None
    cancel_at_period_end: bool
    current_period_end: int | None
    latest_invoice: str | None
    metadata: dict[str, str] = field(default_factory=dict)


def _invoice_state(invoice: Any) -> InvoiceState:
    data = invoice.to_dict()
    lines = (data.get("lines") or {}).get("data") or [{}]
    period = lines[0].get("period") or {}
    return InvoiceState(
        id=data["id"],
        status=data["status"],
        subscription=stripe_id(data.get("subscription")),
        customer=stripe_id(data.get("customer")),
        currency=str(data.get("currency", "")).lower(),
        amount_paid=int(data.get("amount_paid") or 0),
        period_start=period.get("start") or data.get("period_start"),
        period_end=period.get("end") or data.get("period_end"),
        payment_intent=_invoice_intent(data),
    )


def _subscription_state(subscription: Any) -> SubscriptionState:
    data = subscription.to_dict()
    items = (data.get("items") or {}).get("data") or [{}]
    return SubscriptionState(
        id=data["id"],
        status=data["status"],
        customer=stripe_id(data.get("customer")),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        current_period_end=data.get("current_period_end") or items[0].get("current_period_end"),
        latest_invoice=stripe_id(data.get("latest_invoice")),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
    )


class SubscriptionGateway(Gateway):
    """Plans, default payment methods and subscriptions (Stripe Plans: localstripe has no Prices)."""

    def ensure_plan(self, plan_id: str, name: str, amount: int, currency: str, interval: str) -> str:
        """The Stripe plan for one of our plans in one currency (`rx-<plan>-<currency>`), made on first use."""
        stripe_id = f"rx-{plan_id}-{currency}"
        try:
            self.client.v1.plans.retrieve(stripe_id)
            return stripe_id
        except stripe.InvalidRequestError:
            pass
        product = self._call(self.client.v1.products.create, params={"name": name[:200]})
        params = {"id": stripe_id, "product": product.id, "amount": amount, "currency": currency, "interval": interval}
        try:
            self._call(self.client.v1.plans.create, params=params)
        except ServiceError:
            self.client.v1.plans.retrieve(stripe_id)  # made by a concurrent subscriber; anything else raises
        return stripe_id

    def set_default_method(self, customer: str, method: str) -> None:
        attached = self._call(self.client.v1.payment_methods.attach, method, params={"customer": customer})
        settings = {"invoice_settings": {"default_payment_method": attached.id}}
        self._call(self.client.v1.customers.update, customer, params=settings)

    def subscribe(self, customer: str, stripe_plan: str, metadata: dict[str, str], key: str) -> SubscriptionState:
        params = {"customer": customer, "items": [{"plan": stripe_plan}], "metadata": metadata}
        created = self._call(self.client.v1.subscriptions.create, params=params, options={"idempotency_key": key})
        return _subscription_state(created)

    def subscription(self, subscription_id: str) -> SubscriptionState:
        return _subscription_state(self._call(self.client.v1.subscriptions.retrieve, subscription_id))

    def cancel_at_period_end(self, subscription_id: str) -> SubscriptionState:
        update = self.client.v1.subscriptions.update
        return _subscription_state(self._call(update, subscription_id, params={"cancel_at_period_end": True}))

    def invoice(self, invoice_id: str) -> InvoiceState:
        return _invoice_state(self._call(self.client.v1.invoices.retrieve, invoice_id))
