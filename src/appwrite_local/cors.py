"""Which web origins may call the server from a browser, and the CORS answer they get.

Appwrite (src/Appwrite/Network/Cors.php, app/controllers/general.php) matches an Origin by its hostname against
the project's web platforms, treats the loopback names as one another, echoes only an accepted origin (never a
wildcard, since responses carry credentials) and refuses a state-changing request from any other origin without
an API key (`general_unknown_origin`, its CSRF guard). Here the platforms are the `allowed_hostnames` setting
(`--allowed-hostname`, env APPWRITE_LOCAL_ALLOWED_HOSTNAMES; `localhost` by default); a name may start with `*.`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOW_METHODS = b"GET, POST, PUT, PATCH, DELETE"
EXPOSE_HEADERS = b"X-Appwrite-Session, X-Fallback-Cookies"
ALLOW_HEADERS = (
    b"Origin, Cookie, Set-Cookie, X-Requested-With, Content-Type, Access-Control-Allow-Origin, "
    b"Access-Control-Request-Headers, Accept, X-Appwrite-Project, X-Appwrite-Key, X-Appwrite-Dev-Key, "
    b"X-Appwrite-Locale, X-Appwrite-Mode, X-Appwrite-JWT, X-Appwrite-Response-Format, "
    b"X-Appwrite-Timeout, X-SDK-Version, X-SDK-Name, X-SDK-Language, X-SDK-Platform, "
    b"X-SDK-GraphQL, X-Appwrite-ID, X-Appwrite-Timestamp, Content-Range, Range, Cache-Control, "
    b"Expires, Pragma, X-Appwrite-Session, X-Fallback-Cookies, X-Forwarded-For, X-Forwarded-User-Agent"
)


class OriginPolicy:
    def __init__(self, hostnames: Iterable[str]):
        names = {h.strip().lower() for h in hostnames if h.strip()}
        if names & LOOPBACK:
            names |= LOOPBACK
        self.exact = frozenset(n for n in names if not n.startswith("*."))
        self.suffixes = tuple(n[1:] for n in names if n.startswith("*."))  # "*.example.org" -> ".example.org"

    def allows(self, origin: str) -> bool:
        try:
            parts = urlsplit(origin.strip().lower())
            host = parts.hostname or ""
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not host:
            return False
        return host in self.exact or any(host.endswith(s) and len(host) > len(s) for s in self.suffixes)

    def csrf_refuses(self, method: str, headers: dict[str, str]) -> bool:
        """True for a state-changing browser request from an origin that is not a platform (and without a key)."""
        origin = headers.get("origin")
        return (
            bool(origin) and method in UNSAFE_METHODS and not headers.get("x-appwrite-key") and not self.allows(origin)
        )


class Cors:
    """ASGI wrapper: preflights, and the CORS headers for accepted origins (none for any other)."""

    def __init__(self, app: Any, policy: OriginPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        origin = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None)
        if origin is None:
            return await self.app(scope, receive, send)
        extra = [
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-expose-headers", EXPOSE_HEADERS),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]
        if self.policy.allows(origin):
            extra.append((b"access-control-allow-origin", origin.encode("latin-1")))
        if scope["method"] == "OPTIONS":
            await send(
                {"type": "http.response.start", "status": 204, "headers": [*extra, (b"content-type", b"text/plain")]}
            )
            return await send({"type": "http.response.body", "body": b""})

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        return await self.app(scope, receive, send_with_cors)
