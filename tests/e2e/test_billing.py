"""billing-process end to end: the real function in the executor, localstripe as Stripe, and Stripe's signed
webhooks arriving on the function's domain (once from localstripe itself, and replayed, forged or reordered here)."""

from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.users import Users
from stripe import WebhookSignature

from rxcore.outbox import NOTIFICATIONS
from rxcore.wallet import ledger
from tests.support import stripe_local

pytestmark = pytest.mark.e2e

PACK = "tokens-100"
CLINIC_PACK = "clinic-tokens-1000"


@pytest.fixture(scope="module")
def billing(rx, stripe_server):
    """The world of tests/support/rx_world.py with two packs on sale and a platform admin."""
    plans = {
        PACK: {
            "name": "100 tokens",
            "kind": "token_pack",
            "entity_type": "any",
            "tokens": 100,
            "amount_gbp": 1999,
            "amount_aud": 3499,
            "amount_usd": 2499,
            "active": True,
        },
        CLINIC_PACK: {
            "name": "1,000 tokens for a clinic",
            "kind": "token_pack",
            "entity_type": "clinic",
            "tokens": 1000,
            "amount_gbp": 14900,
            "active": True,
        },
    }
    for plan_id, row in plans.items():
        if rx.tables.get("billing_plans", plan_id) is None:
            rx.tables.create("billing_plans", plan_id, row)
    if "platform_admin" not in rx.people:
        person = rx.user("platform_admin", "Platform Admin")
        Users(rx.admin).update_labels(person.id, ["admin"])
    return rx


def buy(rx, who: str, plan: str = PACK, **body) -> tuple[int, dict]:
    body = {
        "action": "purchase_tokens",
        "planId": plan,
        "currency": "gbp",
        "idempotencyKey": secrets.token_hex(8),
    } | body
    return rx.execute(who, "billing-process", body)


def balance(rx, entity_type: str, entity_id: str) -> int:
    return ledger.balance(rx.tables, entity_type, entity_id)


def entries(rx, entity_type: str, entity_id: str) -> list[dict]:
    wallet = ledger.wallet_id(entity_type, entity_id)
    return rx.tables.list("wallet_transactions", [Query.equal("wallet_id", wallet), Query.limit(100)])


def wait_until(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)
    return result


def deliver(rx, stripe_server, event: dict, secret: str | None = None, timestamp: int | None = None, raw=None):
    """POST an event to the function's domain as Stripe would, signed over the exact bytes sent."""
    payload = raw if raw is not None else json.dumps(event, indent=2, sort_keys=True).encode()
    header = WebhookSignature.generate_signature_header(
        payload.decode("utf-8", "replace"), secret or stripe_server.webhook_secret, timestamp=timestamp
    )
    url = rx.server.endpoint.removesuffix("/v1") + "/stripe/webhook"
    host = {"Host": "billing-process.functions.localhost", "Stripe-Signature": header}
    return requests.post(url, data=payload, headers=host | {"Content-Type": "application/json"}, timeout=30)


def stripe_event(stripe_server, event_type: str, intent_id: str) -> dict:
    """The event localstripe sent for this intent (to replay it)."""

    def found():
        events = stripe_server.client().v1.events.list(params={"type": event_type, "limit": 100}).data
        return next((e.to_dict() for e in events if e.data.object["id"] == intent_id), None)

    return wait_until(found)


# --- buying ------------------------------------------------------------------------------------------------------
def test_a_prescriber_buys_a_pack_with_a_saved_card_and_is_credited_once(billing, stripe_server):
    rx = billing
    prescriber = rx.people["prescriber"].id
    before = balance(rx, "individual", prescriber)
    code, answer = buy(rx, "prescriber", paymentMethodId="pm_card_visa")
    assert code == 200, answer
    payment = answer["payment"]
    assert (payment["status"], payment["amount"], payment["currency"], payment["tokens"]) == (
        "succeeded",
        1999,
        "gbp",
        100,
    )
    assert answer["walletBalance"] == before + 100 and answer["clientSecret"] is None
    # localstripe's own webhook arrives a second later and changes nothing.
    intent = payment["stripe_payment_intent_id"]
    event = stripe_event(stripe_server, "payment_intent.succeeded", intent)
    wait_until(lambda: rx.tables.list("billing_events", [Query.equal("event_id", event["id"])]))
    assert balance(rx, "individual", prescriber) == before + 100
    credits = [e for e in entries(rx, "individual", prescriber) if e["related_id"] == payment["$id"]]
    assert [(e["kind"], e["amount"]) for e in credits] == [("credit", 100)]
    assert ledger.verify(rx.tables, "individual", prescriber) is None
    audit = rx.tables.list("audit_events", [Query.equal("entity_id", payment["$id"]), Query.limit(10)])
    assert {a["action"] for a in audit} == {"payment.created", "payment.paid"}


def test_a_retry_with_the_same_key_answers_the_same_payment_and_a_changed_one_is_refused(billing):
    rx = billing
    key = secrets.token_hex(8)
    code, first = buy(rx, "prescriber", idempotencyKey=key, paymentMethodId="pm_card_visa")
    code2, again = buy(rx, "prescriber", idempotencyKey=key, paymentMethodId="pm_card_visa")
    assert (code, code2) == (200, 200) and again["payment"]["$id"] == first["payment"]["$id"]
    assert again["payment"]["status"] == "succeeded"
    code, refused = buy(rx, "prescriber", idempotencyKey=key, currency="usd")
    assert (code, refused["type"]) == (409, "idempotency_key_reused")


def test_without_a_saved_card_the_payer_gets_a_client_secret_and_the_webhook_credits(billing, stripe_server):
    rx = billing
    prescriber = rx.people["prescriber"].id
    before = balance(rx, "individual", prescriber)
    code, answer = buy(rx, "prescriber")
    assert code == 200 and answer["payment"]["status"] == "pending" and answer["clientSecret"]
    intent = answer["payment"]["stripe_payment_intent_id"]
    # What Stripe.js does in the browser (localstripe cannot confirm with a new method: set it, then confirm).
    stripe_api = stripe_server.client().v1.payment_intents
    stripe_api.update(intent, params={"payment_method": "pm_card_visa"})
    stripe_api.confirm(intent)
    wait_until(lambda: balance(rx, "individual", prescriber) == before + 100)
    code, read = rx.execute(
        "prescriber", "billing-process", {"action": "get_payment", "paymentId": answer["payment"]["$id"]}
    )
    assert read["payment"]["status"] == "succeeded" and [h["event"] for h in read["payment"]["history"]] == [
        "created",
        "paid",
    ]


def test_a_declined_card_is_a_402_and_credits_nothing(billing):
    rx = billing
    prescriber = rx.people["prescriber"].id
    before = balance(rx, "individual", prescriber)
    code, answer = buy(rx, "prescriber", paymentMethodId="pm_card_chargeCustomerFail")
    assert (code, answer["type"]) == (402, "billing_card_declined")
    time.sleep(1.5)  # localstripe's payment_intent.payment_failed webhook
    assert balance(rx, "individual", prescriber) == before


def test_a_clinic_admin_buys_for_the_clinic_pool_which_its_admins_see(billing):
    rx = billing
    clinic = rx.clinics["uk"]
    code, answer = buy(rx, "owner", CLINIC_PACK, clinicId=clinic, paymentMethodId="pm_card_visa")
    assert code == 200 and answer["payment"]["entity_type"] == "clinic", answer
    assert balance(rx, "clinic", clinic) >= 1000
    wallet_id = ledger.wallet_id("clinic", clinic)
    from appwrite.services.tables_db import TablesDB

    seen = TablesDB(rx.people["owner"].client).get_row("main", "wallets", wallet_id)
    assert seen.data["balance"] == balance(rx, "clinic", clinic)  # the clinic's owner reads the pool
    with pytest.raises(AppwriteException) as hidden:  # a member sees their own spend (token-management), not the pool
        TablesDB(rx.people["prescriber"].client).get_row("main", "wallets", wallet_id)
    assert hidden.value.code == 404
    code, payments = rx.execute(
        "prescriber", "billing-process", {"action": "get_payment", "paymentId": answer["payment"]["$id"]}
    )
    assert (code, payments["type"]) == (404, "billing_payment_not_found")  # but not the clinic's payments


@pytest.mark.parametrize(
    ("who", "body", "code", "type_"),
    [
        ("prescriber", {"clinicId": "uk"}, 404, "clinic_not_found"),  # a member without billing rights
        ("prescriber2", {"clinicId": "uk"}, 404, "clinic_not_found"),  # another clinic's prescriber
        ("pharmacist", {}, 403, "practitioner_not_authorised"),  # only prescribers buy for themselves
        ("patient", {}, 403, "practitioner_not_authorised"),
        (None, {}, 401, "user_unauthorized"),
        ("prescriber", {"planId": CLINIC_PACK}, 400, "billing_plan_not_for_entity"),
        ("prescriber", {"planId": "nope"}, 404, "billing_plan_not_found"),
        ("prescriber", {"currency": "eur"}, 400, "general_argument_invalid"),
        ("owner", {"clinicId": "uk", "planId": CLINIC_PACK, "currency": "aud"}, 400, "billing_currency_unavailable"),
    ],
)
def test_who_may_buy(billing, who, body, code, type_):
    rx = billing
    if "clinicId" in body:
        body = body | {"clinicId": rx.clinics[body["clinicId"]]}
    before = rx.count("billing_payments")
    got, answer = buy(rx, who, **body)
    assert (got, answer["type"]) == (code, type_), answer
    assert rx.count("billing_payments") == before


# --- webhooks ----------------------------------------------------------------------------------------------------
def test_the_same_event_delivered_five_times_and_concurrently_credits_once(billing, stripe_server):
    rx = billing
    prescriber = rx.people["prescriber"].id
    code, answer = buy(rx, "prescriber")  # pending: only the webhook will credit it
    intent = answer["payment"]["stripe_payment_intent_id"]
    before = balance(rx, "individual", prescriber)
    stripe_api = stripe_server.client().v1.payment_intents
    stripe_api.update(intent, params={"payment_method": "pm_card_visa"})
    stripe_api.confirm(intent)
    event = stripe_event(stripe_server, "payment_intent.succeeded", intent)
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: deliver(rx, stripe_server, event), range(5)))
    answers += [deliver(rx, stripe_server, event) for _ in range(5)]
    assert {r.status_code for r in answers} == {200}, [r.text for r in answers]
    outcomes = [r.json()["outcome"] for r in answers]
    assert outcomes.count("paid") <= 1 and set(outcomes) <= {"paid", "unchanged", "duplicate"}
    wait_until(lambda: balance(rx, "individual", prescriber) == before + 100)
    time.sleep(1.2)  # localstripe's own delivery too
    assert balance(rx, "individual", prescriber) == before + 100
    assert len(rx.tables.list("billing_events", [Query.equal("event_id", event["id"])])) == 1
    assert ledger.verify(rx.tables, "individual", prescriber) is None


def test_a_refund_reported_before_its_payment_ends_refunded_with_the_tokens_taken_back(billing, stripe_server):
    rx = billing
    prescriber = rx.people["prescriber"].id
    code, answer = buy(rx, "prescriber")
    payment_id, intent = answer["payment"]["$id"], answer["payment"]["stripe_payment_intent_id"]
    before = balance(rx, "individual", prescriber)
    stripe_api = stripe_server.client().v1
    stripe_api.payment_intents.update(intent, params={"payment_method": "pm_card_visa"})
    stripe_api.payment_intents.confirm(intent)
    stripe_api.refunds.create(params={"payment_intent": intent})
    # Stripe's charge.refunded (localstripe sends none) overtakes payment_intent.succeeded.
    charge = stripe_api.payment_intents.retrieve(intent, params={"expand": ["latest_charge"]}).latest_charge
    refunded = {
        "id": "evt_" + secrets.token_hex(12),
        "object": "event",
        "type": "charge.refunded",
        "created": int(time.time()),
        "data": {"object": charge.to_dict()},
    }
    response = deliver(rx, stripe_server, refunded)
    # (localstripe's own payment_intent.succeeded, sent a second after the confirmation, may come first on a busy
    # machine: it re-reads the intent too, so it would apply both.)
    assert response.status_code == 200 and response.json()["outcome"] in ("paid,refunded", "unchanged")
    time.sleep(1.5)  # then localstripe's payment_intent.succeeded lands: nothing more to do
    code, read = rx.execute("prescriber", "billing-process", {"action": "get_payment", "paymentId": payment_id})
    assert (read["payment"]["status"], read["payment"]["amount_refunded"]) == ("refunded", 1999)
    assert balance(rx, "individual", prescriber) == before
    kinds = [(e["kind"], e["amount"]) for e in entries(rx, "individual", prescriber) if e["related_id"] == payment_id]
    assert sorted(kinds) == [("credit", 100), ("reversal", -100)]


def test_bad_deliveries_are_refused_and_change_nothing(billing, stripe_server):
    rx = billing
    event = {
        "id": "evt_forged",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {"id": "pi_x", "object": "payment_intent"}},
    }
    before = (rx.count("billing_events"), rx.count("wallet_transactions"))
    url = rx.server.endpoint.removesuffix("/v1") + "/_functions/billing-process/stripe/webhook"
    refusals = {
        "wrong secret": deliver(rx, stripe_server, event, secret="whsec_not_ours"),
        "stale": deliver(rx, stripe_server, event, timestamp=int(time.time()) - 301),
        "unsigned": requests.post(url, data=json.dumps(event), timeout=30),
        "oversized": deliver(rx, stripe_server, event, raw=b'{"a": "' + b"x" * (256 * 1024) + b'"}'),
        "not json": deliver(rx, stripe_server, event, raw=b"not json at all"),
    }
    tampered_body = json.dumps(event).encode()
    header = WebhookSignature.generate_signature_header(tampered_body.decode(), stripe_server.webhook_secret)
    refusals["tampered"] = requests.post(
        url, data=tampered_body.replace(b"pi_x", b"pi_y"), headers={"Stripe-Signature": header}, timeout=30
    )
    for why, response in refusals.items():
        assert response.status_code == 400, (why, response.text)
        assert response.json()["type"] == "billing_webhook_invalid", why
    assert (rx.count("billing_events"), rx.count("wallet_transactions")) == before


def test_events_about_nothing_we_sold_are_recorded_once_and_ignored(billing, stripe_server):
    rx = billing
    event = {
        "id": "evt_" + secrets.token_hex(8),
        "object": "event",
        "type": "customer.created",
        "created": int(time.time()),
        "data": {"object": {"id": "cus_x", "object": "customer"}},
    }
    assert [deliver(rx, stripe_server, event).json()["outcome"] for _ in range(2)] == ["ignored", "duplicate"]


# --- refunds -----------------------------------------------------------------------------------------------------
def test_an_admin_refunds_in_part_then_in_full_and_the_tokens_go_back_in_proportion(billing):
    rx = billing
    prescriber = rx.people["prescriber"].id
    code, answer = buy(rx, "prescriber", paymentMethodId="pm_card_visa")
    payment_id = answer["payment"]["$id"]
    after_purchase = balance(rx, "individual", prescriber)
    refund = {"action": "refund", "paymentId": payment_id, "reason": "duplicate purchase"}
    code, denied = rx.execute("prescriber", "billing-process", refund | {"amount": 100})
    assert (code, denied["type"]) == (403, "billing_admin_required")
    code, part = rx.execute("platform_admin", "billing-process", refund | {"amount": 1000})
    assert code == 200 and part["payment"]["status"] == "partially_refunded", part
    assert balance(rx, "individual", prescriber) == after_purchase - 51  # ceil(100 × 1000 / 1999)
    code, too_much = rx.execute("platform_admin", "billing-process", refund | {"amount": 1000})
    assert (code, too_much["type"]) == (400, "billing_refund_too_large")
    code, rest = rx.execute("platform_admin", "billing-process", refund)
    assert rest["payment"]["status"] == "refunded" and rest["payment"]["amount_refunded"] == 1999
    assert balance(rx, "individual", prescriber) == after_purchase - 100
    code, again = rx.execute("platform_admin", "billing-process", refund)
    assert (code, again["type"]) == (409, "billing_payment_not_refundable")
    assert ledger.verify(rx.tables, "individual", prescriber) is None


# --- receipts ----------------------------------------------------------------------------------------------------
def test_the_receipt_of_a_partly_refunded_payment_has_the_right_totals(billing):
    import base64

    import pypdfium2

    rx = billing
    code, answer = buy(rx, "prescriber", paymentMethodId="pm_card_visa")
    payment_id = answer["payment"]["$id"]
    refund = {"action": "refund", "paymentId": payment_id, "reason": "goodwill", "amount": 499}
    assert rx.execute("platform_admin", "billing-process", refund)[0] == 200
    code, doc = rx.execute("prescriber", "billing-process", {"action": "get_receipt", "paymentId": payment_id})
    assert code == 200 and doc["contentType"] == "application/pdf" and doc["filename"].startswith("receipt-R-")
    pdf = pypdfium2.PdfDocument(base64.b64decode(doc["base64"]))
    text = pdf[0].get_textpage().get_text_range()
    for expected in (
        "Billed to Dr Alice Prescott",
        "100 tokens: £19.99",
        "Total paid: £19.99",
        "Refunded: -£4.99",
        "Net paid: £15.00",
        answer["payment"]["stripe_payment_intent_id"],
    ):
        assert expected in text, (expected, text)
    code, other = rx.execute("prescriber2", "billing-process", {"action": "get_receipt", "paymentId": payment_id})
    assert (code, other["type"]) == (404, "billing_payment_not_found")


# --- subscriptions -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def starter(billing):
    plan = {"name": "Starter", "kind": "subscription", "entity_type": "individual", "tokens": 200,
            "amount_gbp": 2900, "interval": "month", "active": True}  # fmt: skip
    if billing.tables.get("billing_plans", "starter") is None:
        billing.tables.create("billing_plans", "starter", plan)
    return "starter"


def signed_event(event_type: str, obj: dict) -> dict:
    return {"id": "evt_" + secrets.token_hex(12), "object": "event", "type": event_type, "created": int(time.time()),
            "data": {"object": obj}}  # fmt: skip


def test_a_plan_credits_its_allowance_once_per_paid_invoice_and_can_be_cancelled(billing, stripe_server, starter):
    rx = billing
    who = rx.people["prescriber2"].id
    before = balance(rx, "individual", who)
    body = {"action": "subscribe", "planId": starter, "currency": "gbp", "paymentMethodId": "pm_card_visa"}
    code, answer = rx.execute("prescriber2", "billing-process", body | {"idempotencyKey": secrets.token_hex(8)})
    assert code == 200 and answer["subscription"]["status"] == "active", answer
    assert answer["walletBalance"] == before + 200
    code, again = rx.execute("prescriber2", "billing-process", body | {"idempotencyKey": secrets.token_hex(8)})
    assert (code, again["type"]) == (409, "billing_subscription_exists")
    time.sleep(1.5)  # localstripe's invoice, intent and subscription events land and change nothing
    assert balance(rx, "individual", who) == before + 200

    # The next period: Stripe invoices the subscription again (localstripe has no clock: an invoice made now).
    api = stripe_server.client().v1
    subscription = answer["subscription"]["stripe_subscription_id"]
    invoice = api.invoices.create(params={"customer": answer["subscription"]["stripe_customer_id"],
                                          "subscription": subscription})  # fmt: skip
    paid = api.invoices.pay(invoice.id).to_dict()
    event = signed_event("invoice.paid", paid)
    with ThreadPoolExecutor(3) as pool:
        outcomes = [r.json()["outcome"] for r in pool.map(lambda _: deliver(rx, stripe_server, event), range(3))]
    outcomes.append(deliver(rx, stripe_server, event).json()["outcome"])
    # localstripe also reports the payment (invoice.payment_succeeded, a second later): whoever comes first
    # credits, the others find the invoice's entry.
    assert outcomes.count("allowance_credited") <= 1 and set(outcomes) <= {
        "allowance_credited",
        "unchanged",
        "duplicate",
    }
    time.sleep(1.2)
    allowance = [
        e for e in entries(rx, "individual", who) if e["idempotency_key"] == f"stripe:invoice:{invoice.id}:allowance"
    ]
    assert [e["amount"] for e in allowance] == [200]
    assert balance(rx, "individual", who) == before + 400
    assert ledger.verify(rx.tables, "individual", who) is None

    code, cancelled = rx.execute("prescriber2", "billing-process", {"action": "cancel_subscription"})
    assert code == 200 and cancelled["subscription"]["cancel_at_period_end"] is True, cancelled
    ended = api.subscriptions.cancel(subscription).to_dict()
    assert (
        deliver(rx, stripe_server, signed_event("customer.subscription.deleted", ended)).json()["outcome"] == "synced"
    )
    row = rx.tables.list("billing_subscriptions", [Query.equal("stripe_subscription_id", subscription)])[0]
    assert row["status"] == "canceled"
    assert balance(rx, "individual", who) == before + 400  # what was paid for stays


def test_only_a_clinics_owners_and_admins_subscribe_it(billing, starter):
    body = {"action": "subscribe", "planId": starter, "currency": "gbp", "paymentMethodId": "pm_card_visa",
            "idempotencyKey": secrets.token_hex(8), "clinicId": billing.clinics["uk"]}  # fmt: skip
    code, answer = billing.execute("pharmacist", "billing-process", body)
    assert (code, answer["type"]) == (404, "clinic_not_found")
    code, answer = billing.execute("owner", "billing-process", body)
    assert (code, answer["type"]) == (400, "billing_plan_not_for_entity")  # Starter is for individuals


def test_a_refunded_plan_invoice_takes_back_its_allowance_in_proportion(billing, stripe_server, starter):
    rx = billing
    who = rx.people["au_prescriber"].id
    body = {"action": "subscribe", "planId": starter, "currency": "gbp", "paymentMethodId": "pm_card_visa",
            "idempotencyKey": secrets.token_hex(8)}  # fmt: skip
    code, answer = rx.execute("au_prescriber", "billing-process", body)
    assert code == 200 and answer["subscription"]["status"] == "active", answer
    before = balance(rx, "individual", who)
    payments = rx.execute("au_prescriber", "billing-process", {"action": "list_payments"})[1]["payments"]
    invoice_payment = next(p for p in payments if p["kind"] == "subscription")
    assert invoice_payment["stripe_payment_intent_id"], invoice_payment  # the intent that paid the invoice
    body = {"action": "refund", "paymentId": invoice_payment["$id"], "amount": invoice_payment["amount"] // 2,
            "reason": "Plan started by mistake"}  # fmt: skip
    code, refunded = rx.execute("platform_admin", "billing-process", body)
    assert code == 200 and refunded["payment"]["status"] == "partially_refunded", refunded
    assert balance(rx, "individual", who) == before - 100  # half the money: half of the 200-token allowance
    assert ledger.verify(rx.tables, "individual", who) is None
    rx.execute("au_prescriber", "billing-process", {"action": "cancel_subscription"})


def test_a_failed_renewal_tells_the_owner_once_per_invoice(billing, stripe_server, starter):
    rx = billing
    mine = rx.tables.list("billing_subscriptions", [Query.equal("entity_id", rx.people["au_prescriber"].id)])
    subscription = next(row for row in mine if row["status"] == "active")  # subscribed in the test above
    api = stripe_server.client().v1
    params = {"customer": subscription["stripe_customer_id"], "subscription": subscription["stripe_subscription_id"]}
    invoice = api.invoices.create(params=params).to_dict()
    event = signed_event("invoice.payment_failed", invoice)
    outcomes = [deliver(rx, stripe_server, event).json()["outcome"] for _ in range(2)]
    assert outcomes == ["payment_failed", "duplicate"], outcomes
    messages = rx.tables.list(NOTIFICATIONS, [Query.equal("topic", "subscription.payment_failed"), Query.limit(100)])
    assert [m["key"] for m in messages if invoice["id"] in m["key"]] == [f"subscription.payment_failed:{invoice['id']}"]
    other = signed_event("invoice.payment_failed", invoice)  # Stripe's next retry fails too: no second notice
    assert deliver(rx, stripe_server, other).json()["outcome"] == "payment_failed"
    messages = rx.tables.list(NOTIFICATIONS, [Query.equal("topic", "subscription.payment_failed"), Query.limit(100)])
    assert len([m for m in messages if invoice["id"] in m["key"]]) == 1


# --- consultation orders (the API the consultations feature calls; no appointments table exists yet) ----------
def test_one_order_per_appointment_paid_then_refunded_tells_the_booking_through_the_outbox(billing, stripe_server):
    from rxcore.billing import orders
    from rxcore.billing.gateway import Gateway
    from rxcore.billing.settlement import Actor
    from rxcore.clock import utc_now
    from rxcore.outbox import message_id
    from rxcore.settings import BillingSettings

    rx = billing
    settings = BillingSettings.from_env(
        {"STRIPE_SECRET_KEY": stripe_local.SECRET_KEY, "STRIPE_API_BASE": stripe_server.url}
    )
    gateway, actor = Gateway(settings), Actor("consult-test", "system", "")
    appointment = orders.Appointment(
        id="appt-" + secrets.token_hex(6), clinic_id=rx.clinics["uk"], patient_user_id=rx.people["patient"].id,
        patient_name="Jane Doe", amount=8000, currency="gbp", description="Consultation (30 min), new patient",
    )  # fmt: skip
    with ThreadPoolExecutor(3) as pool:  # a double click: one order, one intent
        made = list(
            pool.map(lambda _: orders.consultation_order(rx.tables, gateway, appointment, utc_now, actor), range(3))
        )
    assert len({m["payment"]["$id"] for m in made}) == 1 and len({m["clientSecret"] for m in made}) == 1
    payment = made[0]["payment"]
    assert (payment["kind"], payment["amount"], payment["status"]) == ("consultation", 8000, "pending")
    changed = orders.Appointment(**(appointment.__dict__ | {"amount": 5000}))
    with pytest.raises(Exception) as refused:
        orders.consultation_order(rx.tables, gateway, changed, utc_now, actor)
    assert getattr(refused.value, "type", "") == "billing_order_price_changed"

    intent = payment["stripe_payment_intent_id"]
    stripe_server.client().v1.payment_intents.update(intent, params={"payment_method": "pm_card_visa"})
    stripe_server.client().v1.payment_intents.confirm(intent)
    wait_until(lambda: rx.tables.get("billing_payments", payment["$id"])["status"] == "succeeded")  # the webhook
    paid = rx.tables.get("outbox", message_id(f"consultation.paid:{appointment.id}"))
    assert paid and json.loads(paid["payload"])["appointmentId"] == appointment.id
    # The patient reads their own order through the function.
    code, read = rx.execute("patient", "billing-process", {"action": "get_payment", "paymentId": payment["$id"]})
    assert code == 200 and read["payment"]["appointment_id"] == appointment.id

    refunded = orders.refund_consultation(rx.tables, gateway, appointment.id, utc_now, actor, "doctor cancelled")
    assert (refunded["status"], refunded["amount_refunded"]) == ("refunded", 8000)
    notice = rx.tables.get("outbox", message_id(f"consultation.refunded:{payment['$id']}:8000"))
    assert notice and json.loads(notice["payload"])["appointmentId"] == appointment.id
    assert (
        orders.refund_consultation(rx.tables, gateway, appointment.id, utc_now, actor, "again")["status"] == "refunded"
    )


def test_the_same_purchase_sent_three_times_at_once_charges_and_credits_once(billing, stripe_server):
    rx = billing
    prescriber = rx.people["prescriber"].id
    before = balance(rx, "individual", prescriber)
    body = {"idempotencyKey": secrets.token_hex(8), "paymentMethodId": "pm_card_visa"}
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: buy(rx, "prescriber", **body), range(3)))
    assert {code for code, _ in answers} == {200}, answers
    assert len({a["payment"]["$id"] for _, a in answers}) == 1
    intent = answers[0][1]["payment"]["stripe_payment_intent_id"]
    assert {a["payment"]["stripe_payment_intent_id"] for _, a in answers} == {intent}
    time.sleep(1.5)  # localstripe's webhooks for every intent it made (it ignores idempotency keys)
    assert balance(rx, "individual", prescriber) == before + 100
    # Any second intent localstripe made was given back: only the recorded one keeps its money.
    api = stripe_server.client().v1.payment_intents
    ours = answers[0][1]["payment"]["$id"]
    every = api.list(params={"limit": 100}).auto_paging_iter()
    made = [p for p in every if p.to_dict()["metadata"].get("payment_id") == ours]
    assert intent in {p.id for p in made}
    for pi in made:
        if pi.id != intent:
            state = api.retrieve(pi.id, params={"expand": ["latest_charge"]}).to_dict()
            charge = state.get("latest_charge") or {}
            assert state["status"] == "canceled" or charge.get("amount_refunded") == state["amount"], state
