"""The notifications the platform sends: for each outbox topic, who receives it, on which channels, the data its
e-mail template gets (SendGrid dynamic template data, built here; the template ids are configuration), the SMS
text, and attachments. Payloads carry ids only; everything else is read when the message is sent."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from appwrite.exception import AppwriteException
from appwrite.services.storage import Storage

from rxcore.clock import clinic_zone
from rxcore.notify import recipients
from rxcore.notify.failures import SendFailed
from rxcore.notify.recipients import Recipient

PDF_WAIT_TRIES = 20  # × 0.25 s


@dataclass(frozen=True)
class Context:
    """What building a notification may read: the tables, the function's client (users, teams, files), the
    message's payload."""

    tables: Any
    client: Any
    payload: dict[str, Any]
    pdf_bucket_id: str = "prescription_pdfs"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content_base64: str


@dataclass(frozen=True)
class NotificationType:
    name: str  # the outbox topic it answers
    channels: tuple[str, ...]  # the channels it may use, in order of preference
    recipients: Callable[[Context], list[Recipient]]
    data: Callable[[Context, Recipient], dict[str, Any]]  # the e-mail template's data
    sms: Callable[[dict[str, Any]], str]  # the SMS/WhatsApp text from that data
    urgent: bool = False  # ignores opt-outs and quiet hours (security notices)
    attachments: Callable[[Context], list[Attachment]] = field(default=lambda _ctx: [])
    needs: tuple[str, ...] = ()  # the payload's keys its recipients and data read (a direct request is checked)


# --- prescriptions ---------------------------------------------------------------------------------------------------
def _patient_of(ctx: Context) -> list[Recipient]:
    found = recipients.patient(ctx.tables, ctx.payload["patientId"])
    return [found] if found else []


def _prescription_data(ctx: Context, to: Recipient) -> dict[str, Any]:
    prescription = ctx.tables.get("prescriptions", ctx.payload["prescriptionId"]) or {}
    clinic = ctx.tables.get("clinics", prescription.get("clinic_id", "")) or {}
    return {"first_name": to.name, "prescription_number": ctx.payload.get("number"), "clinic_name": clinic.get("name"),
            "expires_on": prescription.get("expires_on")}  # fmt: skip


def _supplies(n: int) -> str:
    return f"{n} more supply" if n == 1 else f"{n} more supplies"


def _dispensed_data(ctx: Context, to: Recipient) -> dict[str, Any]:
    return _prescription_data(ctx, to) | {"supplies_left": ctx.payload.get("suppliesLeft", 0),
                                          "owing": bool(ctx.payload.get("owing"))}  # fmt: skip


def _prescription_pdf(ctx: Context) -> list[Attachment]:
    prescription = ctx.tables.get("prescriptions", ctx.payload["prescriptionId"]) or {}
    file_id = prescription.get("pdf_file_id")
    if not file_id:
        return []
    content = _pdf_when_stored(Storage(ctx.client), ctx.pdf_bucket_id, file_id)
    name = f"prescription-{prescription.get('number', file_id)}.pdf"
    return [Attachment(name, "application/pdf", base64.b64encode(content).decode())]


def _pdf_when_stored(storage: Storage, bucket: str, file_id: str) -> bytes:
    """The PDF, which signing stores just after the commit that wrote this message: waited for a few seconds,
    then left to a retry."""
    for _ in range(PDF_WAIT_TRIES):
        try:
            return storage.get_file_download(bucket, file_id)
        except AppwriteException as exc:
            if exc.code != 404:
                raise
            time.sleep(0.25)
    raise SendFailed("the prescription's PDF is not stored yet", True)


# --- payments and wallets --------------------------------------------------------------------------------------------
def _payer(ctx: Context) -> list[Recipient]:
    payment = ctx.tables.get("billing_payments", ctx.payload["paymentId"]) or {}
    return recipients.wallet_owners(ctx.client, ctx.tables, "individual", payment["user_id"]) if payment else []


def _payment_data(ctx: Context, to: Recipient) -> dict[str, Any]:
    payment = ctx.tables.get("billing_payments", ctx.payload["paymentId"]) or {}
    return {"first_name": to.name, "description": payment.get("description"), "currency": payment.get("currency"),
            "amount_minor": payment.get("amount"), "amount_refunded_minor": payment.get("amount_refunded"),
            "tokens": payment.get("tokens"), "payment_id": ctx.payload["paymentId"]}  # fmt: skip


def _owners(ctx: Context) -> list[Recipient]:
    return recipients.wallet_owners(ctx.client, ctx.tables, ctx.payload["entityType"], ctx.payload["entityId"])


def _wallet_data(ctx: Context, to: Recipient) -> dict[str, Any]:
    return {"first_name": to.name, "entity_type": ctx.payload["entityType"], "balance": ctx.payload.get("balance"),
            "threshold": ctx.payload.get("threshold"), "invoice": ctx.payload.get("invoice")}  # fmt: skip


# --- appointments ----------------------------------------------------------------------------------------------------
def _appointment(ctx: Context) -> dict[str, Any]:
    return ctx.tables.get("appointments", ctx.payload["appointmentId"]) or {}


def _appointment_patient(ctx: Context) -> list[Recipient]:
    row = _appointment(ctx)
    if not row or (ctx.payload.get("before") and row["status"] != "booked"):
        return []  # a reminder for an appointment cancelled meanwhile is not sent
    found = recipients.user(ctx.client, row["patient_user_id"], ZoneInfo(row["time_zone"]))
    return [found] if found else []


def _appointment_both(ctx: Context) -> list[Recipient]:
    row = _appointment(ctx)
    if not row:
        return []
    clinic = ctx.tables.get("clinics", row["clinic_id"]) or {}
    doctor = recipients.user(
        ctx.client, row["doctor_id"], clinic_zone(clinic.get("country", "UK"), clinic.get("state"))
    )
    return _appointment_patient(ctx) + ([doctor] if doctor else [])


def _appointment_data(ctx: Context, to: Recipient) -> dict[str, Any]:
    row = _appointment(ctx)
    local = datetime.fromisoformat(row["starts_at"]).astimezone(to.zone)
    return {"first_name": to.name, "doctor_name": row.get("doctor_name"), "language": row.get("language"),
            "starts_local": local.strftime("%A %d %B %Y, %H:%M"), "time_zone": str(to.zone),
            "status": row.get("status"), "before": ctx.payload.get("before"), "by": ctx.payload.get("by"),
            "appointment_id": row.get("$id")}  # fmt: skip


# --- security ----------------------------------------------------------------------------------------------------
SECURITY_CHANGES = {"password": "password", "email": "e-mail address", "phone": "phone number",
                    "mfa": "two-step sign-in"}  # fmt: skip


def _account_owner(ctx: Context) -> list[Recipient]:
    found = recipients.user(ctx.client, ctx.payload["userId"], ZoneInfo("UTC"))
    return [found] if found else []


def _security_data(ctx: Context, to: Recipient) -> dict[str, Any]:
    change = ctx.payload["change"]
    changed = datetime.fromisoformat(ctx.payload["changedAt"].replace("Z", "+00:00"))
    return {"first_name": to.name, "change": change, "what": SECURITY_CHANGES.get(change, change),
            "changed_at_utc": changed.astimezone(ZoneInfo("UTC")).strftime("%d/%m/%Y %H:%M UTC")}  # fmt: skip


TYPES: dict[str, NotificationType] = {
    t.name: t
    for t in (
        NotificationType(
            "prescription.ready", ("email", "sms", "whatsapp"), _patient_of, _prescription_data,
            lambda d: f"Your prescription {d['prescription_number']} from {d['clinic_name']} is ready.",
            attachments=_prescription_pdf,
            needs=("prescriptionId", "patientId"),
        ),
        NotificationType(
            "prescription.dispensed", ("email", "sms", "whatsapp"), _patient_of, _dispensed_data,
            lambda d: f"Prescription {d['prescription_number']} was dispensed"
                      + (f"; {_supplies(d['supplies_left'])} to come." if d["supplies_left"] else ".")
                      + (" The rest is owed to you." if d["owing"] else ""),
            needs=("prescriptionId", "patientId"),
        ),
        NotificationType(
            "payment.succeeded", ("email",), _payer, _payment_data,
            lambda d: f"Payment received: {d['description']}.",
            needs=("paymentId",),
        ),
        NotificationType(
            "payment.refunded", ("email",), _payer, _payment_data,
            lambda d: f"Refund issued: {d['description']}.",
            needs=("paymentId",),
        ),
        NotificationType(
            "wallet.low_balance", ("email",), _owners, _wallet_data,
            lambda d: f"Your token balance is {d['balance']}, under your warning level of {d['threshold']}.",
            needs=("entityType", "entityId"),
        ),
        NotificationType(
            "wallet.top_up_failed", ("email", "sms"), _owners, _wallet_data,
            lambda _d: "Your automatic token top-up failed and is paused until you update it.",
            needs=("entityType", "entityId"),
        ),
        NotificationType(
            "appointment.booked", ("email", "sms"), _appointment_patient, _appointment_data,
            lambda d: f"Consultation with {d['doctor_name']} booked: {d['starts_local']} ({d['time_zone']}).",
            needs=("appointmentId",),
        ),
        NotificationType(
            "appointment.reminder", ("email", "sms"), _appointment_patient, _appointment_data,
            lambda d: f"Reminder: consultation with {d['doctor_name']} at {d['starts_local']} ({d['time_zone']}).",
            needs=("appointmentId",),
        ),
        NotificationType(
            "appointment.cancelled", ("email",), _appointment_both, _appointment_data,
            lambda d: f"The consultation with {d['doctor_name']} at {d['starts_local']} was cancelled.",
            needs=("appointmentId",),
        ),
        NotificationType(
            "security.notice", ("email", "sms"), _account_owner, _security_data,
            lambda d: f"Your account's {d['what']} was changed on {d['changed_at_utc']}. If this was not you, reset "
                      "your password now and tell your clinic.",
            urgent=True,
            needs=("userId", "change", "changedAt"),
        ),
        NotificationType(
            "subscription.payment_failed", ("email",), _owners, _wallet_data,
            lambda _d: "We could not take your plan's payment. Please update your card.",
            needs=("entityType", "entityId"),
        ),
    )
}  # fmt: skip
