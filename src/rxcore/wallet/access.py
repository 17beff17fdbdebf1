"""Who reads a wallet's rows (row permissions), and the wallet's id."""

from __future__ import annotations

from rxcore.ids import derived_id

CLINIC_ADMIN_ROLES = {"owner", "admin"}  # of a clinic's team: who manages its pool and buys for it


def wallet_id(entity_type: str, entity_id: str) -> str:
    return derived_id("wallet", entity_type, entity_id)


def owners(entity_type: str, entity_id: str) -> list[str]:
    """Who reads a wallet and its whole ledger: the prescriber, or a clinic's owners and admins (members see only
    their own entries and spend, not the pool)."""
    if entity_type == "clinic":
        return [f'read("team:{entity_id}/owner")', f'read("team:{entity_id}/admin")']
    return [f'read("user:{entity_id}")']


def entry_readers(entity_type: str, entity_id: str, member_id: str | None) -> list[str]:
    """A clinic pool's entry is also readable by the member whose prescription it charged or refunded."""
    mine = [f'read("user:{member_id}")'] if entity_type == "clinic" and member_id else []
    return owners(entity_type, entity_id) + mine
