"""The one way to write a function (docs/functions.md): the shell, typed requests and the dispatcher, settings,
commit_with_audit, the outbox, and a service tested on the in-memory TableStore instead of the server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from pydantic import Field

from appwrite_local.runtime.worker import Context, Logs
from rxcore import audit, outbox
from rxcore.actions import Dispatcher, RequestModel, RowId, parse
from rxcore.audit import AuditEvent, Change, commit_with_audit
from rxcore.errors import BadRequest, Conflict, NotConfigured, ServiceError
from rxcore.function_shell import FunctionRequest, Reply, run
from rxcore.identity import Caller
from rxcore.prescribing import prescribe
from rxcore.prescribing.requests import CancelPrescription, CreatePrescription
from rxcore.settings import DmdSettings, PrescribingSettings
from tests.support.memory_tables import MemoryTables

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
ENV = {"APPWRITE_FUNCTION_API_ENDPOINT": "http://127.0.0.1:9/v1", "APPWRITE_FUNCTION_PROJECT_ID": "p"}


def context(body: bytes, headers: dict[str, str] | None = None) -> Context:
    ctx = Context(Logs(True))
    ctx.req.body_binary = body
    ctx.req.headers = headers or {}
    ctx.req.method, ctx.req.path, ctx.req.query = "POST", "/hooks/stripe", {"a": "1"}
    return ctx


# --- the shell --------------------------------------------------------------------------------------------------
def test_the_shell_gives_handlers_the_exact_request_and_lets_them_answer(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    raw = b'{"b": 1,  "a": "\\u00e9"}\n'  # spacing and escapes a re-serialised body would lose
    seen = {}

    def handler(request: FunctionRequest):
        seen.update(raw=request.raw_body, method=request.method, path=request.path, query=request.query)
        return Reply({"ok": True}, 202, {"x-reply": "yes"})

    answer = run(context(raw, {"Stripe-Signature": "t=1"}), handler)
    assert seen == {"raw": raw, "method": "POST", "path": "/hooks/stripe", "query": {"a": "1"}}
    assert answer["statusCode"] == 202 and answer["headers"]["x-reply"] == "yes"
    assert run(context(b""), lambda r: Reply(b"%PDF", 200, {"content-type": "application/pdf"}))["body"] == b"%PDF"


def test_errors_carry_their_status_and_unexpected_ones_reveal_nothing(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)

    def conflict(_):
        raise Conflict("slot_unavailable", "Taken.")

    def crash(_):
        raise RuntimeError("secret detail")

    answer = run(context(b"{}"), conflict)
    assert answer["statusCode"] == 409
    assert json.loads(answer["body"]) == {"message": "Taken.", "code": 409, "type": "slot_unavailable"}
    answer = run(context(b"{}"), crash)
    assert answer["statusCode"] == 500 and b"secret" not in answer["body"]
    assert ServiceError(418, "teapot", "no").code == 418  # a status no class names


# --- typed requests and the dispatcher -------------------------------------------------------------------------
class Echo(RequestModel):
    item_id: RowId
    count: int = Field(1, ge=1, le=5)
    flag: bool = False


def request(body: dict, trigger: str = "http") -> FunctionRequest:
    headers = {"x-appwrite-trigger": trigger, "x-appwrite-user-id": "u1"}
    return FunctionRequest(json.dumps(body).encode(), headers, "u1", Client(), ENV, print)


def dispatcher() -> Dispatcher:
    actions = Dispatcher("echo", default="echo", on_schedule="sweep")

    @actions.action("echo", Echo)
    def echo(c: Caller, params: Echo) -> dict:
        """Answer what was asked."""
        return {"user": c.user_id, "item": params.item_id, "count": params.count}

    @actions.action("sweep", RequestModel)
    def sweep(c: Caller, params: RequestModel) -> dict:
        return {"swept": True}

    return actions


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"action": "nope"}, "`action` must be one of echo, sweep."),
        ({"itemId": "a", "userId": "someone-else"}, "`userId`: not a field of this request"),
        ({"itemId": "a", "count": 9}, "`count`: Input should be less than or equal to 5."),
        ({"itemId": "a", "count": "2"}, "`count`: Input should be a valid integer."),
        ({"itemId": "a", "flag": "yes"}, "`flag`: Input should be a valid boolean."),
        ({"itemId": "   "}, "`itemId`: String should have at least 1 character."),
    ],
)
def test_every_malformed_request_is_one_error_type_naming_the_field(body, message):
    with pytest.raises(BadRequest) as info:
        dispatcher()(request(body))
    assert info.value.type == "general_argument_invalid" and info.value.code == 400
    assert message in info.value.message


def test_the_dispatcher_routes_by_action_default_and_trigger():
    actions = dispatcher()
    assert actions(request({"itemId": "a"})) == {"user": "u1", "item": "a", "count": 1}
    assert actions(request({}, trigger="schedule")) == {"swept": True}
    assert actions.schemas()["echo"]["properties"]["action"] == {"const": "echo"}
    assert actions.schemas()["sweep"]["required"] == ["action"]


def test_nested_fields_are_named_by_their_path():
    item = {"code": "1", "dose": "d", "quantity": 1, "unit": "u"}
    body = {"clinicId": "c", "patientId": "p", "idempotencyKey": "k", "items": [item, item | {"quantity": 0}]}
    with pytest.raises(BadRequest, match=r"`items\[1\]\.quantity`: Input should be greater than 0"):
        parse(CreatePrescription, body)


# --- settings ---------------------------------------------------------------------------------------------------
def test_settings_read_the_new_names_then_the_deprecated_ones():
    assert DmdSettings.from_env({"RX_DMD_WRITE_CONCURRENCY": "8", "DMD_WRITE_CONCURRENCY": "2"}).write_concurrency == 8
    assert DmdSettings.from_env({"DMD_WRITE_CONCURRENCY": "2"}).write_concurrency == 2
    secret = PrescribingSettings.from_env({"PRACTITIONER_KEY_SECRET": "s" * 40}).practitioner_key_secret
    assert secret.get_secret_value() == "s" * 40 and "s" * 40 not in repr(secret)
    with pytest.raises(NotConfigured, match="write_concurrency|RX_DMD_WRITE_CONCURRENCY"):
        DmdSettings.from_env({"RX_DMD_WRITE_CONCURRENCY": "99"})


# --- commit_with_audit and the outbox ---------------------------------------------------------------------------
def event(action: str = "thing.changed") -> AuditEvent:
    return AuditEvent("u1", "staff", action, "thing", "t1", "clinic1", None, "127.0.0.1", {})


def test_a_change_its_audit_events_and_messages_land_together_and_a_lost_race_decides_again():
    tables, decided = MemoryTables(), []
    message = outbox.Message("prescription.ready", "prescription.ready:rx1", {"prescriptionId": "rx1"}, "clinic1")

    def decide(_tx):
        decided.append(1)
        return Change([tables.op("create", "things", "t1", {"n": 1})], [event()], "done", messages=[message])

    tables.fail_next_commit = AppwriteException("conflict", 409, "transaction_conflict")
    assert commit_with_audit(tables, decide, lambda: NOW) == "done"
    assert len(decided) == 2 and tables.get("things", "t1")["n"] == 1
    chain = tables.list("audit_events", [])
    assert [e["action"] for e in chain] == ["thing.changed"] and audit.verify_chain(chain) is None
    row = tables.get(outbox.NOTIFICATIONS, outbox.message_id(message.key))
    assert row["status"] == "pending" and outbox.payload_of(row) == {"prescriptionId": "rx1"}


def test_a_decision_to_write_nothing_rolls_back_and_an_error_after_commit_still_commits():
    tables = MemoryTables()
    assert commit_with_audit(tables, lambda tx: {"replayed": True}, lambda: NOW, transactional_reads=True) == {
        "replayed": True
    }
    assert tables.transactions == {} and tables.list("audit_events", []) == []
    refusal = Conflict("prescription_expired", "Expired.")
    with pytest.raises(Conflict):
        commit_with_audit(tables, lambda tx: Change([], [event("x.expired")], then_raise=refusal), lambda: NOW)
    assert [e["action"] for e in tables.list("audit_events", [])] == ["x.expired"]


def test_an_outbox_message_is_claimed_by_one_consumer_retried_with_backoff_then_dead():
    tables = MemoryTables()
    message = outbox.Message("prescription.ready", "prescription.ready:rx9", {"prescriptionId": "rx9"})
    tables.commit([outbox.message_operation(tables, message, NOW)])
    [due] = outbox.due(tables, ["prescription.ready"], NOW)
    claimed = outbox.claim(tables, due["$id"], NOW, outbox.NOTIFICATIONS)
    assert claimed["status"] == "sending" and claimed["attempts"] == 1
    assert (
        outbox.claim(tables, due["$id"], NOW, outbox.NOTIFICATIONS) is None
    )  # held by the first consumer for its lease
    failed = outbox.settle(tables, claimed, NOW, "provider answered 503")
    assert failed["status"] == "failed" and failed["next_attempt_at"].startswith("2026-12-04T09:31")
    assert outbox.due(tables, ["prescription.ready"], NOW) == []
    later = NOW
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        later += timedelta(days=1)  # past the longest backoff
        row = outbox.claim(tables, due["$id"], later, outbox.NOTIFICATIONS)
        row = outbox.settle(tables, row, later, "still failing")
    assert row["status"] == "dead" and outbox.claim(tables, due["$id"], later, outbox.NOTIFICATIONS) is None
    with pytest.raises(ValueError, match="unknown outbox topic"):
        outbox.message_row(outbox.Message("nobody.listens", "k", {}), NOW)


def test_new_messages_are_taken_in_batches_that_never_overlap_and_only_when_due():
    tables = MemoryTables()
    later = NOW + timedelta(hours=1)
    ops = [outbox.message_operation(tables, outbox.Message("wallet.low_balance", f"low:{n}", {"n": n}), NOW)
           for n in range(5)]  # fmt: skip
    ops.append(
        outbox.message_operation(tables, outbox.Message("appointment.reminder", "r", {}, available_at=later), NOW)
    )
    tables.commit(ops)
    topics = ["wallet.low_balance", "appointment.reminder"]
    first = outbox.claim_fresh(tables, topics, NOW, limit=3)
    second = outbox.claim_fresh(tables, topics, NOW, limit=3)
    assert len(first) == 3 and len(second) == 2 and not {m["$id"] for m in first} & {m["$id"] for m in second}
    assert {m["status"] for m in first + second} == {"sending"} and {m["attempts"] for m in first} == {1}
    assert outbox.claim_fresh(tables, topics, NOW, limit=3) == []  # the reminder is not due yet
    assert [m["topic"] for m in outbox.claim_fresh(tables, topics, later, limit=3)] == ["appointment.reminder"]
    outbox.settle_sent(tables, outbox.NOTIFICATIONS, [m["$id"] for m in first], NOW)
    assert {tables.get(outbox.NOTIFICATIONS, m["$id"])["status"] for m in first} == {"sent"}
    with pytest.raises(ValueError, match="share one outbox table"):
        outbox.table_for(["wallet.low_balance", "consultation.paid"])


# --- a service, tested without the server ----------------------------------------------------------------------
def prescribing_caller(tables: MemoryTables, user_id: str = "dr1") -> Caller:
    req = FunctionRequest(b"{}", {"x-appwrite-client-ip": "10.0.0.1"}, user_id, Client(), ENV, print)
    return Caller(req, tables, user_id, NOW, PrescribingSettings())


def seeded(status: str) -> MemoryTables:
    tables = MemoryTables()
    tables.create("practitioners", "dr1", {"role": "prescriber", "active": True, "clinic_ids": ["clinic1"]})
    row = {"clinic_id": "clinic1", "patient_id": "pt1", "prescriber_id": "dr1", "number": "N1", "status": status}
    tables.create("prescriptions", "rx1", row)
    tables.create("prescription_items", "rx1-1", {"prescription_id": "rx1", "line": 1, "name": "Amoxicillin"})
    return tables


def test_cancelling_writes_the_status_and_its_audit_event_once():
    tables = seeded("signed")
    c = prescribing_caller(tables)
    first = prescribe.cancel(c, CancelPrescription(prescription_id="rx1", reason="wrong dose"))
    again = prescribe.cancel(c, CancelPrescription(prescription_id="rx1", reason="wrong dose"))
    assert first["replayed"] is False and again["replayed"] is True
    assert tables.get("prescriptions", "rx1")["status"] == "cancelled"
    events = tables.list("audit_events", [])
    assert [(e["action"], e["actor_id"], e["ip"]) for e in events] == [("prescription.cancelled", "dr1", "10.0.0.1")]


def test_a_dispensed_prescription_cannot_be_cancelled_and_another_clinics_is_not_found():
    with pytest.raises(Conflict, match="dispensed prescription cannot be cancelled"):
        prescribe.cancel(prescribing_caller(seeded("dispensed")), CancelPrescription(prescription_id="rx1", reason="x"))
    tables = seeded("signed")
    tables.update("prescriptions", "rx1", {"clinic_id": "clinic2"})
    with pytest.raises(ServiceError) as info:
        prescribe.cancel(prescribing_caller(tables), CancelPrescription(prescription_id="rx1", reason="x"))
    assert (info.value.code, info.value.type) == (404, "prescription_not_found")


# --- docs that cannot drift --------------------------------------------------------------------------------------
def test_every_function_publishes_the_schemas_it_validates_with():
    """Each function's doc carries the JSON Schema generated from its request models; a model changed without
    regenerating the doc fails here (the fix is `python scripts/function_schemas.py`)."""
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    script = repo / "scripts" / "function_schemas.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    spec = importlib.util.spec_from_file_location("function_schemas", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    functions = {p.name for p in (repo / "src" / "functions").iterdir() if (p / "main.py").exists()}
    assert functions == set(module.DISPATCHERS), "a function without published request schemas"
