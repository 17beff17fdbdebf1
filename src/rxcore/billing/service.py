"""billing-process: token packs paid through Stripe, refunds, and Stripe's signed webhooks on the function's
domain. Who pays: a prescriber for themself, or a clinic (its owners and admins) for the clinic's shared pool;
patients never. Money is only ever counted in minor units (integers). See docs/functions/billing-process.md."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from appwrite.query import Query

from rxcore import outbox
from rxcore.actions import Dispatcher
from rxcore.audit import Change, commit_with_audit
from rxcore.billing import orders, receipt, subscriptions, top_ups
from rxcore.billing.entities import BILLING_ROLES, Entity, billing_entity, ensure_customer
from rxcore.billing.gateway import Gateway, SubscriptionGateway, stripe_id, verified_event
from rxcore.billing.payments import charge, open_payment
from rxcore.billing.requests import (
    ConsultationOrder,
    ListPayments,
    ListPlans,
    PaymentRef,
    PurchaseTokens,
    ReceiptRef,
    RefundPayment,
    RowEvent,
    Sweep,
)
from rxcore.billing.settlement import Actor, record_event, settle
from rxcore.clock import iso
from rxcore.errors import BadRequest, Conflict, Forbidden, NotConfigured, NotFound, PaymentRequired
from rxcore.function_shell import FunctionRequest
from rxcore.identity import Caller, is_platform_admin, system_only
from rxcore.ids import derived_id
from rxcore.settings import BillingSettings
from rxcore.tables import Tables

actions = Dispatcher("billing-process", settings=BillingSettings, on_event="row_event", on_schedule="sweep_top_ups")
MAX_WEBHOOK_BYTES = 256 * 1024


def _public(payment: dict[str, Any]) -> dict[str, Any]:
    hidden = ("request_digest", "$permissions", "$databaseId", "$tableId", "$sequence")
    shown = {k: v for k, v in payment.items() if k not in hidden}
    shown["history"] = json.loads(payment.get("history") or "[]")
    return shown


# --- plans -------------------------------------------------------------------------------------------------------
@actions.action("list_plans", ListPlans)
def list_plans(c: Caller, params: ListPlans) -> dict[str, Any]:
    """The active plans and token packs, with their prices in minor units."""
    rows = c.tables.list("billing_plans", [Query.equal("active", True), Query.limit(100)])
    if params.currency:
        rows = [r for r in rows if r.get(f"amount_{params.currency}")]
    return {"plans": [{k: v for k, v in r.items() if not k.startswith("$") or k == "$id"} for r in rows]}


def _pack(c: Caller, params: PurchaseTokens, entity: Entity) -> tuple[dict[str, Any], int]:
    plan = c.tables.get("billing_plans", params.plan_id)
    if plan is None or not plan["active"] or plan["kind"] != "token_pack":
        raise NotFound("billing_plan_not_found", "No token pack on sale has this id.")
    if plan["entity_type"] not in ("any", entity.type):
        who = "a clinic" if plan["entity_type"] == "clinic" else "an individual prescriber"
        raise BadRequest("billing_plan_not_for_entity", f"This pack is sold to {who}.")
    amount = plan.get(f"amount_{params.currency}")
    if not isinstance(amount, int) or amount < 1:
        raise BadRequest("billing_currency_unavailable", f"This pack has no price in {params.currency.upper()}.")
    return plan, amount


# --- buying tokens -----------------------------------------------------------------------------------------------
@actions.action("purchase_tokens", PurchaseTokens)
def purchase_tokens(c: Caller, params: PurchaseTokens) -> dict[str, Any]:
    """Buy a token pack: charge a saved payment method at once, or answer a client secret for Stripe.js. The
    tokens are credited when Stripe says the payment succeeded (here, or by its webhook), once."""
    entity = billing_entity(c, params.clinic_id)
    plan, amount = _pack(c, params, entity)
    gateway = Gateway(c.settings)  # type: ignore[arg-type]
    payment_id = derived_id(c.user_id, params.idempotency_key)
    digest = hashlib.sha256(params.model_dump_json(exclude={"payment_method_id"}).encode()).hexdigest()
    payment = _payment_row(c, payment_id, digest, entity, plan, amount, params, gateway)
    metadata = {"payment_id": payment_id, "entity_type": entity.type, "entity_id": entity.id, "plan_id": plan["$id"]}
    actor = Actor(c.user_id, "payer", c.request.client_ip)
    try:
        settled, state = charge(c.tables, gateway, payment, metadata, params.payment_method_id, c.now_fresh, actor)
    except PaymentRequired:
        _declined(c, payment)
        raise
    awaiting = state.status in ("requires_payment_method", "requires_confirmation", "requires_action")
    return {
        "payment": _public(settled.get("payment") or payment),
        "clientSecret": state.client_secret if awaiting else None,
        "walletBalance": settled.get("walletBalance"),
    }


def _payment_row(
    c: Caller,
    payment_id: str,
    digest: str,
    entity: Entity,
    plan: dict[str, Any],
    amount: int,
    params: PurchaseTokens,
    gateway: Gateway,
) -> dict[str, Any]:
    """The payment this key stands for: the one made before (same request), or a new pending one."""
    existing = c.tables.get("billing_payments", payment_id)
    if existing is None:
        columns = {
            **entity.owner_columns(c.user_id),
            "kind": "token_pack",
            "plan_id": plan["$id"],
            "description": plan["name"][:200],
            "currency": params.currency,
            "amount": amount,
            "tokens": int(plan["tokens"]),
            "stripe_customer_id": ensure_customer(c, gateway, entity),
            "request_digest": digest,
        }
        event = c.event("payer", "payment.created", "payment", payment_id, entity.clinic_id, None, amount=amount)
        existing = open_payment(c.tables, payment_id, columns, entity.readers(), event, lambda: c.now)
    if existing["request_digest"] != digest:
        raise Conflict("idempotency_key_reused", "This idempotency key was used for a different purchase.")
    return existing


def _declined(c: Caller, payment: dict[str, Any]) -> None:
    """Record a declined card on a pending payment (the payer may try again with the same key)."""
    if payment["status"] != "pending":
        return
    history = json.loads(payment["history"]) + [{"at": iso(c.now), "event": "failed", "reason": "card declined"}]
    data = {"status": "failed", "history": json.dumps(history), "updated_at": iso(c.now)}
    c.tables.update("billing_payments", payment["$id"], data)


# --- reading payments --------------------------------------------------------------------------------------------
def _readable_payment(c: Caller, payment_id: str) -> dict[str, Any]:
    payment = c.tables.get("billing_payments", payment_id)
    if payment is not None and payment["entity_type"] == "clinic":
        try:
            c.clinic_member(payment["entity_id"], BILLING_ROLES)
            return payment
        except NotFound:
            pass
    elif payment is not None and payment["entity_id"] == c.user_id:
        return payment
    if payment is not None and is_platform_admin(c):
        return payment
    raise NotFound("billing_payment_not_found", "No payment of yours has this id.")


@actions.action("get_payment", PaymentRef)
def get_payment(c: Caller, params: PaymentRef) -> dict[str, Any]:
    """One payment, brought up to date from Stripe first (so a lost webhook delays nothing for long)."""
    payment = _readable_payment(c, params.payment_id)
    if payment.get("stripe_payment_intent_id"):
        state = Gateway(c.settings).intent(payment["stripe_payment_intent_id"])  # type: ignore[arg-type]
        payment = settle(c.tables, state, c.now_fresh, Actor(c.user_id, "reader", c.request.client_ip))["payment"]
    return {"payment": _public(payment)}


@actions.action("get_receipt", ReceiptRef)
def get_receipt(c: Caller, params: ReceiptRef) -> dict[str, Any]:
    """The PDF receipt of a paid payment (refunds shown), for the payer, the clinic's admins or platform admins."""
    payment = _readable_payment(c, params.payment_id)
    if payment["status"] not in ("succeeded", "partially_refunded", "refunded"):
        raise Conflict("billing_payment_not_paid", "A receipt is issued once the payment has succeeded.")
    if payment["entity_type"] == "clinic":
        billed_to = (c.tables.get("clinics", payment["entity_id"]) or {}).get("name", "the clinic")
    else:
        billed_to = (c.tables.get("practitioners", payment["entity_id"]) or {}).get("name", "the prescriber")
    settings: BillingSettings = c.settings  # type: ignore[assignment]
    pdf = receipt.render(payment, billed_to, settings.seller_name, settings.tax_name, settings.tax_rate_percent)
    event = c.event("payer", "payment.receipt_downloaded", "payment", payment["$id"], payment.get("clinic_id"), None)
    commit_with_audit(c.tables, lambda _tx: Change([], [event], None), lambda: c.now)
    name = f"receipt-{receipt.receipt_number(payment)}.pdf"
    return {"filename": name, "contentType": "application/pdf", "base64": base64.b64encode(pdf).decode()}


@actions.action("list_payments", ListPayments)
def list_payments(c: Caller, params: ListPayments) -> dict[str, Any]:
    """Your payments, or your clinic's, newest first."""
    entity = billing_entity(c, params.clinic_id) if params.clinic_id else Entity("individual", c.user_id, "")
    queries = [
        Query.equal("entity_type", entity.type),
        Query.equal("entity_id", entity.id),
        Query.order_desc("created_at"),
        Query.limit(params.limit),
    ]
    return {"payments": [_public(p) for p in c.tables.list("billing_payments", queries)]}


# --- refunds -----------------------------------------------------------------------------------------------------
@actions.action("refund", RefundPayment)
def refund(c: Caller, params: RefundPayment) -> dict[str, Any]:
    """Refund a payment in full or in part (platform admins); a token pack's tokens go back in proportion."""
    if not is_platform_admin(c):
        raise Forbidden("billing_admin_required", "Only a platform admin may refund a payment.")
    payment = c.tables.get("billing_payments", params.payment_id)
    if payment is None:
        raise NotFound("billing_payment_not_found", "No payment has this id.")
    if payment["status"] not in ("succeeded", "partially_refunded") or not payment.get("stripe_payment_intent_id"):
        raise Conflict("billing_payment_not_refundable", f"A {payment['status']} payment cannot be refunded.")
    remaining = payment["amount"] - payment["amount_refunded"]
    amount = params.amount or remaining
    if amount > remaining:
        raise BadRequest("billing_refund_too_large", f"At most {remaining} minor units remain to refund.")
    gateway = Gateway(c.settings)  # type: ignore[arg-type]
    key = f"refund:{payment['$id']}:{payment['amount_refunded']}:{amount}"
    gateway.refund(payment["stripe_payment_intent_id"], amount, key)
    state = gateway.intent(payment["stripe_payment_intent_id"])
    settled = settle(c.tables, state, c.now_fresh, Actor(c.user_id, "admin", c.request.client_ip), note=params.reason)
    return {"payment": _public(settled["payment"]), "walletBalance": settled.get("walletBalance")}


# --- Stripe's webhook ----------------------------------------------------------------------------------------------
def _object_of(event: dict[str, Any]) -> tuple[str, str] | None:
    """What an event is about, for the events that change something of ours: (kind, Stripe id)."""
    obj = event.get("data", {}).get("object", {}) or {}
    kind = obj.get("object")
    if kind in ("payment_intent", "invoice", "subscription"):
        return kind, obj.get("id")
    if kind in ("charge", "refund"):
        intent = stripe_id(obj.get("payment_intent"))
        return ("payment_intent", intent) if intent else None
    return None


@actions.path("/stripe/webhook")
def stripe_webhook(request: FunctionRequest, settings: BillingSettings) -> dict[str, Any]:
    """A delivery from Stripe: checked against the exact bytes signed, recorded once, applied once."""
    secret = settings.stripe_webhook_secret.get_secret_value()
    if not secret:
        raise NotConfigured("billing_not_configured", "STRIPE_WEBHOOK_SECRET is not set for this function.")
    if request.method != "POST":
        raise BadRequest("billing_webhook_invalid", "Stripe delivers events with POST.")
    if len(request.raw_body) > MAX_WEBHOOK_BYTES:
        request.log(f"webhook refused: body of {len(request.raw_body)} bytes")
        raise BadRequest("billing_webhook_invalid", f"The body is over {MAX_WEBHOOK_BYTES} bytes.")
    try:
        event = verified_event(request.raw_body, request.headers.get("stripe-signature", ""), secret)
    except ValueError as exc:
        request.log(f"webhook refused from {request.client_ip or 'unknown'}: {exc}")
        raise BadRequest("billing_webhook_invalid", "The Stripe-Signature does not match this body.") from None
    tables = Tables(request.client, settings.database_id)
    about = _object_of(event)
    if about is None:
        return {"received": True, "outcome": record_event(tables, event, "", "ignored", request.now)}
    kind, object_id = about
    gateway, actor = SubscriptionGateway(settings), Actor("stripe", "stripe", request.client_ip)
    if kind == "invoice":
        invoice = gateway.invoice(object_id)
        result = subscriptions.settle_invoice(tables, invoice, request.now, actor, event)
        if result["outcome"] == "payment_failed" and invoice.subscription:  # its status (past_due) now, not later
            subscriptions.sync_subscription(tables, gateway.subscription(invoice.subscription), request.now, actor)
    elif kind == "subscription":
        result = subscriptions.sync_subscription(tables, gateway.subscription(object_id), request.now, actor, event)
    else:
        result = settle(tables, gateway.intent(object_id), request.now, actor, event)
    return {"received": True, "outcome": result["outcome"]}


actions.action("subscribe", subscriptions.Subscribe)(subscriptions.subscribe)
actions.action("cancel_subscription", subscriptions.CancelSubscription)(subscriptions.cancel)


# --- automatic top-ups (rxcore.billing.top_ups) --------------------------------------------------------------------
def _system_only(c: Caller) -> Actor:
    """Top-ups and refund requests start from Appwrite itself (a row event, the schedule), never from a caller."""
    system_only(c)
    return Actor("billing-process", "system", "")


@actions.action("row_event", RowEvent, guests=True)
def row_event(c: Caller, params: RowEvent) -> dict[str, Any]:
    """A row was created: a `wallet_top_ups` request to charge, or an outbox message asking for a consultation's
    refund. The row is read again; the event's copy is not trusted."""
    actor = _system_only(c)
    row_id = params.payload.get("$id")
    if not isinstance(row_id, str) or not row_id:
        raise BadRequest("general_argument_invalid", "The event carries no row id.")
    if ".tables.outbox." in params.event:
        message_id = outbox.event_message(params.payload, ["consultation.refund_requested"])
        return _consultation_refund(c, message_id, actor) if message_id else {"outcome": "not_ours"}
    return top_ups.run(c.tables, Gateway(c.settings), row_id, c.now_fresh, actor)  # type: ignore[arg-type]


@actions.action("sweep_top_ups", Sweep, guests=True)
def sweep_top_ups(c: Caller, _params: Sweep) -> dict[str, Any]:
    """On the schedule: charge the top-ups whose create event was lost, and give back the consultation payments
    whose refund message was not taken."""
    actor = _system_only(c)
    refunds = [
        _consultation_refund(c, m["$id"], actor)["outcome"]
        for m in outbox.due(c.tables, ["consultation.refund_requested"], c.now_fresh())
    ]
    stale = top_ups.stale(c.tables, c.now)
    if not stale:
        return {"swept": 0, "refunds": len(refunds)}
    gateway = Gateway(c.settings)  # type: ignore[arg-type]
    outcomes = [top_ups.run(c.tables, gateway, request_id, c.now_fresh, actor)["outcome"] for request_id in stale]
    return {"swept": len(stale), "outcomes": outcomes, "refunds": len(refunds)}


# --- consultations (the appointment-booking function books; billing takes and returns the money) -------------------
@actions.action("consultation_order", ConsultationOrder)
def consultation_order(c: Caller, params: ConsultationOrder) -> dict[str, Any]:
    """The order for your pending appointment at its locked price, and the client secret to pay it with Stripe.js;
    the same order again on every call. The payment's webhook confirms the booking."""
    row = c.tables.get("appointments", params.appointment_id)
    if row is None or row["patient_user_id"] != c.user_id or row.get("deleted_at"):
        raise NotFound("appointment_not_found", "No appointment of yours has this id.")
    if row["status"] != "pending" or row["expires_at"] <= iso(c.now):
        raise Conflict("appointment_not_payable", f"This appointment is {row['status']}; only a current hold is paid.")
    appointment = orders.Appointment(
        id=row["$id"],
        clinic_id=row["clinic_id"],
        patient_user_id=row["patient_user_id"],
        patient_name=row["patient_name"],
        amount=row["price"],
        currency=row["currency"],
        description=f"Consultation with {row['doctor_name']} at {row['starts_at'][:16]} UTC",
    )
    actor = Actor(c.user_id, "patient", c.request.client_ip)
    answer = orders.consultation_order(c.tables, Gateway(c.settings), appointment, lambda: c.now, actor)  # type: ignore[arg-type]
    return {"payment": _public(answer["payment"]), "clientSecret": answer["clientSecret"]}


def _consultation_refund(c: Caller, message_id: str, actor: Actor) -> dict[str, Any]:
    def handle(payload: dict[str, Any]) -> str:
        gateway = Gateway(c.settings)  # type: ignore[arg-type]
        done = orders.refund_consultation(c.tables, gateway, payload["appointmentId"], c.now_fresh, actor,
                                          payload.get("reason", "consultation refund"))  # fmt: skip
        return "no order" if done is None else done["status"]

    return outbox.consume(c.tables, message_id, c.now_fresh, handle)
