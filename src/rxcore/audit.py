"""The audit trail: append-only and hash-chained.

Each clinic has its own chain (`chain` = clinic id; `platform` for events outside a clinic) so clinics do not
queue behind each other; a busy stream inside a clinic may name its own (a consultation's chat: `chat-<room>`).
Event n carries the hash of event n-1 and its own hash over its canonical content, so changing, removing or
reordering any event breaks every hash after it. The row id is derived from (chain, seq): two writers appending at
once produce the same id, one commit fails, and it retries on the new head."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from appwrite.query import Query

from rxcore import outbox
from rxcore.clock import iso
from rxcore.ids import derived_id
from rxcore.tables import TableStore, retry_conflicts

T = TypeVar("T")

TABLE = "audit_events"
GENESIS = "0" * 64
HASHED_FIELDS = (
    "chain",
    "seq",
    "occurred_at",
    "actor_id",
    "actor_role",
    "action",
    "entity_type",
    "entity_id",
    "patient_id",
    "clinic_id",
    "ip",
    "detail",
    "prev_hash",
)


@dataclass(frozen=True)
class AuditEvent:
    """Who (actor and role), what (action on an entity, the patient concerned), when, and from where (ip)."""

    actor_id: str
    actor_role: str
    action: str
    entity_type: str
    entity_id: str
    clinic_id: str | None
    patient_id: str | None
    ip: str
    detail: dict[str, Any]
    chain: str | None = None  # its own chain; the clinic's (or `platform`) when None

    @property
    def chain_name(self) -> str:
        return self.chain or self.clinic_id or "platform"


def event_id(chain: str, seq: int) -> str:
    return derived_id(chain, seq)


def event_hash(row: dict[str, Any]) -> str:
    content = {field: row.get(field) for field in HASHED_FIELDS}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def chain_rows(head: dict[str, Any] | None, events: list[AuditEvent], occurred_at: str) -> list[dict[str, Any]]:
    """The rows that append `events` after `head` (the chain's last row, or None for a new chain)."""
    rows = []
    seq = head["seq"] if head else 0
    prev = head["hash"] if head else GENESIS
    for event in events:
        seq += 1
        row = {
            "chain": event.chain_name,
            "seq": seq,
            "occurred_at": occurred_at,
            "actor_id": event.actor_id,
            "actor_role": event.actor_role,
            "action": event.action,
            "entity_type": event.entity_type,
            "entity_id": event.entity_id,
            "patient_id": event.patient_id,
            "clinic_id": event.clinic_id,
            "ip": event.ip,
            "detail": json.dumps(event.detail, sort_keys=True, separators=(",", ":")),
            "prev_hash": prev,
        }
        row["hash"] = prev = event_hash(row)
        rows.append(row)
    return rows


def head_of(tables: TableStore, chain: str) -> dict[str, Any] | None:
    rows = tables.list(TABLE, [Query.equal("chain", chain), Query.order_desc("seq"), Query.limit(1)])
    return rows[0] if rows else None


def append_operations(
    tables: TableStore, events: list[AuditEvent], occurred_at: str, head: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Transaction operations that append `events` (all of one chain) to the head read now (or given)."""
    if not events:
        return []
    chain = events[0].chain_name
    if head is None:
        head = head_of(tables, chain)
    return [
        tables.op("create", TABLE, event_id(chain, row["seq"]), row) for row in chain_rows(head, events, occurred_at)
    ]


@dataclass(frozen=True)
class Break:
    chain: str
    seq: int
    row_id: str
    reason: str


def verify_chain(rows: Iterable[dict[str, Any]]) -> Break | None:
    """The first broken link of one chain (rows in seq order, read as a stream), or None when it is intact.
    Removing the newest events leaves a shorter intact chain: only a copy of the head kept elsewhere shows that."""
    prev, expected_seq = GENESIS, 1
    for row in rows:
        chain = row["chain"]
        if row["seq"] != expected_seq:
            return Break(
                chain, expected_seq, row.get("$id", ""), f"event {expected_seq} is missing (found {row['seq']})"
            )
        if row["$id"] != event_id(chain, row["seq"]):
            return Break(chain, row["seq"], row["$id"], "the row id does not match its place in the chain")
        if row["prev_hash"] != prev:
            return Break(chain, row["seq"], row["$id"], "prev_hash is not the hash of the event before")
        if event_hash(row) != row["hash"]:
            return Break(chain, row["seq"], row["$id"], "the event's content does not match its hash")
        prev, expected_seq = row["hash"], expected_seq + 1
    return None


def append(tables: TableStore, events: list[AuditEvent], occurred_at: str) -> None:
    """Append events on their own (a read being recorded): one row is a plain create, several a transaction;
    retried on a new head while another writer takes the next place in the chain."""

    def write() -> None:
        operations = append_operations(tables, events, occurred_at)
        if len(operations) == 1:
            tables.create(TABLE, operations[0]["rowId"], operations[0]["data"])
        else:
            tables.commit(operations)

    retry_conflicts(write)


@dataclass
class Change(Generic[T]):
    """What one read-decide-write step decided: rows to write, the audit events and outbox messages that report
    them (all committed together), the answer for the caller, and optionally an error to raise once committed
    (a refusal that still records something, such as an expiry or a failed verification)."""

    operations: list[dict[str, Any]]
    events: list[AuditEvent]
    result: T = None  # type: ignore[assignment]
    messages: list[outbox.Message] = field(default_factory=list)
    head: dict[str, Any] | None = None  # the chain's head if read already (saves a read; first attempt only ...
    head_is_current: bool = False  # ... unless `decide` read it again in this very attempt)
    then_raise: Exception | None = None


def commit_with_audit(
    tables: TableStore,
    decide: Callable[[str | None], Change[T] | T],
    now: Callable[[], datetime],
    *,
    transactional_reads: bool = False,
    races: int = 40,
) -> T:
    """Run `decide` and commit what it decided with its audit events and messages in one transaction, again
    from the start (re-reading) whenever a concurrent writer got there first.

    With `transactional_reads`, the transaction begins before `decide` reads, and `decide` gets its id: a row it
    read that anyone changes before our commit fails the commit (and we decide again). It is rolled back
    whatever `decide` raises or when it decides that nothing is to be written (returns a plain answer). `races`
    bounds the lost races (the pause between them grows to about 50 ms): raise it for a row many writers share."""

    attempts = 0

    def step() -> T:
        nonlocal attempts
        attempts += 1
        tx = tables.begin() if transactional_reads else None
        try:
            decided = decide(tx)
            if not isinstance(decided, Change):
                if tx:
                    tables.rollback(tx)
                return decided
            at = now()
            operations = list(decided.operations)
            operations += [outbox.message_operation(tables, m, at) for m in decided.messages]
            # after a lost race the chain has moved on: a head read before it is stale
            head = decided.head if attempts == 1 or decided.head_is_current else None
            operations += append_operations(tables, decided.events, iso(at), head)
            tables.commit(operations, tx)
        except BaseException:
            if tx:
                tables.rollback(tx)
            raise
        if decided.then_raise is not None:
            raise decided.then_raise
        return decided.result

    return retry_conflicts(step, attempts=races)
