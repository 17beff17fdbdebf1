"""token-management: a prescriber's own token wallet or a clinic's shared pool — balance, ledger history, caps,
auto top-up and warnings, analytics, CSV export; platform admins adjust balances and set prices. Spending happens
in prescription-create (rxcore.wallet.spending); buying in billing-process. See docs/functions/token-management.md.

Who sees what: a prescriber their own wallet; a clinic's owners and admins its pool and every member's spend; a
member of a clinic on the Clinic plan only their own spend from the pool (and their cap); anyone else 403/404."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from appwrite.query import Query

from rxcore import csvsafe
from rxcore.actions import Dispatcher
from rxcore.audit import Change, commit_with_audit
from rxcore.clock import iso
from rxcore.errors import BadRequest, Forbidden, NotFound
from rxcore.identity import Caller, is_platform_admin
from rxcore.settings import WalletSettings
from rxcore.tables import page
from rxcore.wallet import analytics as spend_analytics
from rxcore.wallet import ledger, pricing, spending
from rxcore.wallet.access import CLINIC_ADMIN_ROLES, owners, wallet_id
from rxcore.wallet.requests import (
    Adjust,
    Analytics,
    Configure,
    Export,
    History,
    PricingRef,
    SetCap,
    SetPricing,
    WalletRef,
    Window,
)

actions = Dispatcher("token-management", default="balance", settings=WalletSettings)
ENTRY_FIELDS = (
    "seq",
    "kind",
    "amount",
    "balance_after",
    "reason",
    "actor_id",
    "member_id",
    "related_type",
    "related_id",
)
EXPORT_ROWS = 50_000
ANALYTICS_DAYS = 92  # the default window: about a quarter


@dataclass(frozen=True)
class View:
    """A wallet as the caller may see it: all of it (`member` None), or one member's part of a clinic pool."""

    entity_type: str
    entity_id: str
    member: str | None

    @property
    def wallet_id(self) -> str:
        return wallet_id(self.entity_type, self.entity_id)


def view_of(c: Caller, clinic_id: str | None) -> View:
    if clinic_id is None:
        c.practitioner("prescriber")
        return View("individual", c.user_id, None)
    try:
        c.clinic_member(clinic_id, CLINIC_ADMIN_ROLES)
        return View("clinic", clinic_id, None)
    except NotFound:
        c.practitioner("prescriber", clinic_id)  # 403 / 404 for anyone who is not its prescriber
        return View("clinic", clinic_id, c.user_id)


def _admin_view(c: Caller, clinic_id: str | None) -> View:
    view = view_of(c, clinic_id)
    if view.member is not None:
        raise Forbidden("wallet_admin_required", "Only the clinic's owners and admins manage its pool.")
    return view


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    return (
        {"$id": row["$id"], "createdAt": row["created_at"]}
        | {k: row.get(k) for k in ENTRY_FIELDS}
        | {"detail": json.loads(row["detail"]) if row.get("detail") else None}
    )


def _window_queries(view: View, params: Window) -> list[str]:
    queries = [Query.equal("wallet_id", view.wallet_id)]
    if view.member is not None:
        queries.append(Query.equal("member_id", view.member))
    if params.from_:
        queries.append(Query.greater_than_equal("created_at", _midnight(params.from_)))
    if params.to:
        queries.append(Query.less_than("created_at", _midnight(params.to)))
    return queries


def _midnight(day: date) -> str:
    return iso(datetime.combine(day, time.min, UTC))


# --- reading ------------------------------------------------------------------------------------------------------
@actions.action("balance", WalletRef)
def balance(c: Caller, params: WalletRef) -> dict[str, Any]:
    """The wallet (balance, settings) with this month's spend; a clinic member gets their own spend and cap."""
    view = view_of(c, params.clinic_id)
    month = iso(c.now)[:7]
    if view.member is not None:
        spent = spending.spend_of(c.tables, view.wallet_id, view.member, month)
        cap = spending.cap_of(c.tables, view.wallet_id, view.member)
        remaining = None if cap is None else max(cap - spent, 0)
        return {
            "wallet": None,
            "member": {"memberId": view.member, "month": month, "spent": spent, "cap": cap, "remaining": remaining},
        }
    wallet = c.tables.get("wallets", view.wallet_id)
    members = c.tables.list(
        "wallet_member_spend",
        [Query.equal("wallet_id", view.wallet_id), Query.equal("month", month), Query.limit(500)],
    )
    caps = {r["member_id"]: r.get("monthly_cap") for r in _caps(c, view)}
    spend = [{"memberId": r["member_id"], "spent": r["spent"], "cap": caps.get(r["member_id"])} for r in members]
    return {
        "wallet": spending.public_wallet(wallet, view.entity_type, view.entity_id),
        "month": month,
        "members": spend,
    }


def _caps(c: Caller, view: View) -> list[dict[str, Any]]:
    if view.entity_type != "clinic":
        return []
    return c.tables.list("wallet_member_caps", [Query.equal("wallet_id", view.wallet_id), Query.limit(500)])


@actions.action("history", History)
def history(c: Caller, params: History) -> dict[str, Any]:
    """A page of ledger entries, newest first (a member of a clinic pool: only theirs)."""
    view = view_of(c, params.clinic_id)
    queries = _window_queries(view, params)
    if params.member_id and view.member is None:
        queries.append(Query.equal("member_id", params.member_id))
    if params.kinds:
        queries.append(Query.equal("kind", list(params.kinds)))
    queries.append(Query.order_desc("seq"))
    rows, cursor = page(c.tables, "wallet_transactions", queries, params.limit, params.cursor)
    return {"entries": [_entry(r) for r in rows], "nextCursor": cursor}


@actions.action("analytics", Analytics)
def analytics(c: Caller, params: Analytics) -> dict[str, Any]:
    """Spend per day/week/month, per prescriber, controlled or not; burn rate over 30 days and days left."""
    view = view_of(c, params.clinic_id)
    today = c.now.date()
    window = params.model_copy(update={"from_": params.from_ or today - timedelta(days=ANALYTICS_DAYS)})
    rows = list(
        c.tables.each("wallet_transactions", _window_queries(view, window) + [Query.equal("kind", ["debit", "refund"])])
    )
    balance = None if view.member is not None else ledger.balance(c.tables, view.entity_type, view.entity_id)
    names = _names(c, {r.get("member_id") or r["actor_id"] for r in rows})
    return spend_analytics.summarise(rows, params.granularity, today, balance, names)


def _names(c: Caller, member_ids: set[str]) -> dict[str, str]:
    ids = sorted(m for m in member_ids if m)[:100]
    if not ids:
        return {}
    rows = c.tables.list("practitioners", [Query.equal("$id", ids), Query.select(["$id", "name"]), Query.limit(100)])
    return {r["$id"]: r["name"] for r in rows}


@actions.action("export", Export)
def export(c: Caller, params: Export) -> dict[str, Any]:
    """The ledger in the range as CSV (cells that a spreadsheet would run as formulas are quoted)."""
    view = view_of(c, params.clinic_id)
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(["id", "created_at", *ENTRY_FIELDS])
    count = 0
    for row in c.tables.each("wallet_transactions", _window_queries(view, params) + [Query.order_asc("seq")]):
        writer.writerow([row["$id"], row["created_at"], *(row.get(k) for k in ENTRY_FIELDS)])
        count += 1
        if count >= EXPORT_ROWS:
            raise BadRequest("wallet_export_too_large", f"Over {EXPORT_ROWS} entries: export a shorter range.")
    event = c.event("reader", "wallet.exported", "wallet", view.wallet_id, _clinic(view), None, rows=count)
    commit_with_audit(c.tables, lambda _tx: Change([], [event], None), lambda: c.now)
    name = f"ledger-{view.entity_type}-{iso(c.now)[:10]}.csv"
    return {"filename": name, "contentType": "text/csv", "rows": count, "csv": out.getvalue()}


def _clinic(view: View) -> str | None:
    return view.entity_id if view.entity_type == "clinic" else None


# --- managing -----------------------------------------------------------------------------------------------------
@actions.action("adjust", Adjust)
def adjust(c: Caller, params: Adjust) -> dict[str, Any]:
    """Add or take tokens by hand with a reason (platform admins); once per idempotency key."""
    if not is_platform_admin(c):
        raise Forbidden("wallet_admin_required", "Only a platform admin may adjust a wallet.")
    if params.clinic_id:
        entity_type, entity_id, table = "clinic", params.clinic_id, "clinics"
    else:
        entity_type, entity_id, table = "individual", params.prescriber_id or "", "practitioners"
    if c.tables.get(table, entity_id) is None:
        raise NotFound("wallet_not_found", f"No {entity_type} wallet owner has this id.")
    key = f"adjust:{c.user_id}:{params.idempotency_key}"

    def decide(_tx: str | None) -> Change[dict[str, Any]] | dict[str, Any]:
        existing = ledger.find(c.tables, key)
        if existing is not None:
            return {"entry": _entry(existing), "replayed": True}
        entry = ledger.Entry("adjustment", params.amount, params.reason, c.user_id, key, related_type="admin")
        posting = ledger.post(c.tables, entity_type, entity_id, [entry], iso(c.now))
        event = c.event(
            "admin",
            "wallet.adjusted",
            "wallet",
            wallet_id(entity_type, entity_id),
            entity_id if entity_type == "clinic" else None,
            None,
            amount=params.amount,
            reason=params.reason,
            balance_after=posting.balance_after,
        )
        answer = {
            "entry": _entry(
                {"$id": ledger.entry_row_id(posting.wallet["$id"], posting.applied[0]["seq"])} | posting.applied[0]
            ),
            "replayed": False,
        }
        return Change(posting.operations, [event], answer, messages=posting.messages)

    return commit_with_audit(c.tables, decide, lambda: c.now, transactional_reads=True)


@actions.action("set_cap", SetCap)
def set_cap(c: Caller, params: SetCap) -> dict[str, Any]:
    """Cap (or uncap, with null) what one member may spend from the clinic's pool each calendar month."""
    view = _admin_view(c, params.clinic_id)
    member = c.tables.get("practitioners", params.member_id)
    if member is None or params.clinic_id not in (member.get("clinic_ids") or []):
        raise NotFound("practitioner_not_found", "No practitioner of this clinic has this id.")
    row_id = spending.cap_id(view.wallet_id, params.member_id)
    data = {
        "wallet_id": view.wallet_id,
        "member_id": params.member_id,
        "monthly_cap": params.monthly_cap,
        "set_by": c.user_id,
        "updated_at": iso(c.now),
    }
    readers = owners("clinic", params.clinic_id) + [f'read("user:{params.member_id}")']
    event = c.event(
        "clinic_admin",
        "wallet.cap_set",
        "wallet",
        view.wallet_id,
        params.clinic_id,
        None,
        member=params.member_id,
        monthly_cap=params.monthly_cap,
    )

    def decide(_tx: str | None) -> Change[dict[str, Any]]:
        exists = c.tables.get("wallet_member_caps", row_id) is not None
        operation = c.tables.op(
            "update" if exists else "create",
            "wallet_member_caps",
            row_id,
            data if exists else data | {"$permissions": readers},
        )
        return Change([operation], [event], {"memberId": params.member_id, "monthlyCap": params.monthly_cap})

    return commit_with_audit(c.tables, decide, lambda: c.now, transactional_reads=True)


@actions.action("configure", Configure)
def configure(c: Caller, params: Configure) -> dict[str, Any]:
    """Low-balance warnings, auto top-up (saving it again resumes one paused by a failure), a clinic's overdraft."""
    view = _admin_view(c, params.clinic_id)
    updates: dict[str, Any] = {}
    if params.low_balance_threshold is not None:
        updates["low_balance_threshold"] = params.low_balance_threshold
    if params.overdraft_limit is not None:
        _check_overdraft(c, view, params.overdraft_limit)
        updates["overdraft_limit"] = params.overdraft_limit
    if params.auto_top_up is not None:
        updates |= _top_up_settings(c, view, params)
    if not updates:
        raise BadRequest("general_argument_invalid", "Nothing to change: give at least one setting.")

    def decide(_tx: str | None) -> Change[dict[str, Any]]:
        wallet = c.tables.get("wallets", view.wallet_id)
        at = iso(c.now)
        if wallet is None:  # a wallet that never held tokens: made here, empty (its ledger sums to 0)
            data = updates | {
                "entity_type": view.entity_type,
                "entity_id": view.entity_id,
                "balance": 0,
                "updated_at": at,
                "$permissions": owners(view.entity_type, view.entity_id),
            }
            operation = c.tables.op("create", "wallets", view.wallet_id, data)
        else:
            operation = c.tables.op("update", "wallets", view.wallet_id, updates | {"updated_at": at})
        shown = {k: v for k, v in updates.items() if k != "top_up_payment_method"}
        event = c.event("owner", "wallet.configured", "wallet", view.wallet_id, _clinic(view), None, **shown)
        after = (wallet or {}) | updates
        return Change([operation], [event], {"wallet": spending.public_wallet(after, view.entity_type, view.entity_id)})

    return commit_with_audit(c.tables, decide, lambda: c.now, transactional_reads=True)


def _check_overdraft(c: Caller, view: View, limit: int) -> None:
    allowed = c.settings.max_overdraft  # type: ignore[attr-defined]
    if limit and view.entity_type != "clinic":
        raise BadRequest("wallet_overdraft_not_allowed", "Only a clinic's shared pool may have an overdraft.")
    if limit > allowed:
        raise BadRequest("wallet_overdraft_not_allowed", f"This platform allows an overdraft of at most {allowed}.")


def _top_up_settings(c: Caller, view: View, params: Configure) -> dict[str, Any]:
    top_up = params.auto_top_up
    assert top_up is not None
    if not top_up.enabled:
        return {"auto_top_up": False}
    plan = c.tables.get("billing_plans", top_up.plan_id or "")
    if plan is None or not plan["active"] or plan["kind"] != "token_pack":
        raise NotFound("billing_plan_not_found", "No token pack on sale has this id.")
    if plan["entity_type"] not in ("any", view.entity_type):
        raise BadRequest("billing_plan_not_for_entity", f"This pack is not sold to {view.entity_type} accounts.")
    if not plan.get(f"amount_{top_up.currency}"):
        raise BadRequest("billing_currency_unavailable", f"This pack has no price in {top_up.currency.upper()}.")
    return {
        "auto_top_up": True,
        "top_up_threshold": top_up.threshold,
        "top_up_plan_id": plan["$id"],
        "top_up_currency": top_up.currency,
        "top_up_payment_method": top_up.payment_method_id,
        "top_up_set_by": c.user_id,
        "top_up_paused": None,
    }


# --- prices -------------------------------------------------------------------------------------------------------
@actions.action("pricing", PricingRef)
def get_pricing(c: Caller, params: PricingRef) -> dict[str, Any]:
    """The pricing in force for a clinic (its own, else the default; none: prescribing is free)."""
    if params.clinic_id:
        c.practitioner("prescriber", params.clinic_id)
        found = pricing.load(c.tables, params.clinic_id)
    else:
        row = c.tables.get(pricing.TABLE, pricing.DEFAULT)
        found = pricing.Pricing.from_row(row) if row and row.get("active", True) else None
    return {"pricing": None if found is None else found.__dict__}


@actions.action("set_pricing", SetPricing)
def set_pricing(c: Caller, params: SetPricing) -> dict[str, Any]:
    """Set the default pricing or one clinic's (platform admins; audited)."""
    if not is_platform_admin(c):
        raise Forbidden("wallet_admin_required", "Only a platform admin may set prices.")
    if params.clinic_id and c.tables.get("clinics", params.clinic_id) is None:
        raise NotFound("clinic_not_found", "No clinic has this id.")
    row_id = pricing.row_id_for(params.clinic_id)
    data = {
        "clinic_id": params.clinic_id,
        "base_per_item": params.base_per_item,
        "controlled_surcharge": params.controlled_surcharge,
        "repeat_discount_percent": params.repeat_discount_percent,
        "active": params.active,
        "updated_by": c.user_id,
        "updated_at": iso(c.now),
    }
    event = c.event(
        "admin",
        "pricing.set",
        "token_pricing",
        row_id,
        params.clinic_id,
        None,
        **{k: v for k, v in data.items() if k not in ("clinic_id", "updated_by", "updated_at")},
    )

    def decide(_tx: str | None) -> Change[dict[str, Any]]:
        exists = c.tables.get(pricing.TABLE, row_id) is not None
        operation = c.tables.op(
            "update" if exists else "create",
            pricing.TABLE,
            row_id,
            data if exists else data | {"$permissions": ['read("users")']},
        )
        return Change([operation], [event], {"pricing": pricing.Pricing.from_row({"$id": row_id} | data).__dict__})

    return commit_with_audit(c.tables, decide, lambda: c.now, transactional_reads=True)
