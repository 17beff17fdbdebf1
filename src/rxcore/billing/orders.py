"""Consultation orders: the payment for one appointment, at the price locked when it was booked.

The consultations feature (its issue) calls these with the appointment it has checked (the patient's own, pending,
the locked price); billing owns the money. One order per appointment: its payment id comes from the appointment
id, so asking again answers the same order and client secret. When Stripe reports it paid (webhook, or a read of
the order), settlement.py writes a `consultation.paid` outbox message in the same transaction, which the booking
consumes to mark the appointment booked; a refund writes `consultation.refunded`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rxcore.audit import AuditEvent
from rxcore.billing.entities import Entity, ensure_customer_for
from rxcore.billing.gateway import Gateway
from rxcore.billing.payments import charge, open_payment
from rxcore.billing.settlement import Actor, settle
from rxcore.errors import Conflict
from rxcore.ids import derived_id
from rxcore.tables import TableStore


@dataclass(frozen=True)
class Appointment:
    """What billing needs of an appointment: who pays, how much (minor units, locked at booking), for which clinic."""

    id: str
    clinic_id: str
    patient_user_id: str
    patient_name: str
    amount: int
    currency: str
    description: str


def order_id(appointment_id: str) -> str:
    return derived_id("appointment", appointment_id)


def consultation_order(
    tables: TableStore, gateway: Gateway, appointment: Appointment, now: Callable[[], datetime], actor: Actor
) -> dict[str, Any]:
    """The appointment's order (made on the first call) and the client secret to pay it with Stripe.js."""
    payment_id = order_id(appointment.id)
    payment = tables.get("billing_payments", payment_id)
    if payment is None:
        payment = _create(tables, gateway, appointment, payment_id, now, actor)
    elif (payment["amount"], payment["currency"]) != (appointment.amount, appointment.currency):
        raise Conflict("billing_order_price_changed", "This appointment's order was made at another price.")
    metadata = {"payment_id": payment_id, "appointment_id": appointment.id, "entity_type": "patient"}
    settled, state = charge(tables, gateway, payment, metadata, None, now, actor)
    return {"payment": settled.get("payment") or payment, "clientSecret": state.client_secret}


def _create(
    tables: TableStore,
    gateway: Gateway,
    appointment: Appointment,
    payment_id: str,
    now: Callable[[], datetime],
    actor: Actor,
) -> dict[str, Any]:
    entity = Entity("patient", appointment.patient_user_id, appointment.patient_name)
    columns = {
        "entity_type": "patient",
        "entity_id": appointment.patient_user_id,
        "clinic_id": appointment.clinic_id,
        "user_id": appointment.patient_user_id,
        "kind": "consultation",
        "appointment_id": appointment.id,
        "description": appointment.description[:200],
        "currency": appointment.currency,
        "amount": appointment.amount,
        "tokens": 0,
        "stripe_customer_id": ensure_customer_for(tables, gateway, entity, now),
        "request_digest": f"appointment:{appointment.id}"[:64],
    }
    readers = [f'read("user:{appointment.patient_user_id}")', f'read("team:{appointment.clinic_id}/owner")']
    readers.append(f'read("team:{appointment.clinic_id}/admin")')
    event = AuditEvent(
        actor.id, actor.role, "payment.created", "payment", payment_id, appointment.clinic_id, None, actor.ip,
        {"amount": appointment.amount, "currency": appointment.currency, "appointment": appointment.id},
    )  # fmt: skip
    return open_payment(tables, payment_id, columns, readers, event, now)


def refund_consultation(
    tables: TableStore, gateway: Gateway, appointment_id: str, now: Callable[[], datetime], actor: Actor, reason: str
) -> dict[str, Any] | None:
    """A cancelled appointment's money back: the rest of a paid order refunded, an unpaid intent cancelled. None
    when the appointment has no order."""
    payment = tables.get("billing_payments", order_id(appointment_id))
    if payment is None or not payment.get("stripe_payment_intent_id"):
        return None
    intent = payment["stripe_payment_intent_id"]
    state = gateway.intent(intent)
    remaining = payment["amount"] - state.amount_refunded
    if state.status == "succeeded" and remaining > 0:
        gateway.refund(intent, remaining, key=f"refund:{payment['$id']}:{state.amount_refunded}:{remaining}")
    elif state.status not in ("succeeded", "canceled"):
        gateway.cancel_intent(intent)
    return settle(tables, gateway.intent(intent), now, actor, note=reason)["payment"]
