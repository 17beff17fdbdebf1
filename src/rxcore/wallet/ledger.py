"""The token wallet's ledger: every change of a balance is an append-only entry, applied once by its key.

A wallet belongs to a billing entity (an individual prescriber or a clinic); its `balance` caches the sum of its
entries. Entries are numbered per wallet (`seq` 1, 2, 3 ...; the wallet's `last_seq` is the newest) and an entry's
row id is derived from (wallet, seq), as the audit chain's are: two writers who read the same balance both try to
write entry n+1, and one of them loses on the duplicate id, reads again and decides again. That holds on any
Appwrite, whatever its transactions check, so a balance is never computed from a stale one and `balance_after` is
exact. Each entry also carries its idempotency key (`stripe:<payment intent>:credit`, `rx:<prescription id>` ...),
unique by index: a retried operation finds its entry (`find`) and applies nothing twice.

The entry and the new balance are written in the caller's transaction. The balance never goes below zero, or below
minus the overdraft a clinic's admins set. What a balance crossing means for its owner is decided here too, in the
same write (rxcore.wallet.policy): a warning when it falls under the low-balance threshold (once per crossing) and
an automatic top-up when it falls under the top-up threshold (never two in flight). Members' monthly spend
(`wallet_member_spend`) moves by atomic increments staged in the same transaction."""

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


def entry_row_id(wid: str, seq: int) -> str:
    return derived_id("ledger", wid, seq)


def find(tables: TableStore, key: str) -> dict[str, Any] | None:
    """The entry applied under `key`, if any."""
    rows = tables.list("wallet_transactions", [Query.equal("idempotency_key", key), Query.limit(1)])
    return rows[0] if rows else None


def applied_keys(tables: TableStore, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    rows = tables.list(
        "wallet_transactions",
        [Query.equal("idempotency_key", keys), Query.select(["$id", "idempotency_key"]), Query.limit(len(keys))],
    )
    return {r["idempotency_key"] for r in rows}


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
    spend_rows: dict[tuple[str, str], dict[str, Any] | None] | None = None,
    keys_checked: bool = False,
) -> Posting:
    """The operations that append `entries`, in order, to the entity's wallet (created on its first entry), for
    the caller to commit in its transaction. Raises 402 `wallet_insufficient_balance` when an entry would take the
    balance below the floor (zero, or minus the clinic's overdraft).

    Rows the caller read already (in this transaction) save round trips: `wallet`, the members' monthly `spend_rows`
    by (member, month), and `keys_checked` when it knows none of the entries' keys was applied before."""
    wid = wallet_id(entity_type, entity_id)
    if wallet is None:
        wallet = tables.get("wallets", wid)
    floor = -int(wallet.get("overdraft_limit") or 0) if wallet else 0
    running = int(wallet["balance"]) if wallet else 0
    seq = int(wallet.get("last_seq") or 0) if wallet else 0
    operations: list[dict[str, Any]] = []
    applied: list[dict[str, Any]] = []
    spend: dict[tuple[str, str], int] = {}
    done = set() if keys_checked else applied_keys(tables, [e.key for e in entries])
    for entry in entries:
        if entry.kind not in KINDS:
            raise ValueError(f"unknown ledger entry kind {entry.kind!r}")
        if entry.key in done:
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
        seq += 1
        detail = entry.detail | ({"asked": entry.amount} if amount != entry.amount else {})
        row = {
            "wallet_id": wid,
            "seq": seq,
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
            tables.op("create", "wallet_transactions", entry_row_id(wid, seq), row | {"$permissions": permissions})
        )
        applied.append(row)
        if entry.member_id and entry.kind in ("debit", "refund"):
            month = at[:7]
            spend[(entry.member_id, month)] = spend.get((entry.member_id, month), 0) - amount
    if not applied:
        return Posting([], running, [], wallet=wallet)
    for (member, month), tokens in spend.items():
        known = spend_rows or {}
        current = known[(member, month)] if (member, month) in known else _spend_row(tables, wid, member, month)
        operations.append(_spend_operation(tables, wid, entity_type, entity_id, member, month, tokens, current))
    changes = policy.after_posting(wallet or {}, entity_type, entity_id, running, at)
    data = {"balance": running, "last_seq": seq, "updated_at": at} | changes.updates
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


def _spend_row(tables: TableStore, wid: str, member_id: str, month: str) -> dict[str, Any] | None:
    return tables.get("wallet_member_spend", spend_id(wid, member_id, month))


def _spend_operation(
    tables: TableStore,
    wid: str,
    entity_type: str,
    entity_id: str,
    member_id: str,
    month: str,
    tokens: int,
    current: dict[str, Any] | None,
) -> dict[str, Any]:
    """Move a member's spend this month: an atomic increment (or decrement, never under 0) of the counter row, or
    its creation when `current` (read in the same transaction) says there is none yet; a racing first spend
    loses on the duplicate id and decides again."""
    row_id = spend_id(wid, member_id, month)
    if current is None:
        data = {"wallet_id": wid, "member_id": member_id, "month": month, "spent": max(tokens, 0)}
        readers = entry_readers(entity_type, entity_id, member_id)
        return tables.op("create", "wallet_member_spend", row_id, data | {"$permissions": readers})
    if tokens >= 0:
        return tables.op("increment", "wallet_member_spend", row_id, {"column": "spent", "value": tokens})
    taken = min(-tokens, int(current["spent"]))  # never under 0, and a decrement past its `min` is refused
    return tables.op("decrement", "wallet_member_spend", row_id, {"column": "spent", "value": taken, "min": 0})


def verify(tables: TableStore, entity_type: str, entity_id: str) -> str | None:
    """None when the wallet's balance equals the sum of its ledger and every entry's `balance_after` follows
    from the one before; otherwise what disagrees first."""
    return verify_wallet(tables, wallet_id(entity_type, entity_id))


def verify_wallet(tables: TableStore, wid: str) -> str | None:
    """None when entries run 1, 2, 3 ... each `balance_after` following from the one before, and the wallet caches
    their sum and the last number; otherwise the first thing that disagrees."""
    running = expected = 0
    for row in tables.each("wallet_transactions", [Query.equal("wallet_id", wid), Query.order_asc("seq")]):
        expected += 1
        if int(row["seq"]) != expected:
            return f"entry {expected} is missing (found {row['seq']}, {row['idempotency_key']})"
        running += int(row["amount"])
        if running != int(row["balance_after"]):
            return f"entry {row['seq']} ({row['idempotency_key']}) says {row['balance_after']}, the sum is {running}"
    wallet = tables.get("wallets", wid) or {}
    cached, last = int(wallet.get("balance") or 0), int(wallet.get("last_seq") or 0)
    if cached != running:
        return f"the wallet caches {cached}, its ledger sums to {running}"
    return None if last == expected else f"the wallet's last entry is {last}, the ledger has {expected}"
