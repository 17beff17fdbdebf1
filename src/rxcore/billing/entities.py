"""Who is billed, who may act for them, and their Stripe customer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rxcore.billing.gateway import Gateway
from rxcore.clock import iso
from rxcore.identity import Caller
from rxcore.ids import derived_id
from rxcore.tables import TableStore, is_conflict
from rxcore.wallet.access import CLINIC_ADMIN_ROLES as BILLING_ROLES  # who buys for, and sees the payments of, a clinic


@dataclass(frozen=True)
class Entity:
    """Who is billed: an individual prescriber (`id` = their user id) or a clinic (`id` = the clinic id)."""

    type: str
    id: str
    name: str

    @property
    def clinic_id(self) -> str | None:
        return self.id if self.type == "clinic" else None

    def readers(self) -> list[str]:
        return billing_readers(self.type, self.id)

    def owner_columns(self, user_id: str) -> dict[str, str | None]:
        """The columns every billing row names its owner by (and `user_id`, who acted)."""
        return {"entity_type": self.type, "entity_id": self.id, "clinic_id": self.clinic_id, "user_id": user_id}


def billing_readers(entity_type: str, entity_id: str) -> list[str]:
    """Who reads an entity's payments and subscriptions: the prescriber, or the clinic's owners and admins."""
    if entity_type == "clinic":
        return [f'read("team:{entity_id}/owner")', f'read("team:{entity_id}/admin")']
    return [f'read("user:{entity_id}")']


def billing_entity(c: Caller, clinic_id: str | None) -> Entity:
    """The entity the caller may act for: the clinic if they own or administer it, else themself as an active
    prescriber (403 for anyone else, patients included)."""
    if clinic_id is not None:
        clinic = c.clinic_member(clinic_id, BILLING_ROLES)
        return Entity("clinic", clinic_id, clinic["name"])
    practitioner = c.practitioner("prescriber")
    return Entity("individual", c.user_id, practitioner["name"])


def ensure_customer(c: Caller, gateway: Gateway, entity: Entity) -> str:
    """The entity's Stripe customer, created on its first payment."""
    return ensure_customer_for(c.tables, gateway, entity, lambda: c.now)


def ensure_customer_for(tables: TableStore, gateway: Gateway, entity: Entity, now: Callable[[], datetime]) -> str:
    row_id = derived_id("customer", entity.type, entity.id)
    row = tables.get("billing_customers", row_id)
    if row is not None:
        return row["stripe_customer_id"]
    metadata = {"entity_type": entity.type, "entity_id": entity.id}
    customer_id = gateway.create_customer(entity.name, metadata, key=f"customer:{row_id}")
    data = {
        "entity_type": entity.type,
        "entity_id": entity.id,
        "stripe_customer_id": customer_id,
        "created_at": iso(now()),
    }
    try:
        tables.create("billing_customers", row_id, data)
    except Exception as exc:
        if not is_conflict(exc):
            raise
        return tables.get("billing_customers", row_id)["stripe_customer_id"]  # type: ignore[index]
    return customer_id
