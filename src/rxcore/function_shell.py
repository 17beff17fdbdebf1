"""What every function's main.py shares: read the request, build an Appwrite client from what the runtime
provides, call the feature's handler, and answer in Appwrite's error shape.

The caller is known only from `x-appwrite-user-id`, which Appwrite sets; nothing in the body can claim an identity.
The client uses the execution's own API key (`x-appwrite-key`, scoped by the function's `scopes`).

A handler gets the whole HTTP request (raw body bytes, method, path, query, headers: a webhook's signature is
computed over the exact bytes) and answers either a dict (200, JSON) or a `Reply` with its own status, headers and
body. Errors are `rxcore.errors` classes, each with its status."""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from appwrite.client import Client
from appwrite.exception import AppwriteException

from rxcore.clock import clock_offset, utc_now
from rxcore.errors import ServiceError, invalid_argument


@dataclass
class Reply:
    """A response other than "200 with this JSON": a status, headers, and a body (JSON-able, text or bytes)."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FunctionRequest:
    raw_body: bytes
    headers: dict[str, str]  # lower-case names
    user_id: str | None  # from x-appwrite-user-id only
    client: Client
    env: Mapping[str, str]
    log: Callable[[str], None]
    method: str = "POST"
    path: str = "/"
    query: dict[str, str] = field(default_factory=dict)

    @cached_property
    def body(self) -> dict[str, Any]:
        """The body as a JSON object ({} when empty); 400 when it is anything else."""
        if not self.raw_body.strip():
            return {}
        try:
            body = json.loads(self.raw_body)
        except ValueError:
            raise invalid_argument("The request body must be a JSON object.") from None
        if not isinstance(body, dict):
            raise invalid_argument("The request body must be a JSON object.")
        return body

    @property
    def trigger(self) -> str:
        return self.headers.get("x-appwrite-trigger", "http")

    @property
    def event(self) -> str | None:
        """The Appwrite event that triggered this execution (`x-appwrite-event`), if one did."""
        return self.headers.get("x-appwrite-event") or None

    @property
    def client_ip(self) -> str:
        return self.headers.get("x-appwrite-client-ip", "")

    @property
    def execution_id(self) -> str | None:
        return self.headers.get("x-appwrite-execution-id") or None

    def now(self) -> datetime:
        """Now, following the local server's movable clock in development and tests (see rxcore.clock)."""
        return utc_now(clock_offset(self.headers, self.env))


def make_client(headers: Mapping[str, str], env: Mapping[str, str]) -> Client:
    client = (
        Client().set_endpoint(env["APPWRITE_FUNCTION_API_ENDPOINT"]).set_project(env["APPWRITE_FUNCTION_PROJECT_ID"])
    )
    key = headers.get("x-appwrite-key") or env.get("APPWRITE_API_KEY")
    if key:
        client.set_key(key)
    return client


def _raw_body(req: Any) -> bytes:
    raw = getattr(req, "body_binary", None)
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    return (getattr(req, "body_text", None) or "").encode()


def request_of(context: Any, env: Mapping[str, str]) -> FunctionRequest:
    req = context.req
    headers = {k.lower(): v for k, v in (req.headers or {}).items()}
    return FunctionRequest(
        raw_body=_raw_body(req),
        headers=headers,
        user_id=headers.get("x-appwrite-user-id") or None,
        client=make_client(headers, env),
        env=env,
        log=context.log,
        method=(getattr(req, "method", None) or "POST").upper(),
        path=getattr(req, "path", None) or "/",
        query=dict(getattr(req, "query", None) or {}),
    )


def _answer(context: Any, result: Any) -> Any:
    if not isinstance(result, Reply):
        return context.res.json(result)
    if isinstance(result.body, (bytes, bytearray)):
        return context.res.binary(bytes(result.body), result.status, result.headers)
    if isinstance(result.body, str):
        return context.res.text(result.body, result.status, result.headers)
    if result.body is None:
        return context.res.text("", result.status, result.headers)
    return context.res.json(result.body, result.status, result.headers)


def error_reply(exc: BaseException) -> tuple[dict[str, Any], int]:
    """(body, status) in Appwrite's error shape for what a handler raised."""
    if isinstance(exc, ServiceError):
        return exc.to_json(), exc.code
    if isinstance(exc, AppwriteException):
        code = exc.code if isinstance(exc.code, int) and 400 <= exc.code < 600 else 500
        return {"message": exc.message, "code": code, "type": exc.type or "general_unknown"}, code
    return {"message": "Server Error", "code": 500, "type": "general_unknown"}, 500


def run(context: Any, handler: Callable[[FunctionRequest], Any]) -> Any:
    """Call `handler` and turn its result or error into the function's response."""
    try:
        return _answer(context, handler(request_of(context, dict(os.environ))))
    except ServiceError as exc:
        context.log(f"{exc.type}: {exc.message}")
        body, status = error_reply(exc)
    except AppwriteException as exc:
        context.error(f"Appwrite error {exc.code} {exc.type}: {exc.message}")
        body, status = error_reply(exc)
    except Exception as exc:
        context.error(traceback.format_exc())
        body, status = error_reply(exc)
    return context.res.json(body, status)
