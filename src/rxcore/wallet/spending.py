"""Spending tokens on prescriptions: who pays, the member cap, the debit, the refund of a cancelled prescription,
and the automatic top-up a short balance may start. prescription-create calls these inside the transaction that
writes (or cancels) the prescription, so a prescription is never written without its charge nor charged twice.

Who pays: the clinic's shared pool when the clinic is on the Clinic plan (a live subscription of the clinic),
otherwise the prescriber's own wallet. The debit's key is `rx:<prescription id>` and its refund's
`rx:<prescription id>:refund`: a retried create or cancel finds its entry and applies nothing again."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appwrite.query import Query

from rxcore.errors import PaymentRequired
from rxcore.ids import derived_id
from rxcore.tables import TableStore, retry_conflicts
from rxcore.wallet import ledger, policy
from rxcore.wallet.access import wallet_id
from rxcore.wallet.pricing import Quote

LIVE_SUBSCRIPTION = ("active", "trialing", "past_due")
TOP_UP_WAIT_SECONDS = 8.0  # how long a prescription waits for the top-up its short balance started


@dataclass(frozen=True)
class Payer:
    entity_type: str  # individual | clinic
    entity_id: str
    member_id: str  # the prescriber whose prescription it is

    @property
    def wallet_id(self) -> str:
        return wallet_id(self.entity_type, self.entity_id)


def cap_id(wallet: str, member_id: str) -> str:
    return derived_id("cap", wallet, member_id)


def clinic_on_plan(tables: TableStore, clinic_id: str) -> bool:
    rows = tables.list(
        "billing_subscriptions",
        [Query.equal("entity_type", "clinic"), Query.equal("entity_id", clinic_id), Query.limit(10)],
    )
    return any(r["status"] in LIVE_SUBSCRIPTION for r in rows)


def payer_for(tables: TableStore, prescriber_id: str, clinic_id: str) -> Payer:
    if clinic_on_plan(tables, clinic_id):
        return Payer("clinic", clinic_id, prescriber_id)
    return Payer("individual", prescriber_id, prescriber_id)


def charge_reads(tables: TableStore, payer: Payer, at: str) -> dict[str, Callable[[], dict[str, Any] | None]]:
    """The rows a charge decides on, as independent reads for the caller to run at once (`Caller.gather`): the
    fewer round trips between reading the wallet and committing, the fewer racing debits a charge loses to."""
    wallet = payer.wallet_id
    reads: dict[str, Callable[[], dict[str, Any] | None]] = {
        "wallet": lambda: tables.get("wallets", wallet),
        "spend": lambda: tables.get("wallet_member_spend", ledger.spend_id(wallet, payer.member_id, at[:7])),
    }
    if payer.entity_type == "clinic":
        reads["cap"] = lambda: tables.get("wallet_member_caps", cap_id(wallet, payer.member_id))
    return reads


def _read_all(reads: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    return {name: read() for name, read in reads.items()}


def charge(
    tables: TableStore,
    payer: Payer,
    quote: Quote,
    prescription_id: str,
    number: str,
    at: str,
    read: dict[str, Any] | None = None,
) -> ledger.Posting | None:
    """The debit for a prescription (None when it is free); 402 when the wallet, or the member's monthly cap in a
    clinic pool, does not cover it, for the transaction that creates the prescription; `read` is what `charge_reads`
    answered, when the caller ran them already. The debit's key needs no
    look-up: it is new exactly when the prescription is (both are created together; a second attempt at either
    fails the commit on the duplicate id or key and the caller finds the prescription)."""
    if quote.total <= 0:
        return None
    read = read if read is not None else _read_all(charge_reads(tables, payer, at))
    if payer.entity_type == "clinic":
        _check_cap(read.get("cap"), read["spend"], quote.total)
    entry = ledger.Entry(
        "debit",
        -quote.total,
        f"Prescription {number}",
        payer.member_id,
        f"rx:{prescription_id}",
        related_type="prescription",
        related_id=prescription_id,
        detail=quote.detail(),
        member_id=payer.member_id,
    )
    return ledger.post(
        tables,
        payer.entity_type,
        payer.entity_id,
        [entry],
        at,
        wallet=read["wallet"],
        spend_rows={(payer.member_id, at[:7]): read["spend"]},
        keys_checked=True,
    )


def precheck(payer: Payer, quote: Quote, read: dict[str, Any]) -> None:
    """Refuse early (402) what the wallet plainly cannot pay and no automatic top-up could cover, before anything
    is written (`read` as `charge_reads` answered); `charge`, inside the transaction, is what decides."""
    if quote.total <= 0:
        return
    wallet = read.get("wallet") or {}
    if payer.entity_type == "clinic":
        _check_cap(read.get("cap"), read["spend"], quote.total)
    available = int(wallet.get("balance") or 0) + int(wallet.get("overdraft_limit") or 0)
    coming = bool(wallet.get("top_up_pending")) or policy.can_top_up(wallet)
    if available < quote.total and not coming:
        raise PaymentRequired(
            "wallet_insufficient_balance",
            f"The wallet holds {wallet.get('balance') or 0} tokens; this needs {quote.total}.",
        )


def _check_cap(cap: dict[str, Any] | None, spent_row: dict[str, Any] | None, tokens: int) -> None:
    if cap is None or cap.get("monthly_cap") is None:
        return
    spent = int(spent_row["spent"]) if spent_row else 0
    if spent + tokens > int(cap["monthly_cap"]):
        raise PaymentRequired(
            "wallet_member_cap_exceeded",
            f"Your clinic caps your spend from its pool at {cap['monthly_cap']} tokens a month; "
            f"{spent} are spent and this needs {tokens}.",
        )


def refund(tables: TableStore, prescription_id: str, actor_id: str, at: str) -> ledger.Posting | None:
    """Give back what a prescription was charged (once; None when it was free or is refunded already)."""
    debit = ledger.find(tables, f"rx:{prescription_id}")
    if debit is None:
        return None
    wallet = tables.get("wallets", debit["wallet_id"])
    if wallet is None:
        return None
    entry = ledger.Entry(
        "refund",
        -int(debit["amount"]),
        f"Refund: {debit['reason']} cancelled"[:200],
        actor_id,
        f"rx:{prescription_id}:refund",
        related_type="prescription",
        related_id=prescription_id,
        detail={"debit": debit["seq"], "refundedControlledTokens": _controlled_tokens(debit)},
        member_id=debit.get("member_id"),
    )
    posting = ledger.post(tables, wallet["entity_type"], wallet["entity_id"], [entry], at, wallet=wallet)
    return posting if posting.applied else None


def _controlled_tokens(debit: dict[str, Any]) -> int:
    return int(json.loads(debit.get("detail") or "{}").get("controlledTokens") or 0)


def top_up_before_refusing(
    tables: TableStore, payer: Payer, now: Callable[[], str], sleep: Callable[[float], None] = time.sleep
) -> bool:
    """A charge found the balance short: when auto top-up is on, start one (unless one is already on its way) and
    wait up to TOP_UP_WAIT_SECONDS for it to settle. True when a top-up settled (the charge is worth deciding
    again); False when there is none to wait for or it did not settle in time (the caller refuses with 402)."""

    def start() -> str | None:
        tx = tables.begin()
        try:
            wallet = tables.get("wallets", payer.wallet_id)
            if wallet is not None and wallet.get("top_up_pending") and not wallet.get("top_up_paused"):
                tables.rollback(tx)
                return str(wallet["top_up_pending"])
            if wallet is None or not policy.can_top_up(wallet):
                tables.rollback(tx)
                return None
            started = policy.top_up_request(wallet, payer.entity_type, payer.entity_id, int(wallet["balance"]), now())
            operations = [tables.op("update", "wallets", payer.wallet_id, started.updates)]
            operations += [tables.op("create", table, row_id, row) for table, row_id, row in started.rows]
            tables.commit(operations, tx)
            return str(started.updates["top_up_pending"])
        except BaseException:
            tables.rollback(tx)
            raise

    pending = retry_conflicts(start)
    if pending is None:
        return False
    deadline = time.monotonic() + TOP_UP_WAIT_SECONDS
    while time.monotonic() < deadline:
        request = tables.get("wallet_top_ups", pending) or {}
        if request.get("status") in ("succeeded", "failed"):
            return request["status"] == "succeeded"
        sleep(0.1)
    return False


def spend_of(tables: TableStore, wallet: str, member_id: str, month: str) -> int:
    row = tables.get("wallet_member_spend", ledger.spend_id(wallet, member_id, month))
    return int(row["spent"]) if row else 0


def cap_of(tables: TableStore, wallet: str, member_id: str) -> int | None:
    row = tables.get("wallet_member_caps", cap_id(wallet, member_id))
    return None if row is None or row.get("monthly_cap") is None else int(row["monthly_cap"])


def public_wallet(wallet: dict[str, Any] | None, entity_type: str, entity_id: str) -> dict[str, Any]:
    """A wallet as the token-management function answers it (a wallet never written holds 0)."""
    w = wallet or {}
    return {
        "walletId": wallet_id(entity_type, entity_id),
        "entityType": entity_type,
        "entityId": entity_id,
        "balance": int(w.get("balance") or 0),
        "overdraftLimit": int(w.get("overdraft_limit") or 0),
        "lowBalanceThreshold": int(w.get("low_balance_threshold") or 0),
        "autoTopUp": {
            "enabled": bool(w.get("auto_top_up")),
            "threshold": int(w.get("top_up_threshold") or 0),
            "planId": w.get("top_up_plan_id"),
            "pending": w.get("top_up_pending"),
            "paused": w.get("top_up_paused"),
        },
        "updatedAt": w.get("updated_at"),
    }
