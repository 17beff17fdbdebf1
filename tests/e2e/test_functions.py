"""Function executions through the official SDK, run by the real executor in worker processes."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import requests
from appwrite.id import ID
from appwrite.services.functions import Functions
from appwrite.services.tables_db import TablesDB
from appwrite.services.users import Users

from tests.support.sdk import error_of, val

pytestmark = pytest.mark.e2e


def wait_for(check, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def test_functions_are_registered_from_appwrite_json(admin, server):
    functions = Functions(admin)
    listed = {f.id: f for f in functions.list().functions}
    assert {"echo", "faults", "callback", "on-row", "ticker", "admins-only", "switched-off"} <= set(listed)
    assert "bad-cron" not in listed and "bad-entry" not in listed  # reported at start-up, not registered
    startup = server.log_path.read_text()
    assert "function bad-cron: schedule 'every day at noon' is not a valid cron expression" in startup
    assert "function bad-entry: entrypoint" in startup and "does not exist" in startup
    echo = functions.get("echo")
    assert (echo.runtime, echo.entrypoint, echo.execute, echo.timeout) == ("python-3.11", "echo/main.py", ["users"], 15)
    assert functions.get("ticker").schedule == "*/5 * * * *"
    assert error_of(functions.get, "nope").type == "function_not_found"


def test_sync_execution_request_headers_environment_and_logs(admin, people):
    person = people.create()
    client = people.session_client(person)
    execution = Functions(client).create_execution(
        "echo",
        body=json.dumps({"x": 1}),
        path="/hello?a=1&b=two",
        method="PUT",
        headers={"content-type": "application/json", "x-custom": "yes"},
    )
    assert (val(execution.status), val(execution.trigger), execution.responsestatuscode) == ("completed", "http", 200)
    assert execution.logs == "" and execution.errors == ""  # only API keys see logs
    seen = json.loads(execution.responsebody)
    assert seen["body"] == {"x": 1} and seen["bodyText"] == '{"x": 1}' and seen["method"] == "PUT"
    assert (seen["path"], seen["queryString"], seen["query"]) == ("/hello", "a=1&b=two", {"a": "1", "b": "two"})
    assert seen["scheme"] == "http" and seen["url"].endswith("/hello?a=1&b=two") and isinstance(seen["port"], int)
    headers = seen["headers"]
    assert headers["x-custom"] == "yes" and headers["x-appwrite-trigger"] == "http"
    assert headers["x-appwrite-user-id"] == person["id"] and headers["x-appwrite-user-jwt"].count(".") == 2
    assert headers["x-appwrite-key"].startswith("ephemeral_") and headers["x-appwrite-execution-id"] == execution.id
    assert "x-open-runtimes-secret" not in headers
    env = seen["env"]
    assert env["APPWRITE_FUNCTION_ID"] == "echo" and env["APPWRITE_FUNCTION_NAME"] == "Echo"
    assert env["APPWRITE_FUNCTION_RUNTIME_NAME"] == "Python" and env["APPWRITE_FUNCTION_RUNTIME_VERSION"] == "3.11"
    assert env["APPWRITE_FUNCTION_PROJECT_ID"] and env["APPWRITE_FUNCTION_API_ENDPOINT"].endswith("/v1")
    deployment = Functions(admin).get("echo").deploymentid
    assert env["GREETING"] == "hello" and env["APPWRITE_FUNCTION_DEPLOYMENT"] == deployment == execution.deploymentid
    assert {"name": "x-echo", "value": "yes"} in [
        dict(h) if isinstance(h, dict) else h.to_dict() for h in execution.responseheaders
    ]

    stored = Functions(admin).get_execution("echo", execution.id)
    assert 'echo called with {"method":"PUT"}' in stored.logs and "a native print" in stored.logs
    assert "Native logs detected" in stored.logs and stored.responsebody == ""
    assert stored.permissions == [f'read("user:{person["id"]}")']
    mine = Functions(client).list_executions("echo")
    assert [e.id for e in mine.executions] == [execution.id]


@pytest.mark.parametrize(
    "path,status,error_fragment",
    [
        ("/raise", 500, "ValueError: deliberate failure"),
        ("/no-return", 500, "Return statement missing. return context.res.empty() if no response is expected."),
        ("/sleep?s=5", 500, "Execution timed out."),
        ("/crash", 500, "exited unexpectedly (exit code 3)"),
        ("/error-log", 400, "something went wrong [1,2]"),
    ],
)
def test_failures_are_reported(admin, path, status, error_fragment):
    execution = Functions(admin).create_execution("faults", path=path, method="GET")
    assert execution.responsestatuscode == status and error_fragment in execution.errors
    assert val(execution.status) == ("failed" if status >= 500 else "completed")


def test_response_kinds(admin):
    functions = Functions(admin)
    assert functions.create_execution("faults", path="/status").responsestatuscode == 418
    assert functions.create_execution("faults", path="/empty").responsestatuscode == 204
    redirect = functions.create_execution("faults", path="/redirect")
    assert redirect.responsestatuscode == 301
    assert functions.create_execution("faults", path="/fine").responsebody == "fine"  # the crash above was replaced


def test_async_execution_lifecycle(admin):
    functions = Functions(admin)
    queued = functions.create_execution("faults", path="/sleep?s=0.3", xasync=True)
    assert val(queued.status) in ("waiting", "processing") and queued.responsebody == ""
    done = wait_for(lambda: (e := functions.get_execution("faults", queued.id)) and val(e.status) == "completed" and e)
    assert done.responsestatuscode == 200 and done.duration >= 0.3


def test_four_executions_run_at_the_same_time(admin):
    functions = Functions(admin)
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: functions.create_execution("faults", path="/sleep?s=1"), range(4)))
    elapsed = time.monotonic() - started
    assert all(r.responsebody == "woke up" for r in results)
    assert elapsed < 3.5, f"4 one-second executions took {elapsed:.1f}s: they did not run concurrently"


def test_permissions_and_bad_requests(admin, people, guest):
    person = people.create()
    as_user = Functions(people.session_client(person))
    err = error_of(as_user.create_execution, "admins-only")
    assert (err.code, err.type) == (401, "user_unauthorized")
    Users(admin).update_labels(person["id"], ["admin"])
    assert as_user.create_execution("admins-only").responsestatuscode == 200
    err = error_of(Functions(guest).create_execution, "echo")
    assert (err.code, err.type) == (401, "user_unauthorized")
    err = error_of(as_user.create_execution, "switched-off")
    assert (err.code, err.type) == (404, "function_not_found")
    err = error_of(Functions(admin).create_execution, "missing")
    assert (err.code, err.type) == (404, "function_not_found")
    err = error_of(Functions(admin).create_execution, "echo", headers={"X-Appwrite-User-Id": "spoofed"})
    assert (err.code, err.type) == (400, "general_argument_invalid")
    err = error_of(Functions(admin).create_execution, "echo", scheduled_at="2099-01-01T00:00:00Z")
    assert (err.code, err.type) == (400, "general_bad_request")
    err = error_of(Functions(admin).create_execution, "echo", body="x" * (10 * 1024 * 1024 + 1))
    assert (err.code, err.type) == (400, "general_argument_invalid")


def test_function_calls_back_with_its_scoped_key(admin, people):
    tables = TablesDB(admin)
    database_id = ID.unique()
    tables.create(database_id, "Callback")
    tables.create_table(
        database_id, "notes", "Notes", columns=[{"key": "note", "type": "varchar", "size": 40, "required": True}]
    )
    person = people.create()
    execution = Functions(people.session_client(person)).create_execution(
        "callback", body=json.dumps({"databaseId": database_id, "tableId": "notes"})
    )
    assert execution.responsestatuscode == 200, execution.responsebody
    result = json.loads(execution.responsebody)
    assert tables.get_row(database_id, "notes", result["rowId"]).data["note"] == "from function"
    assert result["users"] >= 1 and result["schemaWrite"] == "general_unauthorized_scope"
    assert result["caller"] == person["id"]  # the JWT acts as the calling user
    tables.delete(database_id)


def test_row_event_triggers_function(admin):
    tables = TablesDB(admin)
    database_id = ID.unique()
    tables.create(database_id, "Events")
    tables.create_table(database_id, "events_in", "In", columns=[{"key": "n", "type": "integer", "required": False}])
    tables.create_table(
        database_id,
        "events_out",
        "Out",
        columns=[
            {"key": "source", "type": "varchar", "size": 36, "required": True},
            {"key": "event", "type": "varchar", "size": 200, "required": True},
            {"key": "trigger", "type": "varchar", "size": 20, "required": True},
        ],
    )
    tables.create_row(database_id, "events_in", "first", {"n": 1})
    out = wait_for(lambda: tables.list_rows(database_id, "events_out").rows)
    assert out[0].data == {
        **out[0].data,
        "source": "first",
        "trigger": "event",
        "event": f"databases.{database_id}.tables.events_in.rows.first.create",
    }
    tables.update_row(database_id, "events_in", "first", {"n": 2})  # update: not subscribed
    time.sleep(0.5)
    assert tables.list_rows(database_id, "events_out").total == 1
    runs = Functions(admin).list_executions("on-row").executions
    assert any(val(e.trigger) == "event" for e in runs)
    tables.delete(database_id)


def test_cron_and_scheduled_executions_follow_the_virtual_clock(admin, server):
    functions = Functions(admin)
    before = functions.list_executions("ticker").total
    control = f"{server.endpoint.rsplit('/v1', 1)[0]}/_local/clock/advance"
    headers = {"X-Appwrite-Project": server.project_id, "X-Appwrite-Key": server.api_key}
    moved = requests.post(control, json={"seconds": 600}, headers=headers, timeout=10).json()
    assert moved["started"]
    runs = wait_for(
        lambda: [
            e
            for e in functions.list_executions("ticker").executions
            if val(e.trigger) == "schedule" and val(e.status) == "completed"
        ]
    )
    assert functions.list_executions("ticker").total > before and "tick schedule" in runs[0].logs

    now = requests.get(control.replace("/advance", ""), headers=headers, timeout=5).json()["now"]
    when = (datetime.fromisoformat(now) + timedelta(minutes=10)).isoformat()
    scheduled = functions.create_execution("faults", path="/fine", xasync=True, scheduled_at=when)
    assert val(scheduled.status) == "scheduled"
    requests.post(control, json={"seconds": 11 * 60}, headers=headers, timeout=10)
    done = wait_for(lambda: (e := functions.get_execution("faults", scheduled.id)) and val(e.status) == "completed")
    assert done
    no_key = {"X-Appwrite-Project": server.project_id}
    assert requests.post(control, json={"seconds": 1}, headers=no_key, timeout=5).status_code == 401  # key only


def test_a_variable_made_secret_stays_secret(admin):
    functions = Functions(admin)
    variable = functions.create_variable("echo", ID.unique(), "SOON_SECRET", "visible")
    assert (variable.value, variable.secret) == ("visible", False)
    hidden = functions.update_variable("echo", variable.id, "SOON_SECRET", "hidden-value", secret=True)
    assert (hidden.value, hidden.secret) == ("", True)
    again = functions.update_variable("echo", variable.id, "SOON_SECRET", "other", secret=False)
    assert (again.value, again.secret) == ("", True)
    functions.delete_variable("echo", variable.id)
