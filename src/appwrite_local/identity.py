"""Users, sessions and JWTs (Appwrite's Users and Account services share this).

A session secret is 64 random hex chars; only its SHA-256 is stored. Clients hold the encoded form
`base64(json({"id": userId, "secret": raw}))`, exactly what Appwrite puts in the cookie and in
`Session.secret` (utopia-php/auth Store::encode).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
from datetime import timedelta
from typing import Any

import jwt as pyjwt

from . import passwords
from .clock import Clock, format_datetime, parse_datetime
from .db import Database
from .errors import AppwriteError
from .queries import Attr

SESSION_DURATION = timedelta(days=365)
VERIFIED_JWTS = 10_000  # signatures remembered (verify_jwt)
CALLERS_CACHED = 10_000  # signed-in callers whose user row and roles are remembered (caller)
USER_COLUMNS = (
    "seq, id, name, email, phone, password, hash, hash_options, registration, status, labels,"
    " password_update, email_verification, phone_verification, prefs, accessed_at, created, updated"
)
USER_ATTRS = {
    "$id": Attr("id", "string"),
    "$sequence": Attr("seq", "integer"),
    "$createdAt": Attr("created", "datetime"),
    "$updatedAt": Attr("updated", "datetime"),
    "name": Attr("name", "string"),
    "email": Attr("email", "string"),
    "phone": Attr("phone", "string"),
    "status": Attr("status", "boolean"),
    "passwordUpdate": Attr("password_update", "datetime"),
    "registration": Attr("registration", "datetime"),
    "emailVerification": Attr("email_verification", "boolean"),
    "phoneVerification": Attr("phone_verification", "boolean"),
    "labels": Attr("labels", "string", array=True),
    "accessedAt": Attr("accessed_at", "datetime"),
}


def user_json(row: tuple, include_secrets: bool = False) -> dict[str, Any]:
    (
        _,
        uid,
        name,
        email,
        phone,
        password,
        hash_,
        hash_options,
        registration,
        status,
        labels,
        password_update,
        email_verification,
        phone_verification,
        prefs,
        accessed_at,
        created,
        updated,
    ) = row
    out = {
        "$id": uid,
        "$createdAt": created,
        "$updatedAt": updated,
        "name": name,
        "registration": registration,
        "status": bool(status),
        "labels": json.loads(labels),
        "passwordUpdate": password_update,
        "email": email or "",
        "phone": phone or "",
        "emailVerification": bool(email_verification),
        "phoneVerification": bool(phone_verification),
        "mfa": False,
        "prefs": json.loads(prefs),
        "targets": [],
        "accessedAt": accessed_at,
        "impersonator": False,
        "impersonatorUserId": "",
    }
    if include_secrets:
        out["password"] = password or ""
        out["hash"] = hash_ or "argon2"
        out["hashOptions"] = json.loads(hash_options) if hash_options else dict(passwords.ARGON2_OPTIONS)
    return out


def encode_session_secret(user_id: str, raw: str) -> str:
    return base64.b64encode(json.dumps({"id": user_id, "secret": raw}, separators=(",", ":")).encode()).decode()


def decode_session_secret(value: str) -> tuple[str, str] | None:
    try:
        data = json.loads(base64.b64decode(value + "=" * (-len(value) % 4)))
        return str(data["id"]), str(data["secret"])
    except (ValueError, KeyError, TypeError):
        return None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Identity:
    def __init__(self, db: Database, clock: Clock, jwt_secret: str):
        self.db = db
        self.clock = clock
        self.jwt_secret = jwt_secret
        self._verified: dict[str, dict[str, Any]] = {}  # JWT -> payload whose signature checked out
        # A caller's user row and roles, valid while nothing that decides them changed: any committed write to users,
        # memberships or teams moves the generation on (Database.watch), and every entry older than it is ignored.
        self._callers: dict[str, tuple[int, tuple, frozenset[str]]] = {}
        self.generation = 0
        db.watch(("_users", "_memberships", "_teams"), self._identity_changed)

    def now(self) -> str:
        return format_datetime(self.clock.now())

    # --- users ---------------------------------------------------------------------------------------------------
    def _identity_changed(self) -> None:
        self.generation += 1

    def caller(self, user_id: str) -> tuple[tuple, frozenset[str]] | None:
        """(user row, roles) of a signed-in caller, from memory while no user, membership or team changed."""
        generation = self.generation  # read first: a change committed while we read makes this entry stale
        cached = self._callers.get(user_id)
        if cached is not None and cached[0] == generation:
            return cached[1], cached[2]
        row = self.get_user_row(user_id)
        if row is None:
            return None
        roles = self.roles_for(row)
        if len(self._callers) >= CALLERS_CACHED:
            self._callers.clear()
        self._callers[user_id] = (generation, row, roles)
        return row, roles

    def get_user_row(self, user_id: str, conn: sqlite3.Connection | None = None) -> tuple | None:
        conn = conn or self.db.reader()
        return conn.execute(f"SELECT {USER_COLUMNS} FROM _users WHERE id = ?", (user_id,)).fetchone()

    def require_user(self, user_id: str) -> tuple:
        row = self.get_user_row(user_id)
        if row is None:
            raise AppwriteError("user_not_found")
        return row

    def create_user(
        self,
        user_id: str,
        email: str | None,
        phone: str | None,
        password: str | None,
        name: str,
        hashed: tuple[str, str, dict[str, Any]] | None = None,
    ) -> tuple:
        now = self.now()
        if hashed is None and password is not None:
            hashed = passwords.hash_password(password)
        stored, algo, options = hashed if hashed else (None, None, None)
        search = " ".join(filter(None, [user_id, email, phone, name]))
        with self.db.write() as conn:
            if conn.execute("SELECT 1 FROM _users WHERE id = ?", (user_id,)).fetchone():
                raise AppwriteError("user_already_exists")
            if email and conn.execute("SELECT 1 FROM _users WHERE email = ?", (email,)).fetchone():
                raise AppwriteError("user_already_exists")
            if phone and conn.execute("SELECT 1 FROM _users WHERE phone = ?", (phone,)).fetchone():
                raise AppwriteError("user_already_exists")
            conn.execute(
                "INSERT INTO _users (id, name, email, phone, password, hash, hash_options, registration,"
                " password_update, accessed_at, created, updated, search) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    user_id,
                    name,
                    email or None,
                    phone or None,
                    stored,
                    algo,
                    json.dumps(options) if options else None,
                    now,
                    now if stored else "",
                    now,
                    now,
                    now,
                    search,
                ),
            )
            return self.get_user_row(user_id, conn)  # type: ignore[return-value]

    def update_user(self, user_id: str, **fields: Any) -> tuple:
        """Set plain columns of a user (name, status, labels, prefs, email_verification, ...)."""
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.db.write() as conn:
            try:
                cur = conn.execute(
                    f"UPDATE _users SET {sets}, updated = ? WHERE id = ?", (*fields.values(), self.now(), user_id)
                )
            except sqlite3.IntegrityError:
                raise AppwriteError("user_already_exists") from None
            if cur.rowcount == 0:
                raise AppwriteError("user_not_found")
            if "name" in fields or "email" in fields or "phone" in fields:
                conn.execute(
                    "UPDATE _users SET search = id || ' ' || COALESCE(email, '') || ' ' || "
                    "COALESCE(phone, '') || ' ' || name WHERE id = ?",
                    (user_id,),
                )
            return self.get_user_row(user_id, conn)  # type: ignore[return-value]

    def set_password(self, user_id: str, password: str) -> tuple:
        stored, algo, options = passwords.hash_password(password)
        return self.update_user(
            user_id, password=stored, hash=algo, hash_options=json.dumps(options), password_update=self.now()
        )

    def delete_user(self, user_id: str) -> None:
        with self.db.write() as conn:
            if conn.execute("DELETE FROM _users WHERE id = ?", (user_id,)).rowcount == 0:
                raise AppwriteError("user_not_found")
            conn.execute("DELETE FROM _sessions WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM _memberships WHERE user_id = ?", (user_id,))

    def find_by_email(self, email: str) -> tuple | None:
        return (
            self.db.reader().execute(f"SELECT {USER_COLUMNS} FROM _users WHERE email = ?", (email.lower(),)).fetchone()
        )

    # --- sessions ------------------------------------------------------------------------------------------------
    def create_session(
        self,
        user_id: str,
        provider: str,
        provider_uid: str,
        ip: str,
        user_agent: str,
        factors: list[str],
        session_id: str,
    ) -> tuple[dict[str, Any], str]:
        raw = os.urandom(32).hex()
        now_dt = self.clock.now()
        now, expire = format_datetime(now_dt), format_datetime(now_dt + SESSION_DURATION)
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO _sessions (id, user_id, secret_hash, provider, provider_uid, ip, user_agent,"
                " expire, factors, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    session_id,
                    user_id,
                    _sha256(raw),
                    provider,
                    provider_uid,
                    ip,
                    user_agent,
                    expire,
                    json.dumps(factors),
                    now,
                    now,
                ),
            )
            conn.execute("UPDATE _users SET accessed_at = ? WHERE id = ?", (now, user_id))
        session = self.get_session(user_id, session_id)
        assert session is not None
        return session, encode_session_secret(user_id, raw)

    def get_session(self, user_id: str, session_id: str) -> dict[str, Any] | None:
        row = (
            self.db.reader()
            .execute(
                "SELECT id, user_id, provider, provider_uid, ip, expire, factors, created, updated FROM _sessions"
                " WHERE id = ? AND user_id = ?",
                (session_id, user_id),
            )
            .fetchone()
        )
        return session_json(row) if row else None

    def list_sessions(self, user_id: str) -> list[dict[str, Any]]:
        rows = (
            self.db.reader()
            .execute(
                "SELECT id, user_id, provider, provider_uid, ip, expire, factors, created, updated FROM _sessions"
                " WHERE user_id = ? ORDER BY created",
                (user_id,),
            )
            .fetchall()
        )
        return [session_json(r) for r in rows]

    def delete_session(self, user_id: str, session_id: str) -> None:
        with self.db.write() as conn:
            if conn.execute("DELETE FROM _sessions WHERE id = ? AND user_id = ?", (session_id, user_id)).rowcount == 0:
                raise AppwriteError("user_session_not_found")

    def delete_sessions(self, user_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM _sessions WHERE user_id = ?", (user_id,))

    def session_from_secret(self, encoded: str) -> tuple[str, str] | None:
        """(user id, session id) for a live session secret, else None."""
        decoded = decode_session_secret(encoded)
        if decoded is None:
            return None
        user_id, raw = decoded
        row = (
            self.db.reader()
            .execute("SELECT id, user_id, expire FROM _sessions WHERE secret_hash = ?", (_sha256(raw),))
            .fetchone()
        )
        if row is None or row[1] != user_id or parse_datetime(row[2]) <= self.clock.now():
            return None
        return row[1], row[0]

    # --- JWTs ----------------------------------------------------------------------------------------------------
    def create_jwt(self, user_id: str, session_id: str, duration: int) -> str:
        now = int(self.clock.timestamp())
        return pyjwt.encode(
            {"userId": user_id, "sessionId": session_id, "iat": now, "exp": now + duration},
            self.jwt_secret,
            algorithm="HS256",
        )

    def verify_jwt(self, token: str) -> tuple[str, str]:
        """(user id, session id) of a valid JWT. Its signature is checked once and remembered (a token never
        changes); its expiry, its session and its user are checked on every request."""
        payload = self._verified.get(token)
        if payload is None:
            try:
                payload = pyjwt.decode(
                    token,
                    self.jwt_secret,
                    algorithms=["HS256"],
                    options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["exp"]},
                )
            except pyjwt.PyJWTError:
                raise AppwriteError("user_jwt_invalid") from None
            if len(self._verified) >= VERIFIED_JWTS:
                self._verified.clear()  # a burst of distinct tokens: start again rather than grow
            self._verified[token] = payload
        if payload["exp"] <= self.clock.timestamp():
            raise AppwriteError("user_jwt_invalid")
        user_id, session_id = str(payload.get("userId", "")), str(payload.get("sessionId", ""))
        if not user_id:
            raise AppwriteError("user_jwt_invalid")
        if session_id and self.get_session(user_id, session_id) is None:
            raise AppwriteError("user_jwt_invalid")
        return user_id, session_id

    # --- roles ---------------------------------------------------------------------------------------------------
    def roles_for(self, user_row: tuple) -> frozenset[str]:
        """Appwrite's User::getRoles: users, user:ID, verification variants, teams, team roles, members, labels."""
        uid = user_row[1]
        verified = bool(user_row[12]) or bool(user_row[13])
        suffix = "verified" if verified else "unverified"
        roles = {"any", "users", f"user:{uid}", f"user:{uid}/{suffix}", f"users/{suffix}"}
        for label in json.loads(user_row[10]):
            roles.add(f"label:{label}")
        for mid, team_id, team_roles in self.db.reader().execute(
            "SELECT id, team_id, roles FROM _memberships WHERE user_id = ? AND confirm = 1", (uid,)
        ):
            roles.add(f"team:{team_id}")
            roles.add(f"member:{mid}")
            for role in json.loads(team_roles):
                roles.add(f"team:{team_id}/{role}")
        return frozenset(roles)


def session_json(row: tuple, current: bool = False, secret: str = "") -> dict[str, Any]:
    sid, user_id, provider, provider_uid, ip, expire, factors, created, updated = row
    empty = ""
    return {
        "$id": sid,
        "$createdAt": created,
        "$updatedAt": updated,
        "userId": user_id,
        "expire": expire,
        "provider": provider,
        "providerUid": provider_uid,
        "providerAccessToken": empty,
        "providerAccessTokenExpiry": empty,
        "providerRefreshToken": empty,
        "ip": ip,
        "osCode": empty,
        "osName": empty,
        "osVersion": empty,
        "clientType": empty,
        "clientCode": empty,
        "clientName": empty,
        "clientVersion": empty,
        "clientEngine": empty,
        "clientEngineVersion": empty,
        "deviceName": empty,
        "deviceBrand": empty,
        "deviceModel": empty,
        "countryCode": "--",
        "countryName": "Unknown",
        "current": current,
        "factors": json.loads(factors),
        "secret": secret,
        "mfaUpdatedAt": empty,
    }
