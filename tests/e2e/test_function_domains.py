"""Function domains with plain HTTP (no SDK): what a webhook sender or a browser sends reaches the function
byte for byte, anonymously, and the function's answer comes back unchanged (appwrite_local/domains.py)."""

from __future__ import annotations

import hashlib

import pytest
import requests
from appwrite.query import Query
from appwrite.services.functions import Functions

from appwrite_local.domains import FunctionDomains
from tests.support.sdk import val

pytestmark = pytest.mark.e2e

# What a Stripe delivery looks like on the wire: the signature covers these exact bytes (spacing, key order, CRLF).
RAW = b'{\n  "id": "evt_1",  "object": "event",\r\n  "data": {"amount": 1999, "name": "Zo\xc3\xab"}\n}\n'


@pytest.fixture
def base(server) -> str:
    return server.endpoint.removesuffix("/v1")


def on_domain(base: str, function_id: str, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Host": f"{function_id}.functions.localhost", **kwargs.pop("headers", {})}
    return requests.request(method, base + path, headers=headers, timeout=30, **kwargs)


def test_the_raw_request_reaches_the_function_and_its_answer_comes_back(base):
    response = on_domain(
        base,
        "public-echo",
        "POST",
        "/stripe/webhook?from=stripe&n=1",
        data=RAW,
        headers={"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": "t=1,v1=abc"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-echo"] == "yes" and response.headers["content-type"].startswith("application/json")
    seen = response.json()
    assert seen["bodySha256"] == hashlib.sha256(RAW).hexdigest()  # not re-encoded, not re-serialised
    assert (seen["method"], seen["path"], seen["query"]) == ("POST", "/stripe/webhook", {"from": "stripe", "n": "1"})
    assert seen["host"] == "public-echo.functions.localhost"
    headers = seen["headers"]
    assert headers["stripe-signature"] == "t=1,v1=abc" and headers["x-appwrite-trigger"] == "http"
    assert headers["x-appwrite-user-id"] == "" and headers["x-appwrite-user-jwt"] == ""
    assert headers["x-appwrite-key"]  # the function still acts with its own scopes


def test_the_path_form_reaches_the_same_function(base):
    response = requests.put(base + "/_functions/public-echo/a/b?x=1", data="raw\r\n\tbytes é".encode(), timeout=30)
    assert response.status_code == 200, response.text
    seen = response.json()
    assert (seen["method"], seen["path"], seen["query"]) == ("PUT", "/a/b", {"x": "1"})
    assert seen["bodySha256"] == hashlib.sha256("raw\r\n\tbytes é".encode()).hexdigest()
    assert requests.get(base + "/_functions/public-echo", timeout=30).json()["path"] == "/"


def test_a_caller_cannot_pose_as_a_user_on_a_function_domain(base, server, people):
    person = people.create()
    spoofed = {
        "X-Appwrite-User-Id": person["id"],
        "X-Appwrite-Key": server.api_key,
        "X-Appwrite-Project": server.project_id,
        "X-Appwrite-Trigger": "schedule",
        "X-Appwrite-Event": "databases.main.tables.x.rows.y.create",
    }
    seen = on_domain(base, "public-echo", "POST", "/", data=b"{}", headers=spoofed).json()["headers"]
    assert seen["x-appwrite-user-id"] == "" and seen["x-appwrite-trigger"] == "http"
    assert seen["x-appwrite-event"] == "" and seen["x-appwrite-key"] != server.api_key


def test_the_functions_status_headers_and_bytes_go_back_unchanged(base):
    teapot = on_domain(base, "faults", "GET", "/status")
    assert (teapot.status_code, teapot.text) == (418, "teapot")
    assert teapot.headers["content-type"] == "text/plain; charset=utf-8"  # as the runtime's res.text sets it
    binary = on_domain(base, "faults", "GET", "/binary")
    assert binary.content == bytes([0, 1, 2, 255])
    assert binary.headers["content-type"].startswith("application/octet-stream")  # the runtime adds a charset
    moved = on_domain(base, "faults", "GET", "/redirect", allow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"] == "https://example.test/next"
    failed = on_domain(base, "faults", "GET", "/raise")
    assert failed.status_code == 500 and "deliberate failure" not in failed.text  # the trace stays in the logs


def test_refusals_are_appwrite_shaped(base):
    private = on_domain(base, "echo", "POST", "/", data=b"{}")  # execute: users
    assert (private.status_code, private.json()["type"]) == (401, "user_unauthorized")
    assert "any" in private.json()["message"]
    for function_id in ("switched-off", "no-such-function"):
        missing = on_domain(base, function_id, "GET", "/")
        assert (missing.status_code, missing.json()["type"]) == (404, "function_not_found")
    big = on_domain(base, "public-echo", "POST", "/", data=b"x" * (10 * 1024 * 1024 + 1))
    assert (big.status_code, big.json()["type"]) == (413, "general_argument_invalid")
    # Another host is the API as usual, not a function.
    api = requests.get(base + "/v1/health/version", headers={"Host": "a.b.functions.example"}, timeout=30)
    assert api.status_code == 200 and "version" in api.json()


def test_each_request_is_an_execution_only_keys_can_read(base, admin, people):
    on_domain(base, "public-echo", "POST", "/recorded", data=b"{}")
    executions = Functions(admin).list_executions("public-echo", [Query.equal("requestPath", "/recorded")]).executions
    assert executions and val(executions[0].trigger) == "http" and executions[0].permissions == []
    person = people.session_client(people.create())
    assert Functions(person).list_executions("public-echo").total == 0


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("stripe-hooks.functions.localhost:8080", "/x", ("stripe-hooks", "/x")),
        ("STRIPE.Functions.Localhost", "/", ("stripe", "/")),
        ("a.b.functions.localhost", "/", None),  # one label only, as a function id has no dots
        (".functions.localhost", "/v1/health", None),
        ("127.0.0.1:8080", "/_functions/billing-process/stripe/webhook", ("billing-process", "/stripe/webhook")),
        ("127.0.0.1:8080", "/v1/functions/billing-process/executions", None),
        ("fn.functions.example.org", "/", ("fn", "/")),
    ],
)
def test_which_requests_are_for_a_function(host, path, expected):
    domains = FunctionDomains(app=None, services=None, suffix="functions.localhost")
    if host.endswith("example.org"):
        domains = FunctionDomains(app=None, services=None, suffix="functions.example.org")
    scope = {"type": "http", "path": path, "headers": [(b"host", host.encode())]}
    assert domains.target(scope) == expected


def test_a_json_webhook_body_is_not_parsed_by_the_server(base):
    """Invalid JSON is the function's business (a signature check fails it), not the server's 400."""
    response = on_domain(base, "faults", "POST", "/", data=b"{not json", headers={"Content-Type": "application/json"})
    assert (response.status_code, response.text) == (200, "fine")
