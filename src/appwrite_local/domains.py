"""Function domains: plain HTTP to a function, as Appwrite routes a request on a function's own domain.

Appwrite gives every function a domain (`<id>.<_APP_DOMAIN_FUNCTIONS>`); its router (app/controllers/general.php,
`router()`) sends any request on that host to the function and answers with whatever the function answered. This is
where webhooks land (Stripe signs the exact body bytes, so they must reach the function unchanged), and where a
function serves pages or a small API of its own. What is kept from Appwrite:

- only a function whose `execute` includes `any` or `guests` is reachable (otherwise `401 user_unauthorized`,
  Appwrite's message); a disabled or unknown function is `404 function_not_found`;
- the function gets the method, path, query, headers and raw body; the caller is anonymous whatever it sends:
  every `x-appwrite-*` header of the request is dropped and the server sets `x-appwrite-trigger: http` and an
  empty `x-appwrite-user-id` / `x-appwrite-user-jwt` (so a webhook cannot pose as a user), plus the function's
  dynamic key with its scopes;
- the execution is recorded (trigger `http`, no permissions: only API keys list it) and its status, headers and
  body go back unchanged (`text/plain` when the function names no content type); synchronous, 30 s at most.

Two ways in, because a local client cannot always set a Host header:
  `Host: <function-id>.<suffix>`            the suffix is `functions.localhost` unless --functions-domain says
  `/_functions/<function-id>/<path>`        the path form; the function sees `/<path>`
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .errors import AppwriteError
from .routes.functions import MAX_BODY  # the same limit as an execution's body

log = logging.getLogger("appwrite_local.domains")

PATH_PREFIX = "/_functions/"
FUNCTION_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,35}$", re.IGNORECASE)
# Hop-by-hop or recomputed when the answer is sent: never copied from the function's response.
NOT_FORWARDED = frozenset({"content-length", "connection", "transfer-encoding", "keep-alive"})


class FunctionDomains:
    """ASGI wrapper in front of the API: requests for a function domain go to the function, the rest to `app`."""

    def __init__(self, app: Any, services: Any, suffix: str = "functions.localhost"):
        self.app = app
        self.services = services
        self.suffix = "." + suffix.strip(".").lower()

    def target(self, scope: dict[str, Any]) -> tuple[str, str] | None:
        """(function id, path for the function) when the request is for a function domain."""
        host = ""
        for key, value in scope.get("headers", ()):
            if key == b"host":
                host = value.decode("latin-1").lower()
                break
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if hostname.endswith(self.suffix):
            label = hostname[: -len(self.suffix)]
            return (label, scope["path"]) if label and "." not in label else None
        path: str = scope["path"]
        if path.startswith(PATH_PREFIX):
            function_id, _, rest = path[len(PATH_PREFIX) :].partition("/")
            return function_id, "/" + rest
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        found = self.target(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        from .app import error_response  # app.py imports this module

        try:
            response = await self.execute(Request(scope, receive), *found)
        except AppwriteError as error:
            response = error_response(error)
        except Exception:  # noqa: BLE001 - Appwrite's 500 shape for the caller; the trace goes to the log
            log.exception("function domain request for %s failed", found[0])
            response = error_response(AppwriteError("general_unknown"))
        await response(scope, receive, send)

    async def execute(self, request: Request, function_id: str, path: str) -> Response:
        services = self.services
        found = services.functions.get(function_id) if FUNCTION_ID.match(function_id) else None
        if found is None or not found[0].enabled:
            raise AppwriteError("function_not_found")
        spec = found[0]
        if not {"any", "guests"} & set(spec.execute):
            raise AppwriteError(
                "user_unauthorized",
                'To execute function using domain, execute permissions must include "any" or "guests"',
            )
        services.deployments.ensure_deployable(spec)
        body = await _body(request)
        headers = {
            k: v for k, v in request.headers.items() if not k.startswith("x-appwrite-") and k != "content-length"
        }
        query = request.url.query
        executor = services.executor
        execution_id = executor.create_record(
            spec,
            "http",
            request.method,
            path + ("?" + query if query else ""),
            headers,
            body,
            "processing",
            client_ip=request.client.host if request.client else "",
        )
        outcome, _ = await executor.run(execution_id, sync=True)
        kept = [(k, v) for k, v in outcome.headers if k not in NOT_FORWARDED]
        if not any(k == "content-type" for k, _ in kept):
            kept.append(("content-type", "text/plain"))
        response = Response(outcome.body, outcome.status)
        # Set the raw list so a header the function sent twice (set-cookie) goes back twice, and nothing is added.
        response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in kept]
        response.raw_headers.append((b"content-length", str(len(outcome.body)).encode()))
        return response


async def _body(request: Request) -> bytes:
    """The exact bytes sent, refused past the execution body limit without reading further."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise _too_large()
    chunks, seen = [], 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > MAX_BODY:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> AppwriteError:
    return AppwriteError("general_argument_invalid", f"Request body is larger than {MAX_BODY} bytes.", 413)
