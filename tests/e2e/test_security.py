"""The local server as an attacker meets it: other callers' transactions and uploads, inputs that once answered
500, forwarded addresses, foreign origins and endless bodies (issue 11, docs/security.md).

Raw HTTP (requests, http.client) where the SDK cannot send the bad input; a server of this module's own, so
that exhausting a per-IP limit cannot disturb other tests.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from pathlib import Path

import pytest
import requests
from appwrite.client import Client
from appwrite.id import ID
from appwrite.permission import Permission
from appwrite.query import Query
from appwrite.role import Role
from appwrite.services.account import Account
from appwrite.services.storage import Storage
from appwrite.services.tables_db import TablesDB
from appwrite.services.users import Users

from appwrite_local.files import CHUNK_SIZE
from tests.support.local_server import LocalServer, free_port
from tests.support.sdk import error_of

pytestmark = pytest.mark.e2e
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    instance = LocalServer(tmp_path_factory.mktemp("security") / "data", free_port()).start()
    yield instance
    instance.stop()


def _client(srv: LocalServer) -> Client:
    return Client().set_endpoint(srv.endpoint).set_project(srv.project_id)


@pytest.fixture(scope="module")
def key(srv) -> Client:
    return _client(srv).set_key(srv.api_key)


def _user(srv: LocalServer, key: Client) -> tuple[str, Client]:
    user_id = ID.unique()
    Users(key).create(user_id, email=f"{user_id}@example.test", password=PASSWORD)
    session = Account(key).create_email_password_session(f"{user_id}@example.test", PASSWORD)
    return user_id, _client(srv).set_session(session.secret)


@pytest.fixture(scope="module")
def notes(key) -> str:
    """A table anyone signed in may create rows in; rows readable only as their permissions say."""
    tables = TablesDB(key)
    tables.create("sec", "Security")
    tables.create_table(
        "sec",
        "notes",
        "Notes",
        permissions=[Permission.create(Role.users()), Permission.create(Role.any())],
        row_security=True,
        columns=[{"key": "text", "type": "varchar", "size": 100, "required": False}],
    )
    return "notes"


def _raw(srv: LocalServer, method: str, path: str, key: str | None = None, **kwargs) -> requests.Response:
    headers = {"X-Appwrite-Project": srv.project_id, **kwargs.pop("headers", {})}
    if key:
        headers["X-Appwrite-Key"] = key
    return requests.request(method, srv.endpoint + path, headers=headers, timeout=30, **kwargs)


def _is_appwrite_4xx(response: requests.Response, type_: str | None = None) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    body = response.json()
    assert set(body) >= {"message", "code", "type"} and body["code"] == response.status_code
    if type_:
        assert body["type"] == type_, body
    return body


# --- 1. transactions have one owner
def test_a_keys_transaction_is_invisible_and_unusable_to_a_guest(srv, key, notes):
    victim_id, _ = _user(srv, key)
    TablesDB(key).create_row("sec", notes, "victim", {"text": "mine"}, [Permission.read(Role.user(victim_id))])
    tx = TablesDB(key).create_transaction()
    TablesDB(key).update_row("sec", notes, "victim", {"text": "staged by key"}, transaction_id=tx.id)

    guest = _client(srv)
    assert TablesDB(guest).list_transactions().total == 0
    for call in (
        lambda: TablesDB(guest).get_transaction(tx.id),
        lambda: TablesDB(guest).update_transaction(tx.id, rollback=True),
        lambda: TablesDB(guest).delete_transaction(tx.id),
        lambda: TablesDB(guest).create_operations(
            tx.id,
            [
                {
                    "action": "update",
                    "databaseId": "sec",
                    "tableId": notes,
                    "rowId": "victim",
                    "data": {"$permissions": [Permission.read(Role.any()), Permission.update(Role.any())]},
                }
            ],
        ),
    ):
        assert error_of(call).type == "transaction_not_found"
    # Staging through a row route is refused the same way.
    assert (
        error_of(TablesDB(guest).update_row, "sec", notes, "victim", {"text": "x"}, transaction_id=tx.id).type
        == "transaction_not_found"
    )

    committed = TablesDB(key).update_transaction(tx.id, commit=True)
    assert committed.status == "committed" and committed.operations == 1
    row = TablesDB(key).get_row("sec", notes, "victim")
    assert row.data["text"] == "staged by key"
    assert row.permissions == [f'read("user:{victim_id}")'], "nothing the guest tried reached the commit"


def test_a_users_transaction_is_theirs_alone(srv, key, notes):
    _, alice = _user(srv, key)
    _, bob = _user(srv, key)
    tx = TablesDB(alice).create_transaction()
    TablesDB(alice).create_row("sec", notes, ID.unique(), {"text": "alice"}, transaction_id=tx.id)

    for other in (bob, key):  # another user, and even the project's key, see no such transaction
        assert tx.id not in [t.id for t in TablesDB(other).list_transactions().transactions]
        assert error_of(TablesDB(other).get_transaction, tx.id).type == "transaction_not_found"
        assert error_of(TablesDB(other).update_transaction, tx.id, commit=True).type == "transaction_not_found"
    assert TablesDB(alice).get_transaction(tx.id).operations == 1
    assert TablesDB(alice).update_transaction(tx.id, commit=True).status == "committed"
    assert TablesDB(key).list_rows("sec", notes, [Query.equal("text", "alice")]).total == 1


def test_guests_cannot_begin_a_transaction(srv):
    error = error_of(TablesDB(_client(srv)).create_transaction)
    assert error.code == 401 and error.type == "user_unauthorized"


# --- 2. uploads have one owner
def _chunk(srv, client_headers, bucket_id, file_id, data, start, total) -> requests.Response:
    end = start + len(data) - 1
    return _raw(
        srv,
        "POST",
        f"/storage/buckets/{bucket_id}/files",
        headers={**client_headers, "Content-Range": f"bytes {start}-{end}/{total}", "X-Appwrite-ID": file_id},
        data={"fileId": file_id},
        files={"file": ("scan.bin", data, "application/octet-stream")},
    )


@pytest.fixture(scope="module")
def shared_bucket(key) -> str:
    bucket_id = ID.unique()
    Storage(key).create_bucket(bucket_id, "Uploads", permissions=[Permission.create(Role.users())], file_security=True)
    return bucket_id


def _session_headers(srv, key) -> dict[str, str]:
    user_id = ID.unique()
    Users(key).create(user_id, email=f"{user_id}@example.test", password=PASSWORD)
    secret = Account(key).create_email_password_session(f"{user_id}@example.test", PASSWORD).secret
    return {"X-Appwrite-Session": secret}


def test_only_the_uploader_may_continue_an_upload(srv, key, shared_bucket):
    alice, mallory = _session_headers(srv, key), _session_headers(srv, key)
    total = CHUNK_SIZE + 1000
    first, last = os.urandom(CHUNK_SIZE), os.urandom(1000)
    file_id = ID.unique()
    assert _chunk(srv, alice, shared_bucket, file_id, first, 0, total).status_code == 201

    stolen = _chunk(srv, mallory, shared_bucket, file_id, os.urandom(1000), CHUNK_SIZE, total)
    _is_appwrite_4xx(stolen, "storage_file_already_exists")

    done = _chunk(srv, alice, shared_bucket, file_id, last, CHUNK_SIZE, total)
    assert done.status_code == 201 and done.json()["chunksUploaded"] == 2
    content = _raw(srv, "GET", f"/storage/buckets/{shared_bucket}/files/{file_id}/download", key=srv.api_key).content
    assert hashlib.sha256(content).digest() == hashlib.sha256(first + last).digest()
    # Someone else's finished file is not handed back to them either.
    _is_appwrite_4xx(
        _chunk(srv, mallory, shared_bucket, file_id, last, CHUNK_SIZE, total), "storage_file_already_exists"
    )


def test_an_upload_cannot_change_size_or_misplace_a_chunk(srv, key, shared_bucket):
    alice = _session_headers(srv, key)
    file_id = ID.unique()
    total = 2 * CHUNK_SIZE + 10
    assert _chunk(srv, alice, shared_bucket, file_id, os.urandom(CHUNK_SIZE), 0, total).status_code == 201

    resized = _chunk(srv, alice, shared_bucket, file_id, os.urandom(10), CHUNK_SIZE + 5, CHUNK_SIZE + 15)
    _is_appwrite_4xx(resized, "storage_invalid_content_range")
    grown = _chunk(srv, alice, shared_bucket, file_id, os.urandom(CHUNK_SIZE), CHUNK_SIZE, total + CHUNK_SIZE)
    assert "total size" in _is_appwrite_4xx(grown, "storage_invalid_content_range")["message"]
    misaligned = _chunk(srv, alice, shared_bucket, file_id, os.urandom(100), 100, total)
    _is_appwrite_4xx(misaligned, "storage_invalid_content_range")

    record = Storage(key).get_file(shared_bucket, file_id)
    assert (record.sizeoriginal, record.chunkstotal, record.chunksuploaded, record.signature) == (total, 3, 1, "")


# --- 3. inputs that answered 500
def test_multipart_without_a_boundary_is_a_400(srv):
    for path in ("/account", "/account/sessions/anonymous", "/tablesdb/transactions"):
        response = _raw(srv, "POST", path, headers={"Content-Type": "multipart/form-data"}, data=b"--x\r\n")
        _is_appwrite_4xx(response, "general_argument_invalid")


@pytest.mark.parametrize(
    "path",
    ["/users", "/teams", "/storage/buckets", "/functions", "/tablesdb", "/tablesdb/sec/tables"],
)
def test_a_search_of_only_whitespace_lists_everything(srv, key, notes, path):
    response = _raw(srv, "GET", path, key=srv.api_key, params={"search": "   \t "})
    assert response.status_code == 200, response.text
    assert response.json()["total"] >= 0
    _is_appwrite_4xx(_raw(srv, "GET", path, key=srv.api_key, params={"search[]": "x"}), "general_argument_invalid")


def test_transaction_id_of_the_wrong_type_is_a_400(srv, notes):
    response = _raw(srv, "GET", f"/tablesdb/sec/tables/{notes}/rows", params={"transactionId[]": "a"})
    _is_appwrite_4xx(response, "general_argument_invalid")
    response = _raw(
        srv, "POST", f"/tablesdb/sec/tables/{notes}/rows", json={"rowId": "x", "data": {}, "transactionId": [1]}
    )
    _is_appwrite_4xx(response, "general_argument_invalid")


def _list(srv, notes, *queries: str) -> requests.Response:
    return _raw(
        srv,
        "GET",
        f"/tablesdb/sec/tables/{notes}/rows",
        key=srv.api_key,
        params={f"queries[{i}]": q for i, q in enumerate(queries)},
    )


def test_limits_offsets_and_integers_beyond_64_bits_are_400s(srv, key, notes):
    for method in ("limit", "offset"):
        for value in (2**63, 2**70, -(2**63) - 1):
            _is_appwrite_4xx(
                _list(srv, notes, json.dumps({"method": method, "values": [value]})), "general_query_invalid"
            )
    assert _list(srv, notes, json.dumps({"method": "limit", "values": [2**63 - 1]})).status_code == 200
    huge = json.dumps({"method": "equal", "attribute": "$sequence", "values": [2**64]})
    _is_appwrite_4xx(_list(srv, notes, huge))


def test_deeply_nested_queries_are_a_400(srv, notes):
    # Written by hand: json.dumps itself recurses too deep for the deepest of these.
    leaf = '{"method":"equal","attribute":"text","values":["a"]}'
    _is_appwrite_4xx(_list(srv, notes, '{"method":"and","values":[' * 12 + leaf + "]}" * 12), "general_query_invalid")
    for depth in (400, 1500):  # as objects in a JSON body: within orjson's depth limit, and beyond it
        body = '{"queries":[' + '{"method":"and","values":[' * depth + leaf + "]}" * depth + "]}"
        response = _raw(
            srv,
            "DELETE",
            f"/tablesdb/sec/tables/{notes}/rows",
            key=srv.api_key,
            data=body,
            headers={"Content-Type": "application/json"},
        )
        _is_appwrite_4xx(response)
    deep_param = "queries" + "[a]" * 2000
    _is_appwrite_4xx(_raw(srv, "GET", f"/tablesdb/sec/tables/{notes}/rows", params={deep_param: "x"}))


def test_a_lone_surrogate_in_a_query_is_a_400(srv, notes):
    _is_appwrite_4xx(_list(srv, notes, '{"method":"equal","attribute":"text","values":["\\ud800"]}'))
    _is_appwrite_4xx(_list(srv, notes, '{"method":"search","attribute":"text","values":["a\\udc00b"]}'))


def test_an_imported_hash_with_non_ascii_characters_simply_does_not_match(srv, key):
    user_id = ID.unique()
    email = f"{user_id}@example.test"
    Users(key).create_md5_user(user_id, email, "ünïcødé-not-a-digest")
    error = error_of(Account(_client(srv)).create_email_password_session, email, "anything")
    assert error.code == 401 and error.type == "user_invalid_credentials"


# --- 4. forwarded addresses are not believed
def test_x_forwarded_for_does_not_reset_per_ip_limits(srv):
    statuses = []
    for i in range(55):  # anonymous sessions: 50 an hour per IP
        response = _raw(srv, "POST", "/account/sessions/anonymous", headers={"X-Forwarded-For": f"203.0.113.{i}"})
        statuses.append(response.status_code)
    assert statuses[:50] == [201] * 50 and statuses[50:] == [429] * 5


# --- 5. CORS admits only platforms
def test_cors_admits_localhost_origins_only(srv):
    for origin in ("http://localhost:5173", "http://127.0.0.1:3000", "https://localhost"):
        response = _raw(srv, "GET", "/health/version", headers={"Origin": origin})
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
    for origin in ("https://evil.example", "http://localhost.evil.example", "null", "file://"):
        response = _raw(srv, "GET", "/health/version", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in response.headers, origin
        preflight = _raw(
            srv, "OPTIONS", "/account", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        assert "Access-Control-Allow-Origin" not in preflight.headers, origin


def test_a_state_change_from_a_foreign_origin_is_refused(srv, key):
    response = _raw(srv, "POST", "/account/sessions/anonymous", headers={"Origin": "https://evil.example"})
    assert _is_appwrite_4xx(response, "general_unknown_origin")["code"] == 403
    # A server caller with a key is not a browser being tricked: allowed, as in Appwrite.
    response = _raw(srv, "GET", "/users", key=srv.api_key, headers={"Origin": "https://evil.example"})
    assert response.status_code == 200


def test_a_configured_platform_is_admitted(tmp_path):
    instance = LocalServer(tmp_path / "data", free_port()).start(["--allowed-hostname", "*.clinic.example"])
    try:
        ok = _raw(instance, "GET", "/health/version", headers={"Origin": "https://app.clinic.example"})
        assert ok.headers.get("Access-Control-Allow-Origin") == "https://app.clinic.example"
        other = _raw(instance, "GET", "/health/version", headers={"Origin": "https://clinic.example.evil"})
        assert "Access-Control-Allow-Origin" not in other.headers
    finally:
        instance.stop()


# --- 6. a body without Content-Length is cut off at the limit
def _peak_rss_kb(pid: int) -> int:
    """The process's high-water mark of resident memory (a freed buffer still counts)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_chunked_body_is_refused_at_the_limit_without_being_buffered(srv):
    before = _peak_rss_kb(srv.process.pid)
    connection = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    piece = b"x" * (1 << 20)

    def body():
        for _ in range(200):  # 200 MB offered; the server should stop listening after 32
            yield piece

    try:
        connection.request(
            "POST",
            "/v1/account/sessions/anonymous",
            body=body(),
            headers={"X-Appwrite-Project": srv.project_id, "Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        status, payload = response.status, json.loads(response.read())
    except (BrokenPipeError, ConnectionResetError):
        status, payload = 400, {"type": "general_argument_invalid"}  # the server hung up once it had answered
    finally:
        connection.close()
    assert status == 400 and payload["type"] == "general_argument_invalid"
    grown_mb = (_peak_rss_kb(srv.process.pid) - before) / 1024
    assert grown_mb < 64, f"the server's peak memory grew by {grown_mb:.0f} MB reading a refused body"
