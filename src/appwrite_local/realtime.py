"""Realtime: the `/v1/realtime` websocket, channels, and delivery filtered by the receiver's permissions.

Compatible with the web SDK 27 (connects with only `?project=`, then sends `subscribe` messages with
client-made subscription IDs, and `authentication` with its session) and with the older style that puts
`channels[]` in the URL. Every event on the bus is mapped to Appwrite's channel names; a connection
receives it when it subscribed to one of those channels and one of its roles may read the resource.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from . import auth
from .api import parse_php_params
from .clock import format_datetime
from .errors import AppwriteError
from .eventnames import generate
from .events import Event
from .identity import user_json
from .ids import unique_id

log = logging.getLogger("appwrite_local.realtime")
ACTIONS = ("create", "update", "upsert", "delete")
MAX_MESSAGE_BYTES = 64 * 1024


def channels_for(name: str) -> list[str]:
    """Appwrite's realtime channels for one concrete event name (Realtime::fromPayload, 1.9)."""
    parts = name.split(".")
    action = parts[-1] if parts[-1] in ACTIONS else ""

    def with_actions(base: list[str]) -> list[str]:
        return base + ([f"{c}.{action}" for c in base] if action else [])

    if parts[0] == "databases" and len(parts) >= 6 and parts[4] in ("rows", "documents"):
        db, table, row = parts[1], parts[3], parts[5]
        return with_actions(
            [
                "rows",
                f"databases.{db}.tables.{table}.rows",
                f"databases.{db}.tables.{table}.rows.{row}",
                f"tablesdb.{db}.tables.{table}.rows",
                f"tablesdb.{db}.tables.{table}.rows.{row}",
                "documents",
                f"databases.{db}.collections.{table}.documents",
                f"databases.{db}.collections.{table}.documents.{row}",
            ]
        )
    if parts[0] == "buckets" and len(parts) >= 4 and parts[2] == "files":
        return with_actions(["files", f"buckets.{parts[1]}.files", f"buckets.{parts[1]}.files.{parts[3]}"])
    if parts[0] == "functions" and len(parts) >= 4 and parts[2] == "executions":
        return with_actions(["executions", f"executions.{parts[3]}", f"functions.{parts[1]}"])
    if parts[0] == "teams" and len(parts) >= 4 and parts[2] == "memberships":
        return ["memberships", f"memberships.{parts[3]}"]
    if parts[0] == "teams":
        return ["teams", f"teams.{parts[1]}"]
    if parts[0] == "users" and len(parts) >= 2:
        uid = parts[1]
        out = ["account", f"account.{uid}"]
        if len(parts) >= 3 and parts[2] in ACTIONS:  # a top-level user event
            out += [f"account.{parts[2]}", f"account.{uid}.{parts[2]}"]
        return out
    return []


def default_roles(name: str) -> frozenset[str]:
    parts = name.split(".")
    if parts[0] == "teams":
        return frozenset({f"team:{parts[1]}"})
    if parts[0] == "users":
        return frozenset({f"user:{parts[1]}"})
    return frozenset()


@dataclass(eq=False)  # identity semantics: connections live in a set
class Connection:
    send: Any
    principal: auth.Principal
    subscriptions: dict[str, set[str]] = field(default_factory=dict)
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)

    def channels(self, requested: list[str]) -> set[str]:
        """Subscription-time conversion: `account` also means `account.<userId>` for a signed-in user."""
        out = set()
        uid = self.principal.user_id
        for channel in requested:
            if channel == "account" or channel.startswith("account."):
                if channel == "account":
                    out.add("account")
                    if uid:
                        out.add(f"account.{uid}")
                elif uid and channel.split(".", 1)[1] in ACTIONS:
                    out.add(f"account.{uid}.{channel.split('.', 1)[1]}")
                elif uid and channel.split(".")[1] == uid:
                    out.add(channel)
                continue
            out.add(channel)
        return out


class Realtime:
    def __init__(self, services: Any):
        self.services = services
        self.connections: set[Connection] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    # --- delivery --------------------------------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """Event-bus listener; may run on any thread."""
        if self.loop is None or not self.connections:
            return
        self.loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: Event) -> None:
        channels = channels_for(event.name)
        if not channels:
            return
        roles = event.read_roles if event.read_roles is not None else default_roles(event.name)
        wanted = set(channels)
        body = None
        for conn in list(self.connections):
            if "any" not in roles and roles.isdisjoint(conn.principal.roles):
                continue
            matched = [sid for sid, subscribed in conn.subscriptions.items() if not subscribed.isdisjoint(wanted)]
            if not matched:
                continue
            if body is None:
                body = {
                    "events": generate(event.name),
                    "channels": channels,
                    "timestamp": format_datetime(self.services.clock.now()),
                    "payload": event.payload,
                }
            conn.queue.put_nowait(
                json.dumps({"type": "event", "data": {**body, "subscriptions": matched}}, separators=(",", ":"))
            )
        if ".memberships." in event.name or event.name.endswith(".update.labels"):
            self._refresh_roles(event)

    def _refresh_roles(self, event: Event) -> None:
        """Membership or label changes alter a user's roles: recompute them for that user's connections."""
        user_id = event.payload.get("userId") or (event.payload.get("$id") if event.name.startswith("users.") else "")
        for conn in self.connections:
            if user_id and conn.principal.user_id == user_id:
                try:
                    fresh = auth.principal_for_user(self.services.identity, user_id)
                except AppwriteError:
                    continue
                conn.principal = auth.Principal(
                    "user", fresh.roles, fresh.scopes, fresh.user_row, conn.principal.session_id
                )

    # --- protocol --------------------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        params = parse_php_params(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        await send({"type": "websocket.accept"})
        if params.get("project") != self.services.project_id:
            await self._send_now(send, _error(1008, "Missing or unknown project ID"))
            await send({"type": "websocket.close", "code": 1008})
            return
        cookies = _cookies(headers.get("cookie", ""))
        if params.get("jwt"):
            headers["x-appwrite-jwt"] = params["jwt"]
        try:
            principal = auth.resolve(
                headers, cookies, self.services.project_id, self.services.identity, self.services.keys
            )
        except AppwriteError:
            principal = auth.GUEST
        conn = Connection(send, principal)
        url_channels = params.get("channels") or []
        if isinstance(url_channels, str):
            url_channels = [url_channels]
        subscription_ids = []
        if url_channels:
            sid = unique_id()
            conn.subscriptions[sid] = conn.channels([str(c) for c in url_channels])
            subscription_ids.append(sid)
        self.connections.add(conn)
        writer = asyncio.ensure_future(self._writer(conn))
        try:
            conn.queue.put_nowait(
                json.dumps(
                    {
                        "type": "connected",
                        "data": {
                            "channels": sorted(set().union(*conn.subscriptions.values())) if conn.subscriptions else [],
                            "subscriptions": subscription_ids,
                            "user": self._user(conn),
                        },
                    }
                )
            )
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None and message.get("bytes") is not None:
                    text = message["bytes"].decode("utf-8", "replace")
                self._handle(conn, text or "")
        finally:
            self.connections.discard(conn)
            writer.cancel()

    async def _writer(self, conn: Connection) -> None:
        while True:
            text = await conn.queue.get()
            try:
                await conn.send({"type": "websocket.send", "text": text})
            except Exception:  # noqa: BLE001 - the client went away; the reader ends the connection
                return

    @staticmethod
    async def _send_now(send: Any, payload: dict[str, Any]) -> None:
        await send({"type": "websocket.send", "text": json.dumps(payload)})

    def _user(self, conn: Connection) -> dict[str, Any] | None:
        return user_json(conn.principal.user_row) if conn.principal.user_row else None

    def _handle(self, conn: Connection, text: str) -> None:
        reply = conn.queue.put_nowait
        if len(text) > MAX_MESSAGE_BYTES:
            return reply(json.dumps(_error(1003, "Message format is not valid.")))
        try:
            message = json.loads(text)
        except ValueError:
            return reply(json.dumps(_error(1003, "Message format is not valid.")))
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return reply(json.dumps(_error(1003, "Message format is not valid.")))
        kind, data = message["type"], message.get("data")
        if kind == "ping":
            return reply(json.dumps({"type": "pong"}))
        if kind == "authentication":
            session = data.get("session") if isinstance(data, dict) else None
            found = self.services.identity.session_from_secret(session) if isinstance(session, str) else None
            if not found:
                return reply(json.dumps(_error(1003, "Session is not valid.")))
            fresh = auth.principal_for_user(self.services.identity, found[0])
            conn.principal = auth.Principal("user", fresh.roles, fresh.scopes, fresh.user_row, found[1])
            for sid, channels in list(conn.subscriptions.items()):
                conn.subscriptions[sid] = conn.channels(sorted(channels))
            return reply(
                json.dumps(
                    {"type": "response", "data": {"to": "authentication", "success": True, "user": self._user(conn)}}
                )
            )
        if kind == "subscribe":
            if not isinstance(data, list) or not data:
                return reply(json.dumps(_error(1003, "Payload is not valid. Items is required")))
            answered = []
            for item in data:
                channels = item.get("channels") if isinstance(item, dict) else None
                if (
                    not isinstance(channels, list)
                    or not channels
                    or not all(isinstance(c, str) and c for c in channels)
                ):
                    return reply(json.dumps(_error(1003, "Payload is not valid. Channels are required")))
                sid = item.get("subscriptionId") or unique_id()
                if not isinstance(sid, str):
                    return reply(json.dumps(_error(1003, "Payload is not valid. subscriptionId must be a string")))
                conn.subscriptions[sid] = conn.channels(channels)
                answered.append(
                    {
                        "subscriptionId": sid,
                        "channels": channels,
                        "queries": [q for q in item.get("queries") or [] if isinstance(q, str)],
                    }
                )
            return reply(
                json.dumps(
                    {"type": "response", "data": {"to": "subscribe", "success": True, "subscriptions": answered}}
                )
            )
        if kind == "unsubscribe":
            if not isinstance(data, list):
                return reply(json.dumps(_error(1003, "Payload is not valid. Items is required")))
            removed = []
            for item in data:
                sid = item.get("subscriptionId") if isinstance(item, dict) else None
                removed.append({"subscriptionId": sid, "removed": conn.subscriptions.pop(sid, None) is not None})
            return reply(
                json.dumps(
                    {"type": "response", "data": {"to": "unsubscribe", "success": True, "subscriptions": removed}}
                )
            )
        return reply(json.dumps(_error(1003, "Message type is not valid.")))


def _error(code: int, message: str) -> dict[str, Any]:
    return {"type": "error", "data": {"code": code, "message": message}}


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            out[key] = value
    return out
