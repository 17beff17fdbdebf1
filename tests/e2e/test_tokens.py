"""token-management and spending tokens on prescriptions, end to end: the real functions in the executor
(prescription-create charging in its own transaction, token-management, billing-process with localstripe for
automatic top-ups), called by signed-in users through the official SDK.

The module builds its own clinic on the Clinic plan (20 prescribers drawing from one pool) and its own clinic
pricing row, so the rest of the suite keeps prescribing for free (no default pricing is set)."""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.tables_db import TablesDB
from appwrite.services.users import Users

from rxcore import clinics
from rxcore.audit import verify_chain
from rxcore.wallet import ledger, pricing
from tests.support.rx_world import morphine_item, uk_item
from tests.support.scripts import run_script

pytestmark = pytest.mark.e2e

MEMBERS = 20
POOL_PACK = "pool-tokens-1000"
SOLO_PACK = "solo-tokens-50"


@pytest.fixture(scope="module")
def pool(rx, stripe_server):
    """A UK clinic on the Clinic plan with MEMBERS prescribers, its owner, a patient, and clinic pricing of
    1 token per item, +4 for a controlled drug, 50% off an item with repeats."""
    owner = rx.user("pool_owner", "Pool Owner")
    clinic = clinics.create_clinic(rx.admin, admin_user_id=owner.id, name="Pool Clinic", country="UK",
                                   ods_code="C83003", address="3 Pool St, Leeds LS2 7AA")["$id"]  # fmt: skip
    rx.clinics["pool"] = clinic
    for n in range(MEMBERS):
        rx.staff(f"pool_doc{n}", "pool", f"Dr Pool {n}", "prescriber", "GMC", str(3000000 + n))
    rx.patients["pool"] = clinics.add_patient(
        rx.admin, clinic_id=clinic, today=date.today(),
        data={"given_name": "Pat", "family_name": "Pool", "date_of_birth": "1985-03-03", "nhs_number": "9990000042",
              "address": "4 Pool St, Leeds", "postcode": "LS2 7AA"},
    )  # fmt: skip
    if "platform_admin" not in rx.people:
        Users(rx.admin).update_labels(rx.user("platform_admin", "Platform Admin").id, ["admin"])
    plans = {
        "clinic-plan": {"name": "Clinic plan", "kind": "subscription", "entity_type": "clinic", "tokens": 500,
                        "amount_gbp": 9900, "interval": "month", "active": True},
        POOL_PACK: {"name": "1,000 pool tokens", "kind": "token_pack", "entity_type": "clinic", "tokens": 1000,
                    "amount_gbp": 14900, "active": True},
        SOLO_PACK: {"name": "50 tokens", "kind": "token_pack", "entity_type": "any", "tokens": 50,
                    "amount_gbp": 999, "active": True},
    }  # fmt: skip
    for plan_id, row in plans.items():
        if rx.tables.get("billing_plans", plan_id) is None:
            rx.tables.create("billing_plans", plan_id, row)
    body = {"action": "subscribe", "planId": "clinic-plan", "currency": "gbp", "paymentMethodId": "pm_card_visa",
            "clinicId": clinic, "idempotencyKey": secrets.token_hex(8)}  # fmt: skip
    code, answer = rx.execute("pool_owner", "billing-process", body)
    assert code == 200 and answer["subscription"]["status"] == "active", answer
    code, answer = manage(rx, "platform_admin", "set_pricing", clinicId=clinic, basePerItem=1, controlledSurcharge=4,
                          repeatDiscountPercent=50)  # fmt: skip
    assert code == 200, answer
    return rx


def manage(rx, who, action, **body):
    return rx.execute(who, "token-management", {"action": action} | body)


def set_balance(rx, clinic_or_none, tokens: int, who_id: str | None = None) -> None:
    """Bring a wallet to exactly `tokens` with a platform admin's adjustment (as an operator would)."""
    entity = ("clinic", clinic_or_none) if clinic_or_none else ("individual", who_id)
    now = ledger.balance(rx.tables, *entity)
    if now == tokens:
        return
    target = {"clinicId": clinic_or_none} if clinic_or_none else {"prescriberId": who_id}
    code, answer = manage(rx, "platform_admin", "adjust", amount=tokens - now, reason="test set-up",
                          idempotencyKey=secrets.token_hex(8), **target)  # fmt: skip
    assert code == 200, answer
    assert ledger.balance(rx.tables, *entity) == tokens


def prescribe_in_pool(rx, who, items=None, key=None, **extra):
    return rx.prescribe(who, clinicId=rx.clinics["pool"], patientId=rx.patients["pool"]["$id"],
                        items=items or [uk_item()], idempotencyKey=key or secrets.token_hex(8), **extra)  # fmt: skip


def pool_counts(rx) -> dict[str, int]:
    clinic = rx.clinics["pool"]
    wallet = ledger.wallet_id("clinic", clinic)
    return {
        "prescriptions": len(rx.tables.list("prescriptions", [Query.equal("clinic_id", clinic), Query.limit(5000)])),
        "ledger": len(rx.tables.list("wallet_transactions", [Query.equal("wallet_id", wallet), Query.limit(5000)])),
        "audit": len(rx.tables.list("audit_events", [Query.equal("chain", clinic), Query.limit(5000)])),
    }


# --- spending ------------------------------------------------------------------------------------------------------
def test_the_plan_allowance_is_spent_on_prescriptions_at_the_configured_prices(pool):
    rx, clinic = pool, pool.clinics["pool"]
    set_balance(rx, clinic, 30)
    code, answer = prescribe_in_pool(rx, "pool_doc0", [uk_item(), morphine_item(), uk_item(repeats=0)])
    assert code == 200, answer
    assert answer["charge"] == {"tokens": 1 + 5 + 1, "wallet": "clinic", "balanceAfter": None}  # the pool is private
    assert ledger.balance(rx.tables, "clinic", clinic) == 23
    entry = ledger.find(rx.tables, f"rx:{answer['prescription']['$id']}")
    doc = rx.people["pool_doc0"].id
    assert (entry["kind"], entry["amount"], entry["balance_after"], entry["member_id"]) == ("debit", -7, 23, doc)
    code, mine = manage(rx, "pool_doc0", "balance", clinicId=clinic)
    assert code == 200 and mine["wallet"] is None and mine["member"]["spent"] >= 7, mine
    code, full = manage(rx, "pool_owner", "balance", clinicId=clinic)
    assert code == 200 and full["wallet"]["balance"] == 23, full
    assert ledger.verify(rx.tables, "clinic", clinic) is None


def test_not_enough_tokens_is_a_402_and_writes_nothing(pool):
    rx, clinic = pool, pool.clinics["pool"]
    set_balance(rx, clinic, 4)
    before = pool_counts(rx), rx.tables.get("clinics", clinic)["eps_sequence"]
    code, answer = prescribe_in_pool(rx, "pool_doc1", [morphine_item()])  # 5 tokens
    assert (code, answer["type"]) == (402, "wallet_insufficient_balance"), answer
    assert (pool_counts(rx), rx.tables.get("clinics", clinic)["eps_sequence"]) == before
    assert ledger.balance(rx.tables, "clinic", clinic) == 4


def test_a_replayed_key_answers_the_first_prescription_and_charges_once(pool):
    rx, clinic = pool, pool.clinics["pool"]
    set_balance(rx, clinic, 10)
    key = secrets.token_hex(8)
    with ThreadPoolExecutor(4) as threads:
        results = list(threads.map(lambda _: prescribe_in_pool(rx, "pool_doc2", key=key), range(4)))
    assert {code for code, _ in results} == {200}, results
    assert len({answer["prescription"]["$id"] for _, answer in results}) == 1
    assert ledger.balance(rx.tables, "clinic", clinic) == 9


def test_cancelling_before_anything_is_dispensed_refunds_once(pool):
    rx, clinic = pool, pool.clinics["pool"]
    set_balance(rx, clinic, 10)
    code, answer = prescribe_in_pool(rx, "pool_doc3", [morphine_item()], sign=True)
    assert code == 200 and ledger.balance(rx.tables, "clinic", clinic) == 5
    body = {"action": "cancel", "prescriptionId": answer["prescription"]["$id"], "reason": "Wrong patient"}
    code, cancelled = rx.execute("pool_doc3", "prescription-create", body)
    assert code == 200 and cancelled["tokensRefunded"] == 5, cancelled
    code, again = rx.execute("pool_doc3", "prescription-create", body)
    assert code == 200 and again["replayed"] is True
    assert ledger.balance(rx.tables, "clinic", clinic) == 10
    refunds = [e for e in ledger_rows(rx, clinic) if e["related_id"] == answer["prescription"]["$id"]]
    assert sorted((e["kind"], e["amount"]) for e in refunds) == [("debit", -5), ("refund", 5)]


def ledger_rows(rx, clinic) -> list[dict]:
    wallet = ledger.wallet_id("clinic", clinic)
    return list(rx.tables.each("wallet_transactions", [Query.equal("wallet_id", wallet)]))


def test_a_member_cap_stops_their_spend_not_the_others(pool):
    rx, clinic = pool, pool.clinics["pool"]
    set_balance(rx, clinic, 50)
    doc = rx.people["pool_doc4"].id
    month_spent = manage(rx, "pool_doc4", "balance", clinicId=clinic)[1]["member"]["spent"]
    code, answer = manage(rx, "pool_owner", "set_cap", clinicId=clinic, memberId=doc, monthlyCap=month_spent + 2)
    assert code == 200, answer
    assert prescribe_in_pool(rx, "pool_doc4", [uk_item(), uk_item()])[0] == 200
    code, refused = prescribe_in_pool(rx, "pool_doc4")
    assert (code, refused["type"]) == (402, "wallet_member_cap_exceeded"), refused
    assert prescribe_in_pool(rx, "pool_doc5")[0] == 200  # another member draws on as before
    code, mine = manage(rx, "pool_doc4", "balance", clinicId=clinic)
    assert mine["member"]["cap"] == month_spent + 2 and mine["member"]["remaining"] == 0
    assert manage(rx, "pool_owner", "set_cap", clinicId=clinic, memberId=doc, monthlyCap=None)[0] == 200
    assert prescribe_in_pool(rx, "pool_doc4")[0] == 200


def test_a_thousand_deductions_from_twenty_prescribers_fifty_at_a_time(pool):
    """Never negative; exactly as many succeed as the balance allows; the ledger sums to the balance."""
    rx, clinic = pool, pool.clinics["pool"]
    allowed = 600
    set_balance(rx, clinic, allowed)
    before = pool_counts(rx)

    def one(n: int) -> tuple[int, str | None]:
        code, answer = prescribe_in_pool(rx, f"pool_doc{n % MEMBERS}")
        return code, answer.get("type")

    with ThreadPoolExecutor(50) as threads:
        answers = list(threads.map(one, range(1000)))
    codes = [code for code, _type in answers]
    unexpected = sorted({(code, kind) for code, kind in answers if code not in (200, 402)})
    assert codes.count(200) == allowed and codes.count(402) == 1000 - allowed, unexpected
    assert ledger.balance(rx.tables, "clinic", clinic) == 0
    assert ledger.verify(rx.tables, "clinic", clinic) is None
    after = pool_counts(rx)
    assert after["prescriptions"] - before["prescriptions"] == allowed
    assert after["ledger"] - before["ledger"] == allowed
    assert min(e["balance_after"] for e in ledger_rows(rx, clinic)) >= 0
    chain = rx.tables.list("audit_events", [Query.equal("chain", clinic), Query.order_asc("seq"), Query.limit(5000)])
    assert verify_chain(chain) is None


# --- automatic top-up and warnings ---------------------------------------------------------------------------------
def test_a_burst_of_100_deductions_starts_exactly_one_top_up(pool):
    rx, clinic = pool, pool.clinics["pool"]
    set_balance(rx, clinic, 60)
    settings = {"enabled": True, "threshold": 50, "planId": POOL_PACK, "currency": "gbp",
                "paymentMethodId": "pm_card_visa"}  # fmt: skip
    code, answer = manage(rx, "pool_owner", "configure", clinicId=clinic, autoTopUp=settings, lowBalanceThreshold=55)
    assert code == 200 and answer["wallet"]["autoTopUp"]["enabled"] is True, answer
    wallet = ledger.wallet_id("clinic", clinic)
    outbox_before = warnings(rx, wallet)
    with ThreadPoolExecutor(50) as threads:
        codes = list(threads.map(lambda n: prescribe_in_pool(rx, f"pool_doc{n % MEMBERS}")[0], range(100)))
    assert codes.count(200) == 100, sorted(set(codes))
    top_ups = rx.tables.list("wallet_top_ups", [Query.equal("wallet_id", wallet)])
    assert len(top_ups) == 1, top_ups

    def settled():
        row = rx.tables.get("wallet_top_ups", top_ups[0]["$id"])
        return row if row["status"] != "requested" else None

    deadline = time.monotonic() + 15
    while not settled():
        assert time.monotonic() < deadline, "the top-up did not settle"
        time.sleep(0.2)
    assert settled()["status"] == "succeeded"
    assert ledger.balance(rx.tables, "clinic", clinic) == 60 - 100 + 1000
    assert ledger.verify(rx.tables, "clinic", clinic) is None
    assert rx.tables.get("wallets", wallet)["top_up_pending"] is None
    assert len(warnings(rx, wallet)) == len(outbox_before) + 1  # one low-balance warning for the one crossing
    manage(rx, "pool_owner", "configure", clinicId=clinic, autoTopUp={"enabled": False})


def warnings(rx, wallet_id: str) -> list[dict]:
    rows = rx.tables.list("notification_outbox", [Query.equal("topic", "wallet.low_balance"), Query.limit(500)])
    return [r for r in rows if r["key"].startswith(f"wallet.low_balance:{wallet_id}:")]


def test_a_declined_top_up_pauses_auto_top_up_and_tells_the_owner(pool):
    rx, clinic = pool, pool.clinics["pool"]
    set_balance(rx, clinic, 3)
    settings = {"enabled": True, "threshold": 50, "planId": POOL_PACK, "currency": "gbp",
                "paymentMethodId": "pm_card_chargeDeclined"}  # fmt: skip
    assert manage(rx, "pool_owner", "configure", clinicId=clinic, autoTopUp=settings)[0] == 200
    code, answer = prescribe_in_pool(rx, "pool_doc6", [morphine_item()])  # 5 > 3: waits for the top-up, which fails
    assert (code, answer["type"]) == (402, "wallet_insufficient_balance"), answer
    wallet = rx.tables.get("wallets", ledger.wallet_id("clinic", clinic))
    assert wallet["top_up_pending"] is None and "failed" in wallet["top_up_paused"]
    failed = rx.tables.list("notification_outbox", [Query.equal("topic", "wallet.top_up_failed"), Query.limit(100)])
    assert any(clinic in r["payload"] for r in failed)
    code, shown = manage(rx, "pool_owner", "balance", clinicId=clinic)
    assert shown["wallet"]["autoTopUp"]["paused"] == wallet["top_up_paused"]
    assert manage(rx, "pool_owner", "configure", clinicId=clinic, autoTopUp={"enabled": False})[0] == 200


# --- history, analytics, export ------------------------------------------------------------------------------------
def test_history_pages_with_cursors_and_members_see_only_their_own(pool):
    rx, clinic = pool, pool.clinics["pool"]
    code, first = manage(rx, "pool_owner", "history", clinicId=clinic, limit=5, kinds=["debit"])
    assert code == 200 and len(first["entries"]) == 5 and first["nextCursor"], first
    code, second = manage(rx, "pool_owner", "history", clinicId=clinic, limit=5, kinds=["debit"],
                          cursor=first["nextCursor"])  # fmt: skip
    assert not {e["$id"] for e in first["entries"]} & {e["$id"] for e in second["entries"]}
    doc = rx.people["pool_doc7"].id
    code, mine = manage(rx, "pool_doc7", "history", clinicId=clinic, limit=100, memberId="someone-else")
    assert code == 200 and mine["entries"] and {e["member_id"] for e in mine["entries"]} == {doc}
    rows = TablesDB(rx.people["pool_doc7"].client).list_rows("main", "wallet_transactions", [Query.limit(100)]).rows
    assert rows and {r.data["member_id"] for r in rows} == {doc}  # row permissions say the same


def test_analytics_and_csv_export_agree_with_the_ledger(pool):
    rx, clinic = pool, pool.clinics["pool"]
    code, stats = manage(rx, "pool_owner", "analytics", clinicId=clinic, granularity="month")
    assert code == 200, stats
    spend = [e for e in ledger_rows(rx, clinic) if e["kind"] in ("debit", "refund")]
    assert stats["totalSpent"] == -sum(e["amount"] for e in spend)
    assert sum(p["tokens"] for p in stats["spend"]) == stats["totalSpent"]
    assert sum(m["tokens"] for m in stats["byPrescriber"]) == stats["totalSpent"]
    assert stats["byCategory"]["controlled"] > 0 and stats["burnRatePerDay"] > 0
    code, empty = manage(rx, "pool_owner", "analytics", clinicId=clinic, to="2020-01-01")  # before the default window
    assert code == 200 and empty["totalSpent"] == 0, empty
    code, export = manage(rx, "pool_owner", "export", clinicId=clinic)
    assert code == 200 and export["contentType"] == "text/csv"
    lines = export["csv"].strip().splitlines()
    assert lines[0].startswith("id,created_at,seq,kind,amount") and len(lines) - 1 == len(ledger_rows(rx, clinic))


# --- a solo prescriber ---------------------------------------------------------------------------------------------
def test_a_prescriber_without_a_clinic_plan_pays_from_their_own_wallet(pool, stripe_server):
    rx = pool
    solo = rx.staff("solo_doc", "uk2", "Dr Solo", "prescriber", "GMC", "3100001")
    rx.tables.create("token_pricing", pricing.row_id_for(rx.clinics["uk2"]),
                     {"clinic_id": rx.clinics["uk2"], "base_per_item": 2, "controlled_surcharge": 0,
                      "updated_by": "test", "updated_at": "2026-12-04T00:00:00.000+00:00"})  # fmt: skip
    try:
        body = {"clinicId": rx.clinics["uk2"], "patientId": rx.patients["uk2"]["$id"], "items": [uk_item()]}
        code, refused = rx.prescribe("solo_doc", **body)
        assert (code, refused["type"]) == (402, "wallet_insufficient_balance")
        code, bought = rx.execute("solo_doc", "billing-process", {"action": "purchase_tokens", "planId": SOLO_PACK,
                                  "currency": "gbp", "paymentMethodId": "pm_card_visa",
                                  "idempotencyKey": secrets.token_hex(8)})  # fmt: skip
        assert code == 200 and bought["walletBalance"] == 50, bought
        code, answer = rx.prescribe("solo_doc", **body)
        assert code == 200 and answer["charge"] == {"tokens": 2, "wallet": "individual", "balanceAfter": 48}
        code, mine = manage(rx, "solo_doc", "balance")
        assert code == 200 and mine["wallet"]["balance"] == 48 and mine["wallet"]["entityId"] == solo.id
    finally:
        rx.tables.update("token_pricing", pricing.row_id_for(rx.clinics["uk2"]),
                         {"active": False})  # fmt: skip


# --- who may do what -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("who", "action", "body", "code", "type_"),
    [
        ("patient", "balance", {}, 403, "practitioner_not_authorised"),
        ("pharmacist", "balance", {}, 403, "practitioner_not_authorised"),
        ("prescriber2", "balance", {"clinicId": "pool"}, 404, "clinic_not_found"),  # another clinic's prescriber
        ("pool_doc0", "set_cap", {"clinicId": "pool", "memberId": "x", "monthlyCap": 1}, 403, "wallet_admin_required"),
        ("pool_doc0", "configure", {"clinicId": "pool", "lowBalanceThreshold": 1}, 403, "wallet_admin_required"),
        (
            "pool_owner",
            "adjust",
            {"clinicId": "pool", "amount": 5, "reason": "gift", "idempotencyKey": "k"},
            403,
            "wallet_admin_required",
        ),
        ("pool_doc0", "set_pricing", {"basePerItem": 0, "controlledSurcharge": 0}, 403, "wallet_admin_required"),
        ("pool_owner", "configure", {"clinicId": "pool", "overdraftLimit": 10}, 400, "wallet_overdraft_not_allowed"),
        (
            "platform_admin",
            "adjust",
            {"clinicId": "pool", "amount": 0, "reason": "x", "idempotencyKey": "k"},
            400,
            "general_argument_invalid",
        ),
        ("pool_owner", "history", {"clinicId": "pool", "limit": 101}, 400, "general_argument_invalid"),
    ],
)
def test_who_may_do_what(pool, who, action, body, code, type_):
    rx = pool
    body = {k: rx.clinics[v] if k == "clinicId" else v for k, v in body.items()}
    before = pool_counts(rx)
    got, answer = manage(rx, who, action, **body)
    assert (got, answer["type"]) == (code, type_), answer
    assert pool_counts(rx) == before


def test_guests_cannot_run_the_function_at_all(pool):
    with pytest.raises(AppwriteException) as refused:  # `execute: users` in appwrite.json: Appwrite refuses first
        manage(pool, None, "balance")
    assert refused.value.code == 401


def test_the_pool_row_is_readable_by_its_admins_only(pool):
    wallet = ledger.wallet_id("clinic", pool.clinics["pool"])
    assert TablesDB(pool.people["pool_owner"].client).get_row("main", "wallets", wallet).data["balance"] is not None
    for who in ("pool_doc0", "prescriber", "patient"):
        with pytest.raises(AppwriteException) as hidden:
            TablesDB(pool.people[who].client).get_row("main", "wallets", wallet)
        assert hidden.value.code == 404


def test_the_verify_script_names_the_first_entry_that_disagrees(pool):
    rx, clinic = pool, pool.clinics["pool"]
    wallet = ledger.wallet_id("clinic", clinic)
    fine = run_script(rx.server, "verify_wallets.py")
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert f"{wallet} (clinic {clinic}): agrees" in fine.stdout
    victim = rx.tables.list("wallet_transactions", [Query.equal("wallet_id", wallet), Query.equal("seq", 3)])[0]
    rx.tables.update("wallet_transactions", victim["$id"], {"balance_after": victim["balance_after"] + 1})
    try:
        broken = run_script(rx.server, "verify_wallets.py", "--wallet", wallet)
        assert broken.returncode == 1
        assert f"DISAGREES: entry 3 ({victim['idempotency_key']}) says" in broken.stdout, broken.stdout
    finally:
        rx.tables.update("wallet_transactions", victim["$id"], {"balance_after": victim["balance_after"]})
    assert run_script(rx.server, "verify_wallets.py", "--wallet", wallet).returncode == 0
