"""What every function's main.py shares: read the request, build an Appwrite client from what the runtime
provides, call the feature's handler, and answer in Appwrite's error shape.

The caller is known only from `x-appwrite-user-id`, which Appwrite sets; nothing in the body can claim an identity.
The client uses the execution's own API key (`x-appwrite-key`, scoped by the function's `scopes`)."""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appwrite.client import Client
from appwrite.exception import AppwriteException

from rxcore.clock import clock_offset, utc_now
from rxcore.errors import ServiceError


@dataclass
class FunctionRequest:
    body: dict[str, Any]
    headers: dict[str, str]
    user_id: str | None  # from x-appwrite-user-id only
    client: Client
    env: dict[str, str]
    log: Callable[[str], None]

    @property
    def trigger(self) -> str:
        return self.headers.get("x-appwrite-trigger", "http")

    @property
    def client_ip(self) -> str:
        return self.headers.get("x-appwrite-client-ip", "")

    def now(self) -> datetime:
        """Now, following the local server's movable clock in development and tests (see rxcore.clock)."""
        return utc_now(clock_offset(self.headers, self.env))


def make_client(headers: dict[str, str], env: dict[str, str]) -> Client:
    client = (
        Client().set_endpoint(env["APPWRITE_FUNCTION_API_ENDPOINT"]).set_project(env["APPWRITE_FUNCTION_PROJECT_ID"])
    )
    key = headers.get("x-appwrite-key") or env.get("APPWRITE_API_KEY")
    if key:
        client.set_key(key)
    return client


def _body(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        raise ServiceError(400, "general_argument_invalid", "The request body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise ServiceError(400, "general_argument_invalid", "The request body must be a JSON object.")
    return body


def run(context: Any, handler: Callable[[FunctionRequest], dict[str, Any]]) -> Any:
    """Call `handler` and turn its result or error into the function's response."""
    try:
        headers = {k.lower(): v for k, v in (context.req.headers or {}).items()}
        env = dict(os.environ)
        request = FunctionRequest(
            body=_body(context.req.body_text or ""),
            headers=headers,
            user_id=headers.get("x-appwrite-user-id") or None,
            client=make_client(headers, env),
            env=env,
            log=context.log,
        )
        return context.res.json(handler(request))
    except ServiceError as exc:
        context.log(f"{exc.type}: {exc.message}")
        return context.res.json(exc.to_json(), exc.code)
    except AppwriteException as exc:
        context.error(f"Appwrite error {exc.code} {exc.type}: {exc.message}")
        code = exc.code if isinstance(exc.code, int) and 400 <= exc.code < 600 else 500
        return context.res.json({"message": exc.message, "code": code, "type": exc.type or "general_unknown"}, code)
    except Exception:
        context.error(traceback.format_exc())
        return context.res.json({"message": "Server Error", "code": 500, "type": "general_unknown"}, 500)
