"""Who is calling: an API key, a session, a JWT, or a guest; and what roles and scopes that gives.

Order of credentials follows Appwrite (app/init/resources/request.php, shared/api.php): the
`a_session_<project>` cookie, then `x-appwrite-session`, then `x-fallback-cookies`; `x-appwrite-jwt`
instead of a session; `x-appwrite-key` for server callers. An unknown key leaves the caller a guest.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

import jwt as pyjwt

from .clock import Clock, format_datetime, parse_datetime
from .db import Database
from .errors import AppwriteError
from .identity import Identity

GUEST_SCOPES = frozenset(
    {
        "global",
        "public",
        "home",
        "console",
        "graphql",
        "sessions.write",
        "documents.read",
        "documents.write",
        "rows.read",
        "rows.write",
        "files.read",
        "files.write",
        "locale.read",
        "avatars.read",
        "executions.write",
    }
)
USER_SCOPES = GUEST_SCOPES | frozenset(
    {
        "account",
        "teams.read",
        "teams.write",
        "executions.read",
        "targets.read",
        "targets.write",
        "subscribers.read",
        "subscribers.write",
        "assistant.read",
    }
)
KEY_SCOPES = frozenset(
    {
        "sessions.write",
        "users.read",
        "users.write",
        "teams.read",
        "teams.write",
        "databases.read",
        "databases.write",
        "tables.read",
        "tables.write",
        "columns.read",
        "columns.write",
        "indexes.read",
        "indexes.write",
        "rows.read",
        "rows.write",
        "collections.read",
        "collections.write",
        "attributes.read",
        "attributes.write",
        "documents.read",
        "documents.write",
        "buckets.read",
        "buckets.write",
        "files.read",
        "files.write",
        "functions.read",
        "functions.write",
        "executions.read",
        "executions.write",
        "execution.read",
        "execution.write",
        "locale.read",
        "avatars.read",
        "health.read",
        "tokens.read",
        "tokens.write",
        "targets.read",
        "targets.write",
        "subscribers.read",
        "subscribers.write",
        "messages.read",
        "messages.write",
        "rules.read",
        "rules.write",
    }
)
ALWAYS_KEY_SCOPES = frozenset({"global", "health.read", "graphql"})


@dataclass(frozen=True)
class Principal:
    kind: str  # "guest" | "user" | "key"
    roles: frozenset[str]
    scopes: frozenset[str]
    user_row: tuple | None = None
    session_id: str = ""
    via_jwt: bool = False
    key_id: str = ""  # which key: a project key's id, or a fingerprint of a function's ephemeral key

    @property
    def is_key(self) -> bool:
        return self.kind == "key"

    @property
    def owner_tag(self) -> str:
        """Who owns what this caller starts and may continue (transactions, uploads): one user or one key.

        Guests have no tag: one guest cannot be told from another, so nothing a guest starts can be owned.
        """
        if self.kind == "user":
            return "user:" + self.user_id
        if self.kind == "key":
            return "key:" + self.key_id
        return ""

    @property
    def user_id(self) -> str:
        return self.user_row[1] if self.user_row else ""

    def require_scope(self, scope: str, project_id: str) -> None:
        if scope in self.scopes:
            return
        who = {
            "guest": "User (role: guests)",
            "user": "User (role: users)",
            "key": f"app.{project_id}@service.localhost (role: applications)",
        }[self.kind]
        raise AppwriteError("general_unauthorized_scope", f'{who} missing scopes (["{scope}"])')


_KEY_ROLES = frozenset({"any"})
GUEST = Principal("guest", frozenset({"any", "guests"}), GUEST_SCOPES)


class Keys:
    """Project API keys (`standard_<secret>`) and function keys (`ephemeral_<JWT>`)."""

    def __init__(self, db: Database, clock: Clock, signing_secret: str, project_id: str):
        self.db = db
        self.clock = clock
        self.signing_secret = signing_secret
        self.project_id = project_id
        # Keys change only at start-up (ensure_admin_key); the request path reads this cache, not SQLite.
        self._standard: dict[str, tuple[frozenset[str], str | None, str]] = {}

    def ensure_admin_key(self) -> str:
        """The local project's key with every scope; created once, kept across restarts."""
        with self.db.write() as conn:
            row = conn.execute("SELECT secret FROM _keys WHERE id = 'local-admin'").fetchone()
            if row:
                return "standard_" + row[0]
            secret = os.urandom(64).hex()
            conn.execute(
                "INSERT INTO _keys (id, name, secret, scopes, expire, created) VALUES (?,?,?,?,?,?)",
                (
                    "local-admin",
                    "Local admin",
                    secret,
                    json.dumps(sorted(KEY_SCOPES)),
                    None,
                    format_datetime(self.clock.now()),
                ),
            )
            return "standard_" + secret

    def create_ephemeral(self, scopes: list[str], seconds: int) -> str:
        now = int(self.clock.timestamp())
        token = pyjwt.encode(
            {"projectId": self.project_id, "scopes": scopes, "iat": now, "exp": now + seconds},
            self.signing_secret,
            algorithm="HS256",
        )
        return "ephemeral_" + token

    def resolve(self, value: str) -> Principal | None:
        kind, _, secret = value.partition("_")
        if not secret:
            kind, secret = "standard", value
        if kind in ("ephemeral", "dynamic"):
            try:
                payload = pyjwt.decode(
                    secret,
                    self.signing_secret,
                    algorithms=["HS256"],
                    options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
                )
            except pyjwt.PyJWTError:
                return None
            if payload.get("projectId") != self.project_id:
                return None
            if payload.get("exp", 0) <= self.clock.timestamp():
                raise AppwriteError("api_key_expired")
            scopes = frozenset(payload.get("scopes", [])) | ALWAYS_KEY_SCOPES
            # Each execution gets its own key, so what one execution starts no other execution can touch.
            fingerprint = "eph-" + hashlib.sha256(secret.encode()).hexdigest()[:32]
            return Principal("key", _KEY_ROLES, scopes, key_id=fingerprint)
        if kind != "standard":
            return None
        cached = self._standard.get(secret)
        if cached is None:
            row = (
                self.db.reader().execute("SELECT scopes, expire, id FROM _keys WHERE secret = ?", (secret,)).fetchone()
            )
            if row is None:
                return None
            cached = (frozenset(json.loads(row[0])) | ALWAYS_KEY_SCOPES, row[1], row[2])
            self._standard[secret] = cached
        scopes, expire, key_id = cached
        if expire and parse_datetime(expire) <= self.clock.now():
            raise AppwriteError("project_key_expired")
        return Principal("key", _KEY_ROLES, scopes, key_id=key_id)


def _session_candidates(headers: Mapping[str, str], cookies: Mapping[str, str], project_id: str) -> str:
    for name in (f"a_session_{project_id}", f"a_session_{project_id}_legacy"):
        if cookies.get(name):
            return cookies[name]
    if headers.get("x-appwrite-session"):
        return headers["x-appwrite-session"]
    fallback = headers.get("x-fallback-cookies")
    if fallback:
        try:
            data = json.loads(fallback)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get(f"a_session_{project_id}"), str):
            return data[f"a_session_{project_id}"]
    return ""


def resolve(
    headers: Mapping[str, str], cookies: Mapping[str, str], project_id: str, identity: Identity, keys: Keys
) -> Principal:
    key = headers.get("x-appwrite-key", "")
    session_secret = _session_candidates(headers, cookies, project_id)
    jwt_token = headers.get("x-appwrite-jwt", "")

    if key:
        if session_secret and headers.get("x-appwrite-session"):
            raise AppwriteError("user_api_key_and_session_set")
        principal = keys.resolve(key)
        if principal is not None:
            return principal

    if jwt_token and session_secret and cookies:
        raise AppwriteError("user_jwt_and_cookie_set")

    user_id, session_id, via_jwt = "", "", False
    if jwt_token:
        user_id, session_id = identity.verify_jwt(jwt_token)
        via_jwt = True
    elif session_secret:
        found = identity.session_from_secret(session_secret)
        if found:
            user_id, session_id = found
    if not user_id:
        return GUEST
    found = identity.caller(user_id)
    if found is None:
        if via_jwt:
            raise AppwriteError("user_jwt_invalid")
        return GUEST
    row, roles = found
    if not row[9]:
        raise AppwriteError("user_blocked")
    return Principal("user", roles, USER_SCOPES, row, session_id, via_jwt)


def principal_for_user(identity: Identity, user_id: str) -> Principal:
    found = identity.caller(user_id)
    if found is None:
        raise AppwriteError("user_not_found")
    row, roles = found
    return Principal("user", roles, USER_SCOPES, row)
