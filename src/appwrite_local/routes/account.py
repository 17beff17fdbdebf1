"""Account: the signed-in user's own view (session, JWT) plus sign-up and email/password sign-in."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from .. import passwords
from ..api import Ctx, RouteTable, json_response, list_response, no_content
from ..errors import AppwriteError
from ..identity import user_json
from ..ids import unique_id
from .params import email_param, password_param, phone_param
from .teams import MEMBERSHIP_COLUMNS, MEMBERSHIP_FROM, membership_json

routes = RouteTable()


def _me(ctx: Ctx) -> tuple:
    row = ctx.principal.user_row
    if row is None:  # an API key has no "account" scope either, so this is only reached by a bug
        raise AppwriteError("user_unauthorized")
    return ctx.services.identity.require_user(row[1])


def _session_response(ctx: Ctx, user: tuple, provider: str, uid: str, factors: list[str]) -> Response:
    session, secret = ctx.services.identity.create_session(
        user[1], provider, uid, ctx.ip, ctx.headers.get("user-agent", ""), factors, unique_id()
    )
    visible_secret = secret if ctx.principal.is_key else ""
    body = {**session, "current": True, "secret": visible_secret}
    response = json_response(body, 201)
    cookie = f"a_session_{ctx.project_id}"
    for name in (cookie, cookie + "_legacy"):
        response.set_cookie(
            name, secret, max_age=365 * 24 * 3600, path="/", httponly=True, samesite="none", secure=False
        )
    response.headers["X-Fallback-Cookies"] = json.dumps({cookie: secret})
    ctx.services.events.emit(f"users.{user[1]}.sessions.{session['$id']}.create", body)
    return response


@routes.route("POST", "/account", "sessions.write", abuse=("ip:{ip}", 10, 3600))
def account_create(ctx: Ctx):
    user_id = ctx.new_id("userId")
    email = email_param(ctx, required=True)
    password = password_param(ctx)
    row = ctx.services.identity.create_user(user_id, email, None, password, ctx.text("name", "", 128))
    ctx.services.events.emit(f"users.{user_id}.create", user_json(row))
    return json_response(user_json(row), 201)


@routes.route("GET", "/account", "account")
def account_get(ctx: Ctx):
    return json_response(user_json(_me(ctx)))


@routes.route("POST", "/account/sessions/email", "sessions.write", abuse=("url:{url},email:{param-email}", 10, 3600))
def account_session_email(ctx: Ctx):
    if ctx.principal.kind == "user" and ctx.principal.session_id:
        raise AppwriteError("user_session_already_exists")
    email = email_param(ctx, required=True)
    password = ctx.text("password", max_len=256)
    user = ctx.services.identity.find_by_email(email or "")
    options = json.loads(user[7]) if user and user[7] else {}
    if user is None or not passwords.verify_password(password, user[5], user[6], options):
        raise AppwriteError("user_invalid_credentials")
    if not user[9]:
        raise AppwriteError("user_blocked")
    return _session_response(ctx, user, "email", email or "", ["password"])


@routes.route("POST", "/account/sessions/anonymous", "sessions.write", abuse=("ip:{ip}", 50, 3600))
def account_session_anonymous(ctx: Ctx):
    if ctx.principal.kind == "user" and ctx.principal.session_id:
        raise AppwriteError("user_session_already_exists")
    user = ctx.services.identity.create_user(unique_id(), None, None, None, "")
    return _session_response(ctx, user, "anonymous", "", ["anonymous"])


@routes.route("GET", "/account/sessions", "account")
def account_sessions_list(ctx: Ctx):
    me = _me(ctx)
    sessions = [
        {**s, "current": s["$id"] == ctx.principal.session_id} for s in ctx.services.identity.list_sessions(me[1])
    ]
    return list_response("sessions", sessions, len(sessions))


def _session_id(ctx: Ctx) -> str:
    sid = ctx.p("sessionId")
    if sid == "current":
        if not ctx.principal.session_id:
            raise AppwriteError("user_session_not_found")
        return ctx.principal.session_id
    return sid


@routes.route("GET", "/account/sessions/{sessionId}", "account")
def account_session_get(ctx: Ctx):
    me = _me(ctx)
    sid = _session_id(ctx)
    session = ctx.services.identity.get_session(me[1], sid)
    if session is None:
        raise AppwriteError("user_session_not_found")
    return json_response({**session, "current": sid == ctx.principal.session_id})


@routes.route("PATCH", "/account/sessions/{sessionId}", "account")
def account_session_update(ctx: Ctx):
    return account_session_get(ctx)


@routes.route("DELETE", "/account/sessions/{sessionId}", "account")
def account_session_delete(ctx: Ctx):
    me = _me(ctx)
    sid = _session_id(ctx)
    ctx.services.identity.delete_session(me[1], sid)
    ctx.services.events.emit(f"users.{me[1]}.sessions.{sid}.delete", {"$id": sid, "userId": me[1]})
    response = no_content()
    if sid == ctx.principal.session_id:
        _clear_cookies(ctx, response)
    return response


@routes.route("DELETE", "/account/sessions", "account")
def account_sessions_delete(ctx: Ctx):
    ctx.services.identity.delete_sessions(_me(ctx)[1])
    response = no_content()
    _clear_cookies(ctx, response)
    return response


def _clear_cookies(ctx: Ctx, response: Response) -> None:
    cookie = f"a_session_{ctx.project_id}"
    for name in (cookie, cookie + "_legacy"):
        response.delete_cookie(name, path="/")
    response.headers["X-Fallback-Cookies"] = "[]"


@routes.route("POST", "/account/jwts", "account")
def account_jwt(ctx: Ctx):
    me = _me(ctx)
    if ctx.principal.via_jwt:
        raise AppwriteError("user_jwt_creation_denied")
    if not ctx.principal.session_id:
        raise AppwriteError("user_session_not_found")
    duration = ctx.integer("duration", 900, 0, 3600)
    return json_response({"jwt": ctx.services.identity.create_jwt(me[1], ctx.principal.session_id, duration)}, 201)


@routes.route("GET", "/account/prefs", "account")
def account_prefs_get(ctx: Ctx):
    return json_response(json.loads(_me(ctx)[14]))


@routes.route("PATCH", "/account/prefs", "account")
def account_prefs_update(ctx: Ctx):
    me = _me(ctx)
    row = ctx.services.identity.update_user(me[1], prefs=json.dumps(ctx.obj("prefs")))
    return _user_updated(ctx, row, "prefs")


def _user_updated(ctx: Ctx, row: tuple, what: str) -> Response:
    body = user_json(row)
    ctx.services.events.emit(f"users.{row[1]}.update.{what}", body)
    return json_response(body)


def _check_password(row: tuple, password: Any) -> None:
    options = json.loads(row[7]) if row[7] else {}
    if not isinstance(password, str) or not passwords.verify_password(password, row[5], row[6], options):
        raise AppwriteError("user_invalid_credentials")


@routes.route("PATCH", "/account/name", "account")
def account_name(ctx: Ctx):
    row = ctx.services.identity.update_user(_me(ctx)[1], name=ctx.text("name", max_len=128))
    return _user_updated(ctx, row, "name")


@routes.route("PATCH", "/account/email", "account")
def account_email(ctx: Ctx):
    me = _me(ctx)
    email = email_param(ctx, required=True)
    if me[5]:
        _check_password(me, ctx.raw("password"))
    row = ctx.services.identity.update_user(me[1], email=email, email_verification=0)
    return _user_updated(ctx, row, "email")


@routes.route("PATCH", "/account/phone", "account")
def account_phone(ctx: Ctx):
    me = _me(ctx)
    phone = phone_param(ctx, required=True)
    if me[5]:
        _check_password(me, ctx.raw("password"))
    row = ctx.services.identity.update_user(me[1], phone=phone, phone_verification=0)
    return _user_updated(ctx, row, "phone")


@routes.route("PATCH", "/account/password", "account")
def account_password(ctx: Ctx):
    me = _me(ctx)
    password = password_param(ctx)
    if me[5]:
        _check_password(me, ctx.raw("oldPassword", ""))
    row = ctx.services.identity.set_password(me[1], password or "")
    return _user_updated(ctx, row, "password")


@routes.route("GET", "/account/memberships", "account")
def account_memberships(ctx: Ctx):
    me = _me(ctx)
    rows = (
        ctx.services.db.reader()
        .execute(f"SELECT {MEMBERSHIP_COLUMNS} FROM {MEMBERSHIP_FROM} WHERE m.user_id = ? ORDER BY m.seq", (me[1],))
        .fetchall()
    )
    return list_response("memberships", [membership_json(r) for r in rows], len(rows))
