"""Wire conventions checked with plain HTTP: headers, parameter flattening, error shape, bad input."""

from __future__ import annotations

import json

import pytest
import requests
from appwrite.id import ID
from appwrite.services.tables_db import TablesDB

pytestmark = pytest.mark.e2e


@pytest.fixture
def http(server):
    session = requests.Session()
    session.headers.update({"X-Appwrite-Project": server.project_id, "X-Appwrite-Key": server.api_key})
    base = server.endpoint

    def call(method: str, path: str, **kwargs) -> requests.Response:
        return session.request(method, base + path, timeout=10, **kwargs)

    return call


@pytest.fixture
def table(admin):
    tables = TablesDB(admin)
    database_id = ID.unique()
    tables.create(database_id, "Conventions")
    tables.create_table(database_id, "t", "T", columns=[{"key": "n", "type": "integer", "required": False}])
    yield tables, database_id
    tables.delete(database_id)


def assert_error(response: requests.Response, code: int, type_: str) -> dict:
    assert response.status_code == code, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"message", "code", "type", "version"} and body["code"] == code and body["type"] == type_
    assert body["message"]
    return body


def test_health_version_and_ping(server, http):
    assert requests.get(f"{server.endpoint}/health/version", timeout=5).json() == {"version": "1.9.6"}
    ping = http("GET", "/ping")
    assert ping.text == "Pong!" and ping.headers["Content-Type"].startswith("text/plain")
    assert http("GET", "/health").json()["status"] == "pass"
    no_key = requests.get(f"{server.endpoint}/health", headers={"X-Appwrite-Project": server.project_id}, timeout=5)
    assert_error(no_key, 401, "general_unauthorized_scope")


def test_project_checks(server):
    assert_error(
        requests.get(f"{server.endpoint}/tablesdb", headers={"X-Appwrite-Project": "other"}, timeout=5),
        404,
        "project_not_found",
    )
    assert_error(requests.get(f"{server.endpoint}/tablesdb", timeout=5), 404, "project_not_found")
    by_query = requests.get(f"{server.endpoint}/ping?project={server.project_id}", timeout=5)
    assert by_query.text == "Pong!"


def test_unknown_route_and_method(http):
    assert_error(http("GET", "/no/such/route"), 404, "general_route_not_found")
    assert_error(http("PATCH", "/health"), 404, "general_route_not_found")


def test_delete_is_204_with_content_type(http, table):
    _, database_id = table
    http("POST", f"/tablesdb/{database_id}/tables/t/rows", json={"rowId": "r1", "data": {"n": 1}})
    response = http("DELETE", f"/tablesdb/{database_id}/tables/t/rows/r1", json={})
    assert response.status_code == 204 and response.content == b"" and "Content-Type" in response.headers


def test_flattened_query_params(http, table):
    _, database_id = table
    for i in range(3):
        http("POST", f"/tablesdb/{database_id}/tables/t/rows", json={"rowId": f"r{i}", "data": {"n": i}})
    params = {
        "queries[0]": json.dumps({"method": "greaterThan", "attribute": "n", "values": [0]}),
        "queries[1]": json.dumps({"method": "limit", "values": [1]}),
        "total": "false",
    }
    body = http("GET", f"/tablesdb/{database_id}/tables/t/rows", params=params).json()
    assert body["total"] == 0 and [r["$id"] for r in body["rows"]] == ["r1"]
    assert body["rows"][0]["$sequence"] == "2" and isinstance(body["rows"][0]["$createdAt"], str)
    assert body["rows"][0]["$createdAt"].endswith("+00:00") and len(body["rows"][0]["$createdAt"]) == 29


@pytest.mark.parametrize(
    "payload,code,type_",
    [
        (b"{not json", 400, "general_bad_request"),
        (b"[1, 2]", 400, "general_bad_request"),
        (json.dumps({"data": {"n": 1}}).encode(), 400, "row_missing_data"),
        (json.dumps({"rowId": "x" * 37, "data": {"n": 1}}).encode(), 400, "general_argument_invalid"),
        (json.dumps({"rowId": "ok", "data": {"n": "one"}}).encode(), 400, "row_invalid_structure"),
        (json.dumps({"rowId": "ok", "data": {"n": 1}, "rows": []}).encode(), 400, "general_bad_request"),
        (json.dumps({"rowId": "ok", "data": {"n": 10**20}}).encode(), 400, "row_invalid_structure"),
    ],
)
def test_bad_row_input(http, table, payload, code, type_):
    tables, database_id = table
    response = http(
        "POST", f"/tablesdb/{database_id}/tables/t/rows", data=payload, headers={"Content-Type": "application/json"}
    )
    assert_error(response, code, type_)
    assert tables.list_rows(database_id, "t").total == 0


def test_missing_param_and_bad_ids(http):
    body = assert_error(http("POST", "/tablesdb", json={"name": "No id"}), 400, "general_argument_invalid")
    assert body["message"] == 'Param "databaseId" is not optional.'
    assert_error(http("POST", "/tablesdb", json={"databaseId": ".bad", "name": "x"}), 400, "general_argument_invalid")
    assert_error(http("GET", "/tablesdb/missing-db/tables/x/rows"), 404, "database_not_found")


def test_cookie_and_fallback_cookie_sessions(server, people):
    person = people.create()
    login = requests.post(
        f"{server.endpoint}/account/sessions/email",
        json={"email": person["email"], "password": person["password"]},
        headers={"X-Appwrite-Project": server.project_id},
        timeout=10,
    )
    assert login.status_code == 201 and login.json()["secret"] == ""  # secrets go only to API keys
    cookie = login.cookies.get(f"a_session_{server.project_id}")
    assert cookie and json.loads(login.headers["X-Fallback-Cookies"]) == {f"a_session_{server.project_id}": cookie}
    by_cookie = requests.get(
        f"{server.endpoint}/account",
        cookies={f"a_session_{server.project_id}": cookie},
        headers={"X-Appwrite-Project": server.project_id},
        timeout=5,
    )
    assert by_cookie.json()["$id"] == person["id"]
    by_fallback = requests.get(
        f"{server.endpoint}/account",
        timeout=5,
        headers={"X-Appwrite-Project": server.project_id, "X-Fallback-Cookies": login.headers["X-Fallback-Cookies"]},
    )
    assert by_fallback.json()["$id"] == person["id"]


def test_total_is_capped_at_5000(admin):
    tables = TablesDB(admin)
    database_id = ID.unique()
    tables.create(database_id, "Cap")
    tables.create_table(database_id, "many", "Many", columns=[{"key": "n", "type": "integer", "required": True}])
    for start in range(0, 5100, 100):
        tables.upsert_rows(database_id, "many", [{"n": i} for i in range(start, start + 100)])
    assert tables.list_rows(database_id, "many").total == 5000
    tables.delete(database_id)
