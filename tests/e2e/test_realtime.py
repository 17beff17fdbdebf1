"""Realtime over the websocket: the web SDK under Node, and the protocol's details with a raw client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
import websockets
from appwrite.id import ID
from appwrite.permission import Permission
from appwrite.role import Role
from appwrite.services.tables_db import TablesDB

pytestmark = pytest.mark.e2e
NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def test_web_sdk_two_users_receive_only_what_they_may_read(server):
    env = {
        **os.environ,
        "APPWRITE_ENDPOINT": server.endpoint,
        "APPWRITE_PROJECT": server.project_id,
        "APPWRITE_KEY": server.api_key,
    }
    result = subprocess.run(
        ["node", "realtime.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok - ")


def ws_url(server, query: str) -> str:
    return server.endpoint.replace("http://", "ws://") + "/realtime?" + query


async def receive(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def test_protocol_messages_and_errors(server, admin, people):
    async def scenario() -> None:
        async with websockets.connect(ws_url(server, "project=nope")) as ws:
            message = await receive(ws)
            assert message == {"type": "error", "data": {"code": 1008, "message": "Missing or unknown project ID"}}
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await receive(ws)
            assert closed.value.rcvd.code == 1008

        async with websockets.connect(ws_url(server, f"project={server.project_id}")) as ws:
            connected = await receive(ws)
            assert connected == {"type": "connected", "data": {"channels": [], "subscriptions": [], "user": None}}
            await ws.send(json.dumps({"type": "ping"}))
            assert await receive(ws) == {"type": "pong"}
            await ws.send("{not json")
            assert (await receive(ws))["data"] == {"code": 1003, "message": "Message format is not valid."}
            await ws.send(json.dumps({"type": "dance"}))
            assert (await receive(ws))["data"]["message"] == "Message type is not valid."
            await ws.send(json.dumps({"type": "authentication", "data": {"session": "forged"}}))
            assert (await receive(ws))["data"] == {"code": 1003, "message": "Session is not valid."}
            await ws.send(json.dumps({"type": "subscribe", "data": [{"subscriptionId": "s1", "channels": ["rows"]}]}))
            ack = await receive(ws)
            assert ack["data"] == {
                "to": "subscribe",
                "success": True,
                "subscriptions": [{"subscriptionId": "s1", "channels": ["rows"], "queries": []}],
            }
            await ws.send(json.dumps({"type": "unsubscribe", "data": [{"subscriptionId": "s1"}]}))
            assert (await receive(ws))["data"]["subscriptions"] == [{"subscriptionId": "s1", "removed": True}]

    asyncio.run(scenario())


def test_legacy_url_channels_session_header_and_private_rows(server, admin, people):
    tables = TablesDB(admin)
    database_id = ID.unique()
    tables.create(database_id, "Realtime legacy")
    tables.create_table(
        database_id,
        "notes",
        "Notes",
        row_security=True,
        columns=[{"key": "text", "type": "varchar", "size": 20, "required": True}],
    )
    reader = people.create()
    from appwrite.services.account import Account

    secret = Account(admin).create_email_password_session(reader["email"], reader["password"]).secret

    async def scenario() -> None:
        query = f"project={server.project_id}&channels[]=documents&channels[]=account"
        async with websockets.connect(ws_url(server, query), additional_headers={"x-appwrite-session": secret}) as ws:
            connected = (await receive(ws))["data"]
            assert sorted(connected["channels"]) == ["account", f"account.{reader['id']}", "documents"]
            assert connected["user"]["$id"] == reader["id"] and len(connected["subscriptions"]) == 1
            await asyncio.to_thread(tables.create_row, database_id, "notes", "hidden", {"text": "secret"})
            await asyncio.to_thread(
                tables.create_row,
                database_id,
                "notes",
                "visible",
                {"text": "hello"},
                [Permission.read(Role.user(reader["id"]))],
            )
            event = await receive(ws)
            assert event["type"] == "event" and event["data"]["payload"]["$id"] == "visible"
            assert event["data"]["subscriptions"] == connected["subscriptions"]
            assert len(event["data"]["channels"]) == 16
            with pytest.raises(asyncio.TimeoutError):
                await receive(ws, timeout=0.5)  # "hidden" never arrives

    asyncio.run(scenario())
    tables.delete(database_id)
