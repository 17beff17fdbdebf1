"""Test function: calls back into the API with the execution's key (and the caller's JWT)."""

import os

from appwrite.client import Client
from appwrite.services.account import Account
from appwrite.services.tables_db import TablesDB
from appwrite.services.users import Users


def main(context):
    endpoint = os.environ["APPWRITE_FUNCTION_API_ENDPOINT"]
    project = os.environ["APPWRITE_FUNCTION_PROJECT_ID"]
    server = Client().set_endpoint(endpoint).set_project(project).set_key(context.req.headers["x-appwrite-key"])
    body = context.req.body_json
    row = TablesDB(server).create_row(body["databaseId"], body["tableId"], "unique()", {"note": "from function"})
    result = {"rowId": row.id, "users": Users(server).list().total}
    try:
        TablesDB(server).create(body["databaseId"] + "x", "not allowed")
        result["schemaWrite"] = "allowed"
    except Exception as exc:  # the key only has the function's scopes
        result["schemaWrite"] = getattr(exc, "type", str(exc))
    jwt = context.req.headers.get("x-appwrite-user-jwt", "")
    if jwt:
        me = Account(Client().set_endpoint(endpoint).set_project(project).set_jwt(jwt)).get()
        result["caller"] = me.id
    return context.res.json(result)
