"""Users (server side, API key scopes users.read / users.write)."""

from __future__ import annotations

import json
import re
from typing import Any

from ..api import Ctx, RouteTable, json_response, list_response, no_content
from ..errors import AppwriteError, invalid_argument
from ..identity import USER_ATTRS, USER_COLUMNS, user_json
from ..ids import unique_id
from ..listing import ListSpec
from .params import email_param, password_param, phone_param
from .teams import MEMBERSHIP_COLUMNS, membership_json

routes = RouteTable()

LABEL = re.compile(r"^[A-Za-z0-9]{1,36}$")


def _user(ctx: Ctx, row: tuple) -> dict[str, Any]:
    return user_json(row, include_secrets=ctx.principal.is_key)


@routes.route("GET", "/users", "users.read")
def users_list(ctx: Ctx):
    spec = ListSpec("_users", USER_COLUMNS, USER_ATTRS, "id", "seq")
    rows, total = ctx.list_rows_of(spec, "search")
    return list_response("users", [_user(ctx, r) for r in rows], total)


@routes.route("POST", "/users", "users.write")
def users_create(ctx: Ctx):
    user_id = ctx.new_id("userId")
    row = ctx.services.identity.create_user(
        user_id, email_param(ctx), phone_param(ctx), password_param(ctx, required=False), ctx.text("name", "", 128)
    )
    ctx.services.events.emit(f"users.{user_id}.create", _user(ctx, row))
    return json_response(_user(ctx, row), 201)


def _hashed_create(algo: str, options_from: Any):
    def handler(ctx: Ctx):
        user_id = ctx.new_id("userId")
        email = email_param(ctx, required=True)
        stored = ctx.text("password")
        row = ctx.services.identity.create_user(
            user_id,
            email,
            None,
            None,
            ctx.text("name", "", 128),
            hashed=(stored, algo, {"type": algo, **options_from(ctx)}),
        )
        return json_response(_user(ctx, row), 201)

    return handler


routes.add("POST", "/users/argon2", _hashed_create("argon2", lambda ctx: {}), "users.write")
routes.add("POST", "/users/bcrypt", _hashed_create("bcrypt", lambda ctx: {}), "users.write")
routes.add("POST", "/users/md5", _hashed_create("md5", lambda ctx: {}), "users.write")
routes.add(
    "POST",
    "/users/sha",
    _hashed_create("sha", lambda ctx: {"version": ctx.text("passwordVersion", "sha256")}),
    "users.write",
)
routes.add(
    "POST",
    "/users/scrypt",
    _hashed_create(
        "scrypt",
        lambda ctx: {
            "salt": ctx.text("passwordSalt"),
            "costCpu": ctx.integer("passwordCpu"),
            "costMemory": ctx.integer("passwordMemory"),
            "costParallel": ctx.integer("passwordParallel"),
            "length": ctx.integer("passwordLength"),
        },
    ),
    "users.write",
)


def _existing(ctx: Ctx) -> tuple:
    return ctx.services.identity.require_user(ctx.p("userId"))


@routes.route("GET", "/users/{userId}", "users.read")
def users_get(ctx: Ctx):
    return json_response(_user(ctx, _existing(ctx)))


@routes.route("DELETE", "/users/{userId}", "users.write")
def users_delete(ctx: Ctx):
    row = _existing(ctx)
    ctx.services.identity.delete_user(ctx.p("userId"))
    ctx.services.events.emit(f"users.{row[1]}.delete", _user(ctx, row))
    return no_content()


def _updated(ctx: Ctx, event: str, **fields: Any):
    row = ctx.services.identity.update_user(ctx.p("userId"), **fields)
    ctx.services.events.emit(f"users.{row[1]}.update.{event}", _user(ctx, row))
    return json_response(_user(ctx, row))


@routes.route("PUT", "/users/{userId}/labels", "users.write")
def users_labels(ctx: Ctx):
    labels = ctx.array("labels", max_items=1000)
    for label in labels:
        if not isinstance(label, str) or not LABEL.match(label):
            raise invalid_argument(
                "labels",
                "Value must be a valid string and at least 1 chars and no longer "
                "than 36 chars and contain only alphanumeric chars",
            )
    return _updated(ctx, "labels", labels=json.dumps(list(dict.fromkeys(labels))))


@routes.route("GET", "/users/{userId}/prefs", "users.read")
def users_prefs_get(ctx: Ctx):
    return json_response(json.loads(_existing(ctx)[14]))


@routes.route("PATCH", "/users/{userId}/prefs", "users.write")
def users_prefs_update(ctx: Ctx):
    prefs = ctx.obj("prefs")
    row = ctx.services.identity.update_user(ctx.p("userId"), prefs=json.dumps(prefs))
    return json_response(json.loads(row[14]))


@routes.route("PATCH", "/users/{userId}/name", "users.write")
def users_name(ctx: Ctx):
    return _updated(ctx, "name", name=ctx.text("name", max_len=128))


@routes.route("PATCH", "/users/{userId}/email", "users.write")
def users_email(ctx: Ctx):
    return _updated(ctx, "email", email=email_param(ctx, required=True), email_verification=0)


@routes.route("PATCH", "/users/{userId}/phone", "users.write")
def users_phone(ctx: Ctx):
    return _updated(ctx, "phone", phone=phone_param(ctx, "number", required=True), phone_verification=0)


@routes.route("PATCH", "/users/{userId}/password", "users.write")
def users_password(ctx: Ctx):
    _existing(ctx)
    row = ctx.services.identity.set_password(ctx.p("userId"), password_param(ctx))
    return json_response(_user(ctx, row))


@routes.route("PATCH", "/users/{userId}/status", "users.write")
def users_status(ctx: Ctx):
    return _updated(ctx, "status", status=int(ctx.boolean("status")))


@routes.route("PATCH", "/users/{userId}/verification", "users.write")
def users_email_verification(ctx: Ctx):
    return _updated(ctx, "verification", email_verification=int(ctx.boolean("emailVerification")))


@routes.route("PATCH", "/users/{userId}/verification/phone", "users.write")
def users_phone_verification(ctx: Ctx):
    return _updated(ctx, "verification", phone_verification=int(ctx.boolean("phoneVerification")))


@routes.route("POST", "/users/{userId}/jwts", "users.write")
def users_jwt(ctx: Ctx):
    user = _existing(ctx)
    session_id = ctx.text("sessionId", "recent")
    duration = ctx.integer("duration", 900, 0, 3600)
    sessions = ctx.services.identity.list_sessions(user[1])
    if session_id == "recent":
        session_id = sessions[-1]["$id"] if sessions else ""
    elif session_id and not any(s["$id"] == session_id for s in sessions):
        raise AppwriteError("user_session_not_found")
    return json_response({"jwt": ctx.services.identity.create_jwt(user[1], session_id, duration)}, 201)


@routes.route("GET", "/users/{userId}/sessions", "users.read")
def users_sessions_list(ctx: Ctx):
    sessions = ctx.services.identity.list_sessions(_existing(ctx)[1])
    return list_response("sessions", sessions, len(sessions))


@routes.route("POST", "/users/{userId}/sessions", "users.write")
def users_sessions_create(ctx: Ctx):
    user = _existing(ctx)
    session, secret = ctx.services.identity.create_session(
        user[1], "server", user[3] or "", ctx.ip, ctx.headers.get("user-agent", ""), ["server"], unique_id()
    )
    ctx.services.events.emit(f"users.{user[1]}.sessions.{session['$id']}.create", session)
    return json_response({**session, "secret": secret}, 201)


@routes.route("DELETE", "/users/{userId}/sessions", "users.write")
def users_sessions_delete(ctx: Ctx):
    ctx.services.identity.delete_sessions(_existing(ctx)[1])
    return no_content()


@routes.route("DELETE", "/users/{userId}/sessions/{sessionId}", "users.write")
def users_session_delete(ctx: Ctx):
    ctx.services.identity.delete_session(_existing(ctx)[1], ctx.p("sessionId"))
    return no_content()


@routes.route("GET", "/users/{userId}/memberships", "users.read")
def users_memberships(ctx: Ctx):
    user = _existing(ctx)
    rows = (
        ctx.services.db.reader()
        .execute(
            f"SELECT {MEMBERSHIP_COLUMNS} FROM _memberships m JOIN _teams t ON t.id = m.team_id"
            " JOIN _users u ON u.id = m.user_id WHERE m.user_id = ? ORDER BY m.seq",
            (user[1],),
        )
        .fetchall()
    )
    return list_response("memberships", [membership_json(r) for r in rows], len(rows))
