"""Who a notification goes to, read with the function's key when it is sent (addresses are never copied into the
delivery log): a patient (their record's e-mail and mobile), or platform users (a prescriber, a clinic's owners
and admins) with their account's e-mail and phone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.teams import Teams
from appwrite.services.users import Users

from rxcore.clock import clinic_zone
from rxcore.tables import TableStore
from rxcore.wallet.access import CLINIC_ADMIN_ROLES


@dataclass(frozen=True)
class Recipient:
    kind: str  # patient | user
    id: str
    name: str
    email: str | None
    phone: str | None  # E.164
    zone: ZoneInfo
    user_id: str | None  # the account that may read the delivery log of their messages


def patient(tables: TableStore, patient_id: str) -> Recipient | None:
    row = tables.get("patients", patient_id)
    if row is None:
        return None
    clinic = tables.get("clinics", row["clinic_id"]) or {}
    zone = clinic_zone(clinic.get("country", "UK"), clinic.get("state"))
    name = row.get("given_name") or "patient"
    return Recipient("patient", row["$id"], name, row.get("email"), row.get("phone"), zone, row.get("user_id"))


def user(client: Client, user_id: str, zone: ZoneInfo) -> Recipient | None:
    try:
        account = Users(client).get(user_id)
    except AppwriteException as exc:
        if exc.code == 404:
            return None
        raise
    return Recipient("user", account.id, account.name or "", account.email or None, account.phone or None, zone,
                     account.id)  # fmt: skip


def wallet_owners(client: Client, tables: TableStore, entity_type: str, entity_id: str) -> list[Recipient]:
    """A prescriber, or a clinic's owners and admins (in the clinic's time zone)."""
    if entity_type != "clinic":
        return [r for r in [user(client, entity_id, ZoneInfo("Europe/London"))] if r]
    clinic = tables.get("clinics", entity_id) or {}
    zone = clinic_zone(clinic.get("country", "UK"), clinic.get("state"))
    members = Teams(client).list_memberships(entity_id, queries=[Query.limit(100)]).memberships
    ids = sorted({m.userid for m in members if m.confirm and CLINIC_ADMIN_ROLES & set(m.roles)})
    return [r for r in (user(client, i, zone) for i in ids) if r]


def masked(address: str | None) -> str | None:
    """What the delivery log shows: `j***@example.test`, `+44*******456`."""
    if not address:
        return None
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return address[:3] + "*" * max(len(address) - 6, 0) + address[-3:]


def public(recipient: Recipient) -> dict[str, Any]:
    return {"kind": recipient.kind, "id": recipient.id}
