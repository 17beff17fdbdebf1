"""notification-send end to end: outbox rows written by the real functions (signing a prescription) reach the real
`sendgrid` and `twilio` clients inside the function, pointed at the recording stand-in (scripts/provider_stand_in.py);
the delivery log and preferences through the SDK as signed-in users."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime

import pytest
import requests
from appwrite.query import Query
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from twilio.request_validator import RequestValidator

from rxcore.notify import deliveries, preferences
from rxcore.outbox import message_id
from tests.support import provider_stand_in
from tests.support.rx_world import uk_item
from tests.support.sdk import set_function_variable

pytestmark = pytest.mark.e2e

READY_EN, READY_CY = "d-11111111111111111111111111111111", "d-cccccccccccccccccccccccccccccccc"
TEMPLATES = {"prescription.ready": {"default": READY_EN, "cy": READY_CY}, "prescription.dispensed": "d-3333",
             "payment.succeeded": "d-2222", "security.notice": "d-5555"}  # fmt: skip
FROM_NUMBER = "+15005550006"
TWILIO_TOKEN = "local-test-token"


@pytest.fixture(scope="module")
def providers(rx):
    stand_in = provider_stand_in.start()
    public_url = rx.server.endpoint.removesuffix("/v1") + "/_functions/notification-send"
    signing_key = ec.generate_private_key(ec.SECP256R1())
    public_key = signing_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    pem = signing_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    stand_in.configure(twilio_auth_token=TWILIO_TOKEN, sendgrid_events_url=public_url + "/sendgrid/events",
                       sendgrid_private_key_pem=pem)  # fmt: skip
    stand_in.public_url = public_url
    for key, value in {
        "RX_NOTIFY_PUBLIC_URL": public_url,
        "RX_NOTIFY_LINK_SECRET": "a-test-secret-for-unsubscribe-links",
        "SENDGRID_WEBHOOK_PUBLIC_KEY": base64.b64encode(public_key).decode(),
        "SENDGRID_API_KEY": "SG.local-test",
        "SENDGRID_API_HOST": stand_in.url,
        "RX_NOTIFY_EMAIL_TEMPLATES": json.dumps(TEMPLATES),
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_BASE": stand_in.url,
    }.items():
        set_function_variable(rx.admin, "notification-send", key, value)
    yield stand_in
    stand_in.stop()


def sign_one(rx) -> dict:
    code, answer = rx.prescribe("prescriber", clinicId=rx.clinics["uk"], patientId=rx.patients["uk"]["$id"],
                                items=[uk_item()], sign=True)  # fmt: skip
    assert code == 200, answer
    return answer["prescription"]


def state(rx, prescription_id: str) -> dict:
    """What a wait was waiting on, shown when it times out."""
    message = rx.tables.get("notification_outbox", message_id(f"prescription.ready:{prescription_id}")) or {}
    rows = [(r["channel"], r["status"], r["attempts"], r["last_error"]) for r in deliveries_of(rx, prescription_id)]
    return {"outbox": {k: message.get(k) for k in ("status", "attempts", "last_error")}, "deliveries": rows}


def deliveries_of(rx, prescription_id: str) -> list[dict]:
    outbox_id = message_id(f"prescription.ready:{prescription_id}")
    return rx.tables.list(deliveries.TABLE, [Query.equal("message_id", outbox_id)])


def once_sent(rx, prescription_id: str, channel: str):
    """A wait: the prescription's two deliveries by channel, once `channel`'s has gone."""

    def check() -> dict | None:
        rows = {r["channel"]: r for r in deliveries_of(rx, prescription_id)}
        return rows if len(rows) == 2 and rows[channel]["status"] in ("sent", "delivered") else None

    return check


def texts_settled(rx, *prescriptions: dict):
    """A wait: the SMS deliveries of these prescriptions, once none is still queued or being sent."""

    def check() -> list[dict] | None:
        rows = [r for p in prescriptions for r in deliveries_of(rx, p["$id"]) if r["channel"] == "sms"]
        done = len(rows) == len(prescriptions) and all(r["status"] not in ("queued", "sending") for r in rows)
        return rows if done else None

    return check


def emails_about(stand_in, number: str) -> list[dict]:
    def about(request: dict) -> bool:
        return request["body"]["personalizations"][0]["dynamic_template_data"].get("prescription_number") == number

    return [r for r in stand_in.requests("sendgrid") if about(r)]


def sms_about(stand_in, number: str) -> list[dict]:
    return [r for r in stand_in.requests("twilio") if number in r["body"].get("Body", "")]


def test_a_signed_prescription_reaches_the_patient_by_email_with_its_pdf_and_by_sms(rx, providers):
    prescription = sign_one(rx)
    number = prescription["number"]
    email = providers.wait_for(lambda: emails_about(providers, number))[0]
    body = email["body"]
    assert email["headers"]["Authorization"] == "Bearer SG.local-test"
    assert body["template_id"] == READY_EN
    assert body["personalizations"][0]["to"] == [{"email": "jane.doe@example.test", "name": "Jane"}]
    data = body["personalizations"][0]["dynamic_template_data"]
    assert data["clinic_name"] == "Riverside Online Clinic" and data["first_name"] == "Jane"
    assert [a["filename"] for a in body["attachments"]] == [f"prescription-{number}.pdf"]
    assert body["custom_args"]["delivery_id"]  # an opaque id, no personal data
    sms = providers.wait_for(lambda: sms_about(providers, number))[0]
    assert (sms["body"]["To"], sms["body"]["From"]) == ("+447400123456", FROM_NUMBER)

    def both_delivered():  # the providers' signed callbacks (the stand-in sends them as the real ones do)
        rows = deliveries_of(rx, prescription["$id"])
        return rows if sorted(r["status"] for r in rows) == ["delivered", "delivered"] else None

    rows = providers.wait_for(both_delivered, shows=lambda: state(rx, prescription["$id"]))
    assert all(r["provider_id"] and r["sent_at"] for r in rows)
    assert {r["channel"]: r["address_masked"] for r in rows} == {"email": "j***@example.test",
                                                                 "sms": "+44*******456"}  # fmt: skip
    assert len(emails_about(providers, number)) == 1 and len(sms_about(providers, number)) == 1
    message = rx.tables.get("notification_outbox", message_id(f"prescription.ready:{prescription['$id']}"))
    assert message["status"] == "sent"


def test_a_provider_failing_twice_then_succeeding_delivers_once_after_three_attempts(rx, providers):
    providers.fail("sendgrid", 503, times=2)
    prescription = sign_one(rx)

    def sent():  # both channels (the SMS goes after the e-mail's retries; it must not meet the next test's failure)
        rows = {r["channel"]: r for r in deliveries_of(rx, prescription["$id"])}
        done = ("sent", "delivered")
        return rows if len(rows) == 2 and all(r["status"] in done for r in rows.values()) else None

    rows = providers.wait_for(sent, shows=lambda: state(rx, prescription["$id"]))
    assert rows["email"]["attempts"] == 3 and rows["email"]["provider_id"]
    tries = emails_about(providers, prescription["number"])
    assert [t["failed"] for t in tries] == [True, True, False]  # three requests, one message delivered


def test_a_lasting_provider_failure_is_retried_later_and_a_bad_number_is_not(rx, providers):
    providers.fail("sendgrid", 503, times=3)
    providers.fail("twilio", 400, code=21211)  # "invalid 'To' phone number"
    prescription = sign_one(rx)

    def settled():
        rows = {r["channel"]: r for r in deliveries_of(rx, prescription["$id"])}
        return rows if {r["status"] for r in rows.values()} <= {"retrying", "failed"} and len(rows) == 2 else None

    rows = providers.wait_for(settled, shows=lambda: state(rx, prescription["$id"]))
    assert (rows["email"]["status"], rows["email"]["attempts"]) == ("retrying", 3)
    assert (
        rows["email"]["last_error"] == "SendGrid answered 503"
        and rows["email"]["not_before"] > rows["email"]["updated_at"]
    )
    assert (rows["sms"]["status"], rows["sms"]["attempts"]) == ("failed", 1)
    assert "21211" in rows["sms"]["last_error"]


def test_a_patient_who_turned_sms_off_gets_email_only_and_sees_their_own_log(rx, providers):
    code, saved = rx.execute("patient", "notification-send", {"action": "set_preferences",
                             "patientId": rx.patients["uk"]["$id"], "sms": False})  # fmt: skip
    assert code == 200 and saved["preferences"]["sms"] is False, saved
    try:
        prescription = sign_one(rx)

        def settled():
            rows = {r["channel"]: r for r in deliveries_of(rx, prescription["$id"])}
            return rows if len(rows) == 2 and rows["email"]["status"] == "sent" else None

        rows = providers.wait_for(settled, shows=lambda: state(rx, prescription["$id"]))
        assert (rows["sms"]["status"], rows["sms"]["last_error"]) == ("suppressed", "opted out")
        assert not sms_about(providers, prescription["number"])
        code, log = rx.execute("patient", "notification-send", {"action": "deliveries", "limit": 100})
        assert code == 200 and log["deliveries"]
        assert {d["user_id"] for d in log["deliveries"]} == {rx.people["patient"].id}
    finally:
        rx.execute("patient", "notification-send", {"action": "set_preferences", "patientId": rx.patients["uk"]["$id"]})


def test_the_clinic_log_is_for_its_owners_and_admins(rx, providers):
    code, log = rx.execute("owner", "notification-send", {"action": "deliveries", "clinicId": rx.clinics["uk"]})
    assert code == 200 and log["deliveries"] and {d["clinic_id"] for d in log["deliveries"]} == {rx.clinics["uk"]}
    for who in ("prescriber", "prescriber2"):
        code, refused = rx.execute(who, "notification-send", {"action": "deliveries", "clinicId": rx.clinics["uk"]})
        assert (code, refused["type"]) == (404, "clinic_not_found")
    code, refused = rx.execute("owner", "notification-send", {"action": "outbox_event", "event": "x", "payload": {}})
    assert (code, refused["type"]) == (404, "general_route_not_found")  # only Appwrite's own triggers run it


def post_signed_twilio(providers, path: str, params: dict, token: str = TWILIO_TOKEN) -> requests.Response:
    url = providers.public_url + path
    signature = RequestValidator(token).compute_signature(url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=30)


def test_forged_or_unsigned_callbacks_are_refused_and_change_nothing(rx, providers):
    prescription = sign_one(rx)

    def all_delivered():
        rows = deliveries_of(rx, prescription["$id"])
        return rows if len(rows) == 2 and {r["status"] for r in rows} == {"delivered"} else None

    rows = providers.wait_for(all_delivered, shows=lambda: state(rx, prescription["$id"]))
    sms = next(r for r in deliveries_of(rx, prescription["$id"]) if r["channel"] == "sms")
    forged = {"MessageSid": sms["provider_id"], "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert post_signed_twilio(providers, "/twilio/status", forged, token="not-the-token").status_code == 403
    assert requests.post(providers.public_url + "/twilio/status", data=forged, timeout=30).status_code == 403
    stamp = str(int(time.time()))
    events = json.dumps([{"event": "bounce", "delivery_id": rows[0]["$id"], "sg_event_id": "x"}])
    wrong_key = ec.generate_private_key(ec.SECP256R1())
    signature = base64.b64encode(wrong_key.sign((stamp + events).encode(), ec.ECDSA(hashes.SHA256()))).decode()
    headers = {"X-Twilio-Email-Event-Webhook-Signature": signature, "X-Twilio-Email-Event-Webhook-Timestamp": stamp}
    assert requests.post(providers.public_url + "/sendgrid/events", data=events, headers=headers,
                         timeout=30).status_code == 403  # fmt: skip
    assert {r["status"] for r in deliveries_of(rx, prescription["$id"])} == {"delivered"}
    # A genuine late callback cannot move a delivery backwards either.
    late = {"MessageSid": sms["provider_id"], "MessageStatus": "sent"}
    assert post_signed_twilio(providers, "/twilio/status", late).json()["applied"] is False


def test_a_stop_reply_turns_sms_off_for_that_number(rx, providers):
    patient = rx.patients["uk"]
    reply = {"From": "+447400123456", "To": FROM_NUMBER, "Body": " stop ", "MessageSid": "SMinbound"}
    answer = post_signed_twilio(providers, "/twilio/inbound", reply)
    assert answer.status_code == 200 and answer.json()["changed"] >= 1, answer.text
    try:
        prescription = sign_one(rx)
        shows = lambda: state(rx, prescription["$id"])  # noqa: E731
        rows = providers.wait_for(once_sent(rx, prescription["$id"], "email"), shows=shows)
        assert rows["sms"]["status"] == "suppressed"
    finally:
        post_signed_twilio(providers, "/twilio/inbound", reply | {"Body": "START"})
    row = rx.tables.get("notification_preferences", preferences.preferences_id("patient", patient["$id"]))
    assert row["sms"] is True  # START turned it back on


def test_a_part_supply_tells_the_patient_what_is_owed(rx, providers):
    prescription = sign_one(rx)
    item = rx.tables.list("prescription_items", [Query.equal("prescription_id", prescription["$id"])])[0]
    body = {"action": "dispense", "number": prescription["number"], "idempotencyKey": "part-" + prescription["$id"][:8],
            "items": [{"itemId": item["$id"], "quantity": 7}]}  # fmt: skip
    code, answer = rx.execute("pharmacist", "dispensing", body)
    assert code == 200, answer
    number = prescription["number"]

    def texts() -> list[str]:
        bodies = [r["body"].get("Body", "") for r in providers.requests("twilio")]
        return [b for b in bodies if f"Prescription {number} was dispensed" in b]

    def emails() -> list[dict]:
        mine = [r for r in providers.requests("sendgrid") if r["body"]["template_id"] == "d-3333"]
        return [
            r
            for r in mine
            if r["body"]["personalizations"][0]["dynamic_template_data"]["prescription_number"] == number
        ]

    assert providers.wait_for(texts) == [f"Prescription {number} was dispensed. The rest is owed to you."]
    email = providers.wait_for(emails)[0]
    assert email["body"]["personalizations"][0]["dynamic_template_data"]["owing"] is True


def test_the_daily_text_cap_stops_sms_for_the_rest_of_the_day(rx, providers):
    from datetime import timedelta

    from rxcore.ids import derived_id
    from rxcore.portal.ratelimit import window_start

    day = window_start(rx.server.now(), timedelta(days=1))  # the function's clock is the server's
    counter = rx.tables.get("rate_limits", derived_id("notify-texts", rx.clinics["uk"], day.timestamp()))
    sent_today = counter["count"] if counter else 0
    set_function_variable(rx.admin, "notification-send", "RX_NOTIFY_SMS_DAILY_LIMIT", str(sent_today + 1))
    try:
        first, second = sign_one(rx), sign_one(rx)

        rows = providers.wait_for(texts_settled(rx, first, second), shows=lambda: state(rx, second["$id"]))
        statuses = sorted(r["status"] for r in rows)
        assert statuses[1] == "suppressed" and statuses[0] in ("sent", "delivered"), rows
        capped = next(r for r in rows if r["status"] == "suppressed")
        assert capped["last_error"] == f"the clinic's daily cap of {sent_today + 1} texts is reached"
    finally:
        set_function_variable(rx.admin, "notification-send", "RX_NOTIFY_SMS_DAILY_LIMIT", "0")


def test_a_message_due_in_the_patients_quiet_hours_waits_for_their_end(rx, providers):
    """Deferred, not dropped: kept until quiet hours end on the server's clock, then the schedule sends it."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    # The server's clock is shared by the whole session: it is moved as little as possible (about four minutes).
    local = rx.server.now().astimezone(ZoneInfo("Europe/London"))
    end_at = (local + timedelta(minutes=3)).replace(second=0, microsecond=0)  # 2-3 minutes ahead
    start, end = (local - timedelta(hours=1)).strftime("%H:%M"), end_at.strftime("%H:%M")
    body = {"action": "set_preferences", "patientId": rx.patients["uk"]["$id"], "quietStart": start, "quietEnd": end}
    assert rx.execute("patient", "notification-send", body)[0] == 200
    try:
        prescription = sign_one(rx)

        def deferred():
            rows = deliveries_of(rx, prescription["$id"])
            return rows if len(rows) == 2 and {r["status"] for r in rows} == {"deferred"} else None

        rows = providers.wait_for(deferred, shows=lambda: state(rx, prescription["$id"]))
        ends = datetime.fromisoformat(rows[0]["not_before"].replace("Z", "+00:00")).astimezone(
            ZoneInfo("Europe/London")
        )
        assert ends == end_at and ends > local  # kept, not dropped: sent when quiet hours end
        rx.server.advance(30)  # still quiet: the schedule leaves it
        time.sleep(1)
        assert not emails_about(providers, prescription["number"])
        assert {r["status"] for r in deliveries_of(rx, prescription["$id"])} == {"deferred"}

        rx.server.advance((end_at - rx.server.now()).total_seconds() + 61)  # past the end: the next minute's sweep
        email = providers.wait_for(lambda: emails_about(providers, prescription["number"]))
        assert len(email) == 1
        assert providers.wait_for(lambda: sms_about(providers, prescription["number"]))

        def sent():
            rows = deliveries_of(rx, prescription["$id"])
            return rows if {r["status"] for r in rows} <= {"sent", "delivered"} else None

        providers.wait_for(sent, shows=lambda: state(rx, prescription["$id"]))
    finally:
        rx.execute("patient", "notification-send", {"action": "set_preferences", "patientId": rx.patients["uk"]["$id"]})


def test_the_daily_spend_cap_stops_texts_once_their_price_reaches_it(rx, providers):
    from datetime import timedelta

    from rxcore.ids import derived_id
    from rxcore.portal.ratelimit import window_start

    day = window_start(rx.server.now(), timedelta(days=1))
    counter = rx.tables.get("rate_limits", derived_id("notify-spend", rx.clinics["uk"], day.timestamp()))
    spent = counter["count"] if counter else 0  # ten-thousandths
    # one UK text (one segment at 0.05) fits, a second does not
    prices = json.dumps({"sms": {"GB": "0.05"}})
    set_function_variable(rx.admin, "notification-send", "RX_NOTIFY_TEXT_PRICES", prices)
    set_function_variable(rx.admin, "notification-send", "RX_NOTIFY_DAILY_SPEND_CAP", f"{(spent + 700) / 10000:.4f}")
    try:
        first, second = sign_one(rx), sign_one(rx)

        rows = providers.wait_for(texts_settled(rx, first, second), shows=lambda: state(rx, second["$id"]))
        assert sorted(r["status"] for r in rows)[1] == "suppressed", rows
        capped = next(r for r in rows if r["status"] == "suppressed")
        assert capped["last_error"].startswith("the clinic's daily text spend cap of 0.")
        emails = [r for p in (first, second) for r in deliveries_of(rx, p["$id"]) if r["channel"] == "email"]
        assert len(emails) == 2 and "suppressed" not in {r["status"] for r in emails}  # e-mail is not capped
        after = rx.tables.get("rate_limits", derived_id("notify-spend", rx.clinics["uk"], day.timestamp()))
        assert after["count"] == spent + 500
    finally:
        set_function_variable(rx.admin, "notification-send", "RX_NOTIFY_DAILY_SPEND_CAP", "0")


def test_a_password_change_sends_a_security_notice_even_to_someone_who_opted_out(rx, providers):
    from appwrite.services.account import Account
    from appwrite.services.users import Users

    from tests.support.rx_world import PASSWORD

    person = rx.user("security", "Sam Secure")
    Users(rx.admin).update_phone(person.id, "+447700900777")
    body = {"action": "set_preferences", "email": False, "sms": False}
    assert rx.execute("security", "notification-send", body)[0] == 200
    Account(person.client).update_password("a-new-long-passphrase-9", PASSWORD)

    def notices():  # the phone change and the password change, each by e-mail and SMS
        rows = rx.tables.list(deliveries.TABLE, [Query.equal("recipient_id", person.id),
                                                 Query.equal("type", "security.notice")])  # fmt: skip
        done = [r for r in rows if r["status"] in ("sent", "delivered")]
        return done if len(done) == 4 else None

    assert sorted(r["channel"] for r in providers.wait_for(notices)) == ["email", "email", "sms", "sms"]
    emails = [r for r in providers.requests("sendgrid") if r["body"]["template_id"] == "d-5555"
              and r["body"]["personalizations"][0]["to"][0]["email"] == person.email]  # fmt: skip
    changes = sorted(e["body"]["personalizations"][0]["dynamic_template_data"]["change"] for e in emails)
    assert changes == ["password", "phone"]  # the phone set by an admin is a change too
    assert "unsubscribe_url" not in emails[0]["body"]["personalizations"][0]["dynamic_template_data"]
    texts = [r["body"]["Body"] for r in providers.requests("twilio") if r["body"].get("To") == "+447700900777"]
    assert any(t.startswith("Your account's password was changed on ") for t in texts), texts


def test_the_unsubscribe_link_in_an_email_turns_email_off(rx, providers):
    prescription = sign_one(rx)
    email = providers.wait_for(lambda: emails_about(providers, prescription["number"]))[0]
    link = email["body"]["personalizations"][0]["dynamic_template_data"]["unsubscribe_url"]
    assert link.startswith(providers.public_url + "/unsubscribe?t=")
    assert email["body"]["headers"]["List-Unsubscribe"] == f"<{link}>"
    forged = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
    assert requests.get(forged, timeout=30).status_code == 403
    page = requests.get(link, timeout=30)
    assert page.status_code == 200 and "unsubscribed" in page.text
    try:
        later = sign_one(rx)

        rows = providers.wait_for(once_sent(rx, later["$id"], "sms"), shows=lambda: state(rx, later["$id"]))
        assert (rows["email"]["status"], rows["email"]["last_error"]) == ("suppressed", "opted out")
    finally:
        rx.execute("patient", "notification-send", {"action": "set_preferences", "patientId": rx.patients["uk"]["$id"]})


def test_a_patient_who_reads_welsh_gets_the_welsh_template_where_one_is_configured(rx, providers):
    patient_id = rx.patients["uk"]["$id"]
    body = {"action": "set_preferences", "patientId": patient_id, "language": "cy"}
    code, answer = rx.execute("patient", "notification-send", body)
    assert code == 200 and answer["preferences"]["language"] == "cy"
    try:
        prescription = sign_one(rx)
        email = providers.wait_for(lambda: emails_about(providers, prescription["number"]))[0]
        assert email["body"]["template_id"] == READY_CY
        rows = {r["channel"]: r for r in deliveries_of(rx, prescription["$id"])}
        assert rows["email"]["language"] == "cy"
    finally:
        rx.execute("patient", "notification-send", {"action": "set_preferences", "patientId": patient_id})
    bad = {"action": "set_preferences", "patientId": patient_id, "language": "Welsh"}
    code, refused = rx.execute("patient", "notification-send", bad)
    assert (code, refused["type"]) == (400, "general_argument_invalid") and "language" in refused["message"]


def test_a_platform_admin_sends_a_notification_directly_once_per_key(rx, providers):
    from appwrite.services.users import Users

    admin = rx.user("platform_admin", "Pat Admin")
    Users(rx.admin).update_labels(admin.id, ["admin"])
    set_function_variable(rx.admin, "notification-send", "RX_NOTIFY_EMAIL_TEMPLATES",
                          json.dumps(TEMPLATES | {"wallet.low_balance": "d-7777"}))  # fmt: skip
    try:
        body = {"action": "notify", "type": "wallet.low_balance", "key": "manual-1",
                "payload": {"entityType": "individual", "entityId": rx.people["prescriber"].id, "balance": 3,
                            "threshold": 10}}  # fmt: skip
        first, again = rx.execute("platform_admin", "notification-send", body), rx.execute(
            "platform_admin", "notification-send", body)  # fmt: skip
        assert first[0] == 200 and first[1]["replayed"] is False, first
        assert again == (200, {"messageId": first[1]["messageId"], "replayed": True})
        other = body | {"payload": body["payload"] | {"balance": 2}}
        code, reused = rx.execute("platform_admin", "notification-send", other)
        assert (code, reused["type"]) == (409, "idempotency_key_reused")

        def sent():
            return [r for r in providers.requests("sendgrid") if r["body"]["template_id"] == "d-7777"
                    and r["body"]["personalizations"][0]["dynamic_template_data"]["balance"] == 3]  # fmt: skip

        assert len(providers.wait_for(sent)) == 1
        time.sleep(1)
        assert len(sent()) == 1  # the repeated request sent nothing more
        code, refused = rx.execute("prescriber", "notification-send", body | {"key": "manual-2"})
        assert (code, refused["type"]) == (403, "user_unauthorized")
        code, refused = rx.execute("platform_admin", "notification-send", body | {"type": "nobody.listens"})
        assert (code, refused["type"]) == (400, "general_argument_invalid") and "`type`" in refused["message"]
        forged = body | {"type": "security.notice", "payload": {"userId": rx.people["patient"].id, "change": "email",
                                                                "changedAt": "2026-12-04T10:00:00Z"}}  # fmt: skip
        code, refused = rx.execute("platform_admin", "notification-send", forged)
        assert (code, refused["type"]) == (400, "general_argument_invalid"), "security notices: account events only"
        hostile = [{"entityType": "individual"}, {"entityType": "individual", "entityId": 7},
                   {"entityType": "individual", "entityId": {"$ne": ""}}, {"x" * 60: "y"}]  # fmt: skip
        for payload in hostile:
            code, refused = rx.execute("platform_admin", "notification-send", body | {"payload": payload})
            assert (code, refused["type"]) == (400, "general_argument_invalid"), (payload, refused)
        for bad in ({"key": "k" * 101}, {"clinicId": "../x"}, {"type": "x" * 49}, {"payload": []}):
            code, refused = rx.execute("platform_admin", "notification-send", body | bad)
            assert (code, refused.get("type")) == (400, "general_argument_invalid"), (bad, refused)
    finally:
        set_function_variable(rx.admin, "notification-send", "RX_NOTIFY_EMAIL_TEMPLATES", json.dumps(TEMPLATES))


EVERY_TYPE_TEMPLATES = {name: f"d-type-{n:02d}" for n, name in enumerate(sorted(
    ["payment.succeeded", "payment.refunded", "wallet.low_balance", "wallet.top_up_failed", "appointment.booked",
     "appointment.reminder", "appointment.cancelled", "subscription.payment_failed"]))}  # fmt: skip


def test_every_type_reaches_its_recipients_with_its_template_and_data(rx, providers):
    """Each type (prescription.ready, .dispensed and security.notice have their own tests above) through the
    admin's `notify`, with real rows behind its ids: the provider request names the type's template, recipient and
    data, and the texts of those with SMS."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from appwrite.id import ID
    from appwrite.services.users import Users

    patient, doctor = rx.people["patient"], rx.people["prescriber"]
    Users(rx.admin).update_phone(patient.id, "+447700900555")
    admin = rx.people.get("platform_admin") or rx.user("platform_admin", "Pat Admin")
    Users(rx.admin).update_labels(admin.id, ["admin"])
    set_function_variable(rx.admin, "notification-send", "RX_NOTIFY_EMAIL_TEMPLATES",
                          json.dumps(TEMPLATES | EVERY_TYPE_TEMPLATES))  # fmt: skip
    now = datetime.now(UTC)
    payment_id, appointment_id = ID.unique(), ID.unique()
    rx.tables.create("billing_payments", payment_id, {
        "entity_type": "individual", "entity_id": patient.id, "user_id": patient.id, "kind": "consultation",
        "description": "Online consultation", "currency": "gbp", "amount": 8000, "amount_refunded": 8000, "tokens": 0,
        "tokens_reversed": 0, "status": "refunded", "stripe_customer_id": "cus_test", "request_digest": "0" * 64,
        "history": "[]", "created_at": now.isoformat(), "updated_at": now.isoformat()})  # fmt: skip
    starts = (now + timedelta(days=2)).replace(hour=14, minute=30, second=0, microsecond=0)
    rx.tables.create("appointments", appointment_id, {
        "slot_id": "slot-x", "clinic_id": rx.clinics["uk"], "doctor_id": doctor.id, "doctor_name": "Dr Pat Prescriber",
        "patient_user_id": patient.id, "patient_name": "Pat Patient", "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=30)).isoformat(), "time_zone": "Europe/London", "language": "en",
        "status": "booked", "price": 8000, "currency": "gbp", "price_kind": "new", "expires_at": now.isoformat(),
        "idempotency_key": f"k-{appointment_id}", "created_at": now.isoformat()})  # fmt: skip
    local_start = starts.astimezone(ZoneInfo("Europe/London")).strftime("%A %d %B %Y, %H:%M")
    wallet = {"entityType": "individual", "entityId": doctor.id, "balance": 4, "threshold": 10, "invoice": "in_123"}
    cases = {  # type: (payload, who gets the e-mail, data that must be there, SMS to the patient's phone or None)
        "payment.succeeded": ({"paymentId": payment_id}, [patient], {"amount_minor": 8000, "currency": "gbp"}, None),
        "payment.refunded": ({"paymentId": payment_id}, [patient], {"amount_refunded_minor": 8000}, None),
        "wallet.low_balance": (wallet, [doctor], {"balance": 4, "threshold": 10}, None),
        "wallet.top_up_failed": (wallet, [doctor], {"entity_type": "individual"}, None),
        "subscription.payment_failed": (wallet, [doctor], {"invoice": "in_123"}, None),
        "appointment.booked": ({"appointmentId": appointment_id}, [patient], {"starts_local": local_start},
                               "Consultation with Dr Pat Prescriber booked: "),
        "appointment.reminder": ({"appointmentId": appointment_id, "before": "24h"}, [patient], {"before": "24h"},
                                 "Reminder: consultation with Dr Pat Prescriber at "),
        "appointment.cancelled": ({"appointmentId": appointment_id, "by": "doctor"}, [patient, doctor],
                                  {"by": "doctor", "time_zone": "Europe/London", "starts_local": local_start}, None),
    }  # fmt: skip
    try:
        for kind, (payload, _to, _data, _sms) in cases.items():
            body = {"action": "notify", "type": kind, "key": f"every-{appointment_id}", "payload": payload}
            assert rx.execute("platform_admin", "notification-send", body)[0] == 200
        for kind, (_payload, to, data, sms) in cases.items():
            template = EVERY_TYPE_TEMPLATES[kind]

            def emails(template=template, to=to):
                found = [r["body"] for r in providers.requests("sendgrid") if r["body"]["template_id"] == template]
                return found if len(found) >= len(to) else None

            sent = providers.wait_for(emails)
            assert sorted(b["personalizations"][0]["to"][0]["email"] for b in sent) == sorted(p.email for p in to)
            shown = sent[0]["personalizations"][0]["dynamic_template_data"]
            assert data.items() <= shown.items(), (kind, shown)
            if sms:
                texts = providers.wait_for(lambda sms=sms: [r for r in providers.requests("twilio")
                                                            if r["body"].get("Body", "").startswith(sms)])  # fmt: skip
                assert texts[0]["body"]["To"] == "+447700900555"
    finally:
        set_function_variable(rx.admin, "notification-send", "RX_NOTIFY_EMAIL_TEMPLATES", json.dumps(TEMPLATES))
