"""The token wallet's ledger: every change of a balance is an append-only entry, applied once by its key.

A wallet belongs to a billing entity (an individual prescriber or a clinic); its `balance` caches the sum of its
entries. An entry's row id is derived from its idempotency key (`stripe:<payment intent>:credit`, `rx:<prescription
id>` ...), and the entry and the new balance are written in the caller's transaction: a retried or concurrent
operation either finds its entry already there (nothing to do) or loses the commit (a duplicate id, or the wallet
row changed after its transaction began) and decides again. Callers begin their transaction before they read the
wallet (`commit_with_audit(..., transactional_reads=True)`), so two writers can never both write a balance computed
from the same old one.

The balance never goes below zero, or below minus the overdraft a clinic's admins set. What a balance crossing
means for its owner is decided here too, in the same write (rxcore.wallet.policy): a warning when it falls under the
low-balance threshold (once per crossing) and an automatic top-up when it falls under the top-up threshold (never
two in flight)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from appwrite.query import Query

from rxcore import outbox
from rxcore.errors import PaymentRequired
from rxcore.ids import derived_id
from rxcore.tables import TableStore
from rxcore.wallet import policy
from rxcore.wallet.access import entry_readers, owners, wallet_id

EntityType = Literal["individual", "clinic"]
KINDS = ("credit", "debit", "refund", "reversal", "adjustment", "expiry")


def entry_id(key: str) -> str:
    return derived_id("ledger", key)


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
    member_id: str | None = None  # the clinic member (or prescriber) whose spend this is: counted per month


@dataclass(frozen=True)
class Posting:
    """What appending entries decided: the operations for the transaction, the balance after them, and the
    messages (low balance, top-up requested) to write with them."""

    operations: list[dict[str, Any]]
    balance_after: int
    applied: list[dict[str, Any]]  # the ledger rows written (entries whose key was applied before are not)
    messages: list[outbox.Message] = field(default_factory=list)
    wallet: dict[str, Any] | None = None  # the wallet row as it will be after the commit


def balance(tables: TableStore, entity_type: str, entity_id: str) -> int:
    wallet = tables.get("wallets", wallet_id(entity_type, entity_id))
    return int(wallet["balance"]) if wallet else 0


def post(
    tables: TableStore,
    entity_type: str,
    entity_id: str,
    entries: list[Entry],
    at: str,
    wallet: dict[str, Any] | None = None,
) -> Posting:
    """The operations that append `entries`, in order, to the entity's wallet (created on its first entry), for
    the caller to commit in its transaction. Raises 402 `wallet_insufficient_balance` when an entry would take the
    balance below the floor (zero, or minus the clinic's overdraft). `wallet` is the row if read already."""
    wid = wallet_id(entity_type, entity_id)
    if wallet is None:
        wallet = tables.get("wallets", wid)
    before = int(wallet["balance"]) if wallet else 0
    floor = -int(wallet.get("overdraft_limit") or 0) if wallet else 0
    running = before
    operations: list[dict[str, Any]] = []
    applied: list[dict[str, Any]] = []
    spend: dict[tuple[str, str], int] = {}
    for entry in entries:
        if entry.kind not in KINDS:
            raise ValueError(f"unknown ledger entry kind {entry.kind!r}")
        if tables.get("wallet_transactions", entry_id(entry.key)) is not None:
            continue
        amount = entry.amount
        if amount < 0 and entry.at_most_balance:
            amount = -min(-amount, max(running - floor, 0))
        if running + amount < floor:
            raise PaymentRequired(
                "wallet_insufficient_balance",
                f"The wallet holds {running} tokens{_overdraft(floor)}; this needs {-amount}.",
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
            "member_id": entry.member_id,
            "related_type": entry.related_type,
            "related_id": entry.related_id,
            "idempotency_key": entry.key,
            "detail": _detail(detail),
            "created_at": at,
        }
        permissions = entry_readers(entity_type, entity_id, entry.member_id)
        operations.append(
            tables.op("create", "wallet_transactions", entry_id(entry.key), row | {"$permissions": permissions})
        )
        applied.append(row)
        if entry.member_id and entry.kind in ("debit", "refund"):
            month = at[:7]
            spend[(entry.member_id, month)] = spend.get((entry.member_id, month), 0) - amount
    if not applied:
        return Posting([], running, [], wallet=wallet)
    for (member, month), tokens in spend.items():
        operations.append(_spend_operation(tables, wid, entity_type, entity_id, member, month, tokens))
    changes = policy.after_posting(wallet or {}, entity_type, entity_id, running, at)
    data = {"balance": running, "updated_at": at} | changes.updates
    if wallet is None:
        data |= {"entity_type": entity_type, "entity_id": entity_id}
        operations.append(tables.op("create", "wallets", wid, data | {"$permissions": owners(entity_type, entity_id)}))
    else:
        operations.append(tables.op("update", "wallets", wid, data))
    operations += [tables.op("create", table, row_id, row) for table, row_id, row in changes.rows]
    return Posting(operations, running, applied, changes.messages, (wallet or {}) | data | {"$id": wid})


def _overdraft(floor: int) -> str:
    return f" (and may go {-floor} below zero)" if floor else ""


def _detail(detail: dict[str, Any]) -> str | None:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"))[:1000] if detail else None


def spend_id(wallet: str, member_id: str, month: str) -> str:
    return derived_id("spend", wallet, member_id, month)


def _spend_operation(
    tables: TableStore, wid: str, entity_type: str, entity_id: str, member_id: str, month: str, tokens: int
) -> dict[str, Any]:
    """Add to a member's spend this month: an `increment` of the counter row, or its creation. The row is read
    inside the same transaction, so a racing first spend loses on the duplicate id and decides again."""
    row_id = spend_id(wid, member_id, month)
    current = tables.get("wallet_member_spend", row_id)
    if current is None:
        data = {"wallet_id": wid, "member_id": member_id, "month": month, "spent": max(tokens, 0)}
        readers = entry_readers(entity_type, entity_id, member_id)
        return tables.op("create", "wallet_member_spend", row_id, data | {"$permissions": readers})
    return tables.op("update", "wallet_member_spend", row_id, {"spent": max(int(current["spent"]) + tokens, 0)})


def verify(tables: TableStore, entity_type: str, entity_id: str) -> str | None:
    """None when the wallet's balance equals the sum of its ledger and every entry's `balance_after` follows
    from the one before; otherwise what disagrees first."""
    return verify_wallet(tables, wallet_id(entity_type, entity_id))


def verify_wallet(tables: TableStore, wid: str) -> str | None:
    running = 0
    for row in tables.each("wallet_transactions", [Query.equal("wallet_id", wid), Query.order_asc("$sequence")]):
        running += int(row["amount"])
        if running != int(row["balance_after"]):
            return f"entry {row['$id']} ({row['idempotency_key']}) says {row['balance_after']}, the sum is {running}"
    wallet = tables.get("wallets", wid)
    cached = int(wallet["balance"]) if wallet else 0
    return None if cached == running else f"the wallet caches {cached}, its ledger sums to {running}"
