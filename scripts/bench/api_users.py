"""The signed-in user's side of `make bench-api`: the same 20,000 rows, each owned by one of 20 users, read and
written by one of them as a browser or a function acting for them would (a JWT here; PocketBase's user token).

Ours: a table with row security, each row `read`/`update`/`delete` for its owner's `user:<id>`, create for `users`.
PocketBase: a collection with an `owner` relation and the equivalent rules (`owner = @request.auth.id`).
The user owns 1,000 rows spread over the 50 forms, so a list by form has 20 rows to show.
"""

from __future__ import annotations

import requests
from scripts.bench.api import COLUMNS, PB_FIELDS, ROWS, row, row_id

OWNERS = 20
PASSWORD = "bench-password-1"


def owner_of(i: int) -> int:
    return i % OWNERS


def setup_ours(base: str, project: str, key: str) -> dict[str, str]:
    admin = requests.Session()
    admin.headers.update({"X-Appwrite-Project": project, "X-Appwrite-Key": key, "Content-Type": "application/json"})
    for n in range(OWNERS):
        admin.post(
            f"{base}/users", json={"userId": f"owner{n}", "email": f"owner{n}@example.test", "password": PASSWORD}
        )
    admin.post(
        f"{base}/tablesdb/bench/tables",
        json={
            "tableId": "owned",
            "name": "Owned",
            "rowSecurity": True,
            "permissions": ['create("users")'],
            "columns": COLUMNS,
            "indexes": [{"key": "form_ix", "type": "key", "columns": ["form"]}],
        },
    ).raise_for_status()
    for start in range(0, ROWS, 100):
        rows = []
        for i in range(start, start + 100):
            owner = f'"user:owner{owner_of(i)}"'
            permissions = [f"read({owner})", f"update({owner})", f"delete({owner})"]
            rows.append({"$id": row_id(i), **row(i), "$permissions": permissions})
        admin.put(f"{base}/tablesdb/bench/tables/owned/rows", json={"rows": rows}).raise_for_status()
    jwt = admin.post(f"{base}/users/owner0/jwts", json={"duration": 3600}).json()["jwt"]
    return {"X-Appwrite-Project": project, "X-Appwrite-JWT": jwt, "Content-Type": "application/json"}


def setup_pocketbase(base: str, superuser: dict[str, str]) -> dict[str, str]:
    session = requests.Session()
    session.headers.update(superuser)
    users = session.get(f"{base}/api/collections/users").json()["id"]
    ids = []
    for n in range(OWNERS):
        created = session.post(
            f"{base}/api/collections/users/records",
            json={"email": f"owner{n}@example.test", "password": PASSWORD, "passwordConfirm": PASSWORD},
        )
        created.raise_for_status()
        ids.append(created.json()["id"])
    rule = "owner = @request.auth.id"
    session.post(
        f"{base}/api/collections",
        json={
            "name": "owned",
            "type": "base",
            "listRule": rule,
            "viewRule": rule,
            "createRule": '@request.auth.id != "" && owner = @request.auth.id',
            "updateRule": rule,
            "deleteRule": rule,
            "fields": [
                *PB_FIELDS,
                {"name": "owner", "type": "relation", "required": True, "collectionId": users, "maxSelect": 1},
            ],
            "indexes": ["CREATE INDEX idx_owned_form ON owned (form)", "CREATE INDEX idx_owned_owner ON owned (owner)"],
        },
    ).raise_for_status()
    for start in range(0, ROWS, 100):
        batch = [
            {
                "method": "POST",
                "url": "/api/collections/owned/records",
                "body": {"id": row_id(i), **row(i), "owner": ids[owner_of(i)]},
            }
            for i in range(start, start + 100)
        ]
        session.post(f"{base}/api/batch", json={"requests": batch}).raise_for_status()
    token = requests.post(
        f"{base}/api/collections/users/auth-with-password",
        json={"identity": "owner0@example.test", "password": PASSWORD},
    ).json()["token"]
    return {"Authorization": token, "Content-Type": "application/json", "X-Owner": ids[0]}


# The user's own rows are those with i % OWNERS == 0: ids m{20k}.
LUA_OWN = f"""
function own() return rid(math.random(0, {ROWS // OWNERS - 1}) * {OWNERS}) end
"""
_LIST_OURS = (
    "queries%5B0%5D=%7B%22method%22%3A%22equal%22%2C%22attribute%22%3A%22form%22%2C%22values%22%3A%5B%22"
    '" .. form .. "%22%5D%7D&queries%5B1%5D=%7B%22method%22%3A%22limit%22%2C%22values%22%3A%5B20%5D%7D'
    "&total=false"
)
# Row i has form i % 50 and owner i % 20, so the user's rows (i % 20 == 0) have forms 00, 10, 20, 30, 40.
_FORM = 'local form = string.format("form-%02d", math.random(0, 4) * 10) '


def lua_ours(kind: str) -> str:
    return (
        LUA_OWN
        + {
            "get": 'request = function() return wrk.format("GET", base .. "/rows/" .. own()) end',
            "list": f'request = function() {_FORM}return wrk.format("GET", base .. "/rows?{_LIST_OURS}") end',
            "create": 'request = function() n = n + 1 return wrk.format("POST", base .. "/rows", nil, '
            '\'{"rowId":"unique()","data":\' .. newrow(n) .. \'}\') end',
        }[kind]
    )


def lua_pocketbase(kind: str, owner: str) -> str:
    return (
        LUA_OWN
        + {
            "get": 'request = function() return wrk.format("GET", base .. "/records/" .. own()) end',
            "list": f'request = function() {_FORM}return wrk.format("GET", base .. '
            '"/records?filter=(form%3D%27" .. form .. "%27)&perPage=20&skipTotal=1") end',
            "create": 'request = function() n = n + 1 return wrk.format("POST", base .. "/records", nil, '
            f'string.sub(newrow(n), 1, -2) .. \',"owner":"{owner}"}}\') end',
        }[kind]
    )
