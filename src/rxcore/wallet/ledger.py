"""The token wallet's ledger: every change of a balance is an append-only entry, applied once by its key.

A wallet belongs to a billing entity (an individual prescriber or a clinic); its `balance` caches the sum of its
entries. An entry's row id is derived from its idempotency key (`stripe:<payment intent>:credit`, `rx:<prescription
id>` ...), and the entry and the new balance are written in the caller's transaction: a retried or concurrent
operation either finds its entry already there (nothing to do) or loses the commit on the duplicate id and decides
again. The balance never goes below zero.

This module is the core the token-management issue builds on (spending, top-ups, caps, analytics are not here)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from appwrite.query import Query

from rxcore.errors import PaymentRequired
from rxcore.ids import derived_id
from rxcore.tables import TableStore

EntityType = Literal["individual", "clinic"]
KINDS = ("credit", "debit", "refund", "reversal", "adjustment", "expiry")


def wallet_id(entity_type: str, entity_id: str) -> str:
    return derived_id("wallet", entity_type, entity_id)


def entry_id(key: str) -> str:
    return derived_id("ledger", key)


def readers(entity_type: str, entity_id: str) -> list[str]:
    """A prescriber reads their own wallet; every member of a clinic reads the clinic's pool."""
    return [f'read("team:{entity_id}")'] if entity_type == "clinic" else [f'read("user:{entity_id}")']


@dataclass(frozen=True)
class Entry:
    kind: str
    amount: int  # tokens, signed: + adds to the balance, - takes from it
    reason: str
    actor_id: str
    key: str  # the idempotency key: one entry per key, ever
    related_type: str | None = None
    related_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # Take back what is there when the balance is short (a refund of tokens already spent), instead of refusing.
    at_most_balance: bool = False


@dataclass(frozen=True)
class Posting:
    """What appending entries decided: the operations for the transaction and the balance after them."""

    operations: list[dict[str, Any]]
    balance_after: int
    applied: list[dict[str, Any]]  # the ledger rows written (entries whose key was applied before are not)


def balance(tables: TableStore, entity_type: str, entity_id: str) -> int:
    wallet = tables.get("wallets", wallet_id(entity_type, entity_id))
    return int(wallet["balance"]) if wallet else 0


def post(tables: TableStore, entity_type: str, entity_id: str, entries: list[Entry], at: str) -> Posting:
    """The operations that append `entries`, in order, to the entity's wallet (created on its first entry), for
    the caller to commit in its transaction. Raises 402 `wallet_insufficient_balance` when an entry would take the
    balance below zero."""
    wid = wallet_id(entity_type, entity_id)
    wallet = tables.get("wallets", wid)
    running = int(wallet["balance"]) if wallet else 0
    permissions = readers(entity_type, entity_id)
    operations: list[dict[str, Any]] = []
    applied: list[dict[str, Any]] = []
    for entry in entries:
        if entry.kind not in KINDS:
            raise ValueError(f"unknown ledger entry kind {entry.kind!r}")
        if tables.get("wallet_transactions", entry_id(entry.key)) is not None:
            continue
        amount = entry.amount
        if amount < 0 and entry.at_most_balance:
            amount = -min(-amount, running)
        if running + amount < 0:
            raise PaymentRequired(
                "wallet_insufficient_balance", f"The wallet holds {running} tokens; this needs {-amount}."
            )
        running += amount
        detail = entry.detail | ({"asked": entry.amount} if amount != entry.amount else {})
        row = {
            "wallet_id": wid,
            "kind": entry.kind,
            "amount": amount,
            "balance_after": running,
            "reason": entry.reason[:200],
            "actor_id": entry.actor_id[:64],
            "related_type": entry.related_type,
            "related_id": entry.related_id,
            "idempotency_key": entry.key,
            "detail": _detail(detail),
            "created_at": at,
        }
        operations.append(
            tables.op("create", "wallet_transactions", entry_id(entry.key), row | {"$permissions": permissions})
        )
        applied.append(row)
    if applied and wallet is None:
        data = {"entity_type": entity_type, "entity_id": entity_id, "balance": running, "updated_at": at}
        operations.append(tables.op("create", "wallets", wid, data | {"$permissions": permissions}))
    elif applied:
        operations.append(tables.op("update", "wallets", wid, {"balance": running, "updated_at": at}))
    return Posting(operations, running, applied)


def _detail(detail: dict[str, Any]) -> str | None:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"))[:1000] if detail else None


def verify(tables: TableStore, entity_type: str, entity_id: str) -> str | None:
    """None when the wallet's balance equals the sum of its ledger and every entry's `balance_after` follows
    from the one before; otherwise what disagrees first."""
    wid = wallet_id(entity_type, entity_id)
    running = 0
    for row in tables.each("wallet_transactions", [Query.equal("wallet_id", wid), Query.order_asc("$sequence")]):
        running += int(row["amount"])
        if running != int(row["balance_after"]):
            return f"entry {row['$id']} ({row['idempotency_key']}) says {row['balance_after']}, the sum is {running}"
    cached = balance(tables, entity_type, entity_id)
    return None if cached == running else f"the wallet caches {cached}, its ledger sums to {running}"
