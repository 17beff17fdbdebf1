"""Teams and memberships. A team's members hold `team:<id>` and `team:<id>/<role>` roles."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from ..api import Ctx, RouteTable, json_response, list_response, no_content
from ..clock import format_datetime
from ..errors import AppwriteError, invalid_argument
from ..ids import unique_id
from ..listing import ListSpec
from ..queries import Attr
from .params import email_param

routes = RouteTable()

ROLE = re.compile(r"^[A-Za-z0-9._-]{1,81}$")
TEAM_COLUMNS = (
    "t.seq, t.id, t.name, t.prefs, t.created, t.updated, "
    "(SELECT COUNT(*) FROM _memberships m WHERE m.team_id = t.id AND m.confirm = 1)"
)
TEAM_ATTRS = {
    "$id": Attr("t.id", "string"),
    "$createdAt": Attr("t.created", "datetime"),
    "$updatedAt": Attr("t.updated", "datetime"),
    "name": Attr("t.name", "string"),
    "$sequence": Attr("t.seq", "integer"),
}
MEMBERSHIP_COLUMNS = (
    "m.seq, m.id, m.user_id, u.name, u.email, u.phone, m.team_id, t.name, m.invited, m.joined,"
    " m.confirm, u.accessed_at, m.roles, m.created, m.updated"
)
MEMBERSHIP_ATTRS = {
    "$id": Attr("m.id", "string"),
    "$createdAt": Attr("m.created", "datetime"),
    "$updatedAt": Attr("m.updated", "datetime"),
    "userId": Attr("m.user_id", "string"),
    "teamId": Attr("m.team_id", "string"),
    "invited": Attr("m.invited", "datetime"),
    "joined": Attr("m.joined", "datetime"),
    "confirm": Attr("m.confirm", "boolean"),
    "roles": Attr("m.roles", "string", array=True),
    "$sequence": Attr("m.seq", "integer"),
}
MEMBERSHIP_FROM = "_memberships m JOIN _teams t ON t.id = m.team_id JOIN _users u ON u.id = m.user_id"


def team_json(row: tuple) -> dict[str, Any]:
    return {
        "$id": row[1],
        "$createdAt": row[4],
        "$updatedAt": row[5],
        "name": row[2],
        "total": row[6],
        "prefs": json.loads(row[3]),
    }


def membership_json(row: tuple) -> dict[str, Any]:
    (
        _,
        mid,
        user_id,
        user_name,
        email,
        phone,
        team_id,
        team_name,
        invited,
        joined,
        confirm,
        accessed,
        roles,
        created,
        updated,
    ) = row
    return {
        "$id": mid,
        "$createdAt": created,
        "$updatedAt": updated,
        "userId": user_id,
        "userName": user_name,
        "userEmail": email or "",
        "userPhone": phone or "",
        "teamId": team_id,
        "teamName": team_name,
        "invited": invited,
        "joined": joined,
        "confirm": bool(confirm),
        "mfa": False,
        "userAccessedAt": accessed,
        "roles": json.loads(roles),
    }


def _roles(ctx: Ctx, name: str = "roles") -> list[str]:
    roles = ctx.array(name, max_items=100)
    for role in roles:
        if not isinstance(role, str) or not ROLE.match(role):
            raise invalid_argument(
                name,
                "Value must a valid array no longer than 100 items and Value must be a "
                "valid string and no longer than 81 chars",
            )
    return list(dict.fromkeys(roles))


def _team_row(conn: sqlite3.Connection, team_id: str) -> tuple | None:
    return conn.execute(f"SELECT {TEAM_COLUMNS} FROM _teams t WHERE t.id = ?", (team_id,)).fetchone()


def _team(ctx: Ctx, need_owner: bool = False) -> tuple:
    """The team if the caller may see it (member) or change it (owner); 404/401 as Appwrite answers."""
    row = _team_row(ctx.services.db.reader(), ctx.p("teamId"))
    if row is None:
        raise AppwriteError("team_not_found")
    roles = ctx.principal.roles
    if not ctx.principal.is_key:
        if f"team:{row[1]}" not in roles:
            raise AppwriteError("team_not_found")
        if need_owner and f"team:{row[1]}/owner" not in roles:
            raise AppwriteError("user_unauthorized")
    return row


def _membership(ctx: Ctx, team_id: str) -> tuple:
    row = (
        ctx.services.db.reader()
        .execute(
            f"SELECT {MEMBERSHIP_COLUMNS} FROM {MEMBERSHIP_FROM} WHERE m.id = ? AND m.team_id = ?",
            (ctx.p("membershipId"), team_id),
        )
        .fetchone()
    )
    if row is None:
        raise AppwriteError("membership_not_found")
    return row


def add_membership(
    conn: sqlite3.Connection, team_id: str, user_id: str, roles: list[str], now: str, confirm: bool = True
) -> str:
    membership_id = unique_id()
    try:
        conn.execute(
            "INSERT INTO _memberships (id, team_id, user_id, roles, invited, joined, confirm, created, updated)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (membership_id, team_id, user_id, json.dumps(roles), now, now if confirm else "", int(confirm), now, now),
        )
    except sqlite3.IntegrityError:
        raise AppwriteError("team_invite_already_exists") from None
    return membership_id


@routes.route("GET", "/teams", "teams.read")
def teams_list(ctx: Ctx):
    where, params = "1", ()
    if not ctx.principal.is_key:
        where = "t.id IN (SELECT team_id FROM _memberships WHERE user_id = ? AND confirm = 1)"
        params = (ctx.principal.user_id,)
    spec = ListSpec("_teams t", TEAM_COLUMNS, TEAM_ATTRS, "t.id", "t.seq", where, params)
    rows, total = ctx.list_rows_of(spec, "(t.id || ' ' || t.name)")
    return list_response("teams", [team_json(r) for r in rows], total)


@routes.route("POST", "/teams", "teams.write")
def teams_create(ctx: Ctx):
    team_id = ctx.new_id("teamId")
    name = ctx.text("name", max_len=128, min_len=1)
    roles = _roles(ctx) if ctx.has("roles") else ["owner"]
    now = format_datetime(ctx.services.clock.now())
    with ctx.services.db.write() as conn:
        try:
            conn.execute("INSERT INTO _teams (id, name, created, updated) VALUES (?,?,?,?)", (team_id, name, now, now))
        except sqlite3.IntegrityError:
            raise AppwriteError("team_already_exists") from None
        if not ctx.principal.is_key and ctx.principal.user_id:
            add_membership(conn, team_id, ctx.principal.user_id, list(dict.fromkeys([*roles, "owner"])), now)
        row = _team_row(conn, team_id)
    ctx.services.events.emit(f"teams.{team_id}.create", team_json(row))
    return json_response(team_json(row), 201)


@routes.route("GET", "/teams/{teamId}", "teams.read")
def teams_get(ctx: Ctx):
    return json_response(team_json(_team(ctx)))


@routes.route("PUT", "/teams/{teamId}", "teams.write")
def teams_update(ctx: Ctx):
    team = _team(ctx, need_owner=True)
    with ctx.services.db.write() as conn:
        conn.execute(
            "UPDATE _teams SET name = ?, updated = ? WHERE id = ?",
            (ctx.text("name", max_len=128, min_len=1), format_datetime(ctx.services.clock.now()), team[1]),
        )
        row = _team_row(conn, team[1])
    ctx.services.events.emit(f"teams.{team[1]}.update", team_json(row))
    return json_response(team_json(row))


@routes.route("DELETE", "/teams/{teamId}", "teams.write")
def teams_delete(ctx: Ctx):
    team = _team(ctx, need_owner=True)
    with ctx.services.db.write() as conn:
        conn.execute("DELETE FROM _memberships WHERE team_id = ?", (team[1],))
        conn.execute("DELETE FROM _teams WHERE id = ?", (team[1],))
    ctx.services.events.emit(f"teams.{team[1]}.delete", team_json(team))
    return no_content()


@routes.route("GET", "/teams/{teamId}/prefs", "teams.read")
def teams_prefs_get(ctx: Ctx):
    return json_response(json.loads(_team(ctx)[3]))


@routes.route("PUT", "/teams/{teamId}/prefs", "teams.write")
def teams_prefs_update(ctx: Ctx):
    team = _team(ctx)
    prefs = ctx.obj("prefs")
    with ctx.services.db.write() as conn:
        conn.execute(
            "UPDATE _teams SET prefs = ?, updated = ? WHERE id = ?",
            (json.dumps(prefs), format_datetime(ctx.services.clock.now()), team[1]),
        )
    return json_response(prefs)


@routes.route("GET", "/teams/{teamId}/memberships", "teams.read")
def memberships_list(ctx: Ctx):
    team = _team(ctx)
    spec = ListSpec(MEMBERSHIP_FROM, MEMBERSHIP_COLUMNS, MEMBERSHIP_ATTRS, "m.id", "m.seq", "m.team_id = ?", (team[1],))
    rows, total = ctx.list_rows_of(spec, "(u.name || ' ' || COALESCE(u.email, '') || ' ' || m.user_id)")
    return list_response("memberships", [membership_json(r) for r in rows], total)


@routes.route("POST", "/teams/{teamId}/memberships", "teams.write", abuse=("url:{url},ip:{ip}", 10, 3600))
def memberships_create(ctx: Ctx):
    team = _team(ctx, need_owner=True)
    roles = _roles(ctx)
    user_id, email = ctx.raw("userId", None), ctx.raw("email", None)
    if user_id is None and email is None and ctx.raw("phone", None) is None:
        raise AppwriteError("general_argument_invalid", "At least one of userId, email, or phone is required")
    if not ctx.principal.is_key:
        # Appwrite invites by email here, which needs SMTP; the local server has none.
        raise AppwriteError("general_smtp_disabled")
    identity = ctx.services.identity
    if user_id is not None:
        user = identity.require_user(ctx.ref_id("userId"))
    else:
        address = email_param(ctx) if email is not None else None
        user = identity.find_by_email(address) if address else None
        if user is None:
            user = identity.create_user(unique_id(), address, None, None, ctx.text("name", "", 128))
    now = format_datetime(ctx.services.clock.now())
    with ctx.services.db.write() as conn:
        membership_id = add_membership(conn, team[1], user[1], roles, now)
    row = (
        ctx.services.db.reader()
        .execute(f"SELECT {MEMBERSHIP_COLUMNS} FROM {MEMBERSHIP_FROM} WHERE m.id = ?", (membership_id,))
        .fetchone()
    )
    ctx.services.events.emit(f"teams.{team[1]}.memberships.{membership_id}.create", membership_json(row))
    return json_response(membership_json(row), 201)


@routes.route("GET", "/teams/{teamId}/memberships/{membershipId}", "teams.read")
def memberships_get(ctx: Ctx):
    return json_response(membership_json(_membership(ctx, _team(ctx)[1])))


@routes.route("PATCH", "/teams/{teamId}/memberships/{membershipId}", "teams.write")
def memberships_update(ctx: Ctx):
    team = _team(ctx, need_owner=True)
    membership = _membership(ctx, team[1])
    roles = _roles(ctx)
    with ctx.services.db.write() as conn:
        conn.execute(
            "UPDATE _memberships SET roles = ?, updated = ? WHERE id = ?",
            (json.dumps(roles), format_datetime(ctx.services.clock.now()), membership[1]),
        )
    row = _membership(ctx, team[1])
    ctx.services.events.emit(f"teams.{team[1]}.memberships.{membership[1]}.update", membership_json(row))
    return json_response(membership_json(row))


@routes.route("PATCH", "/teams/{teamId}/memberships/{membershipId}/status", "public")
def memberships_status(ctx: Ctx):
    row = (
        ctx.services.db.reader()
        .execute(
            f"SELECT {MEMBERSHIP_COLUMNS} FROM {MEMBERSHIP_FROM} WHERE m.id = ? AND m.team_id = ?",
            (ctx.p("membershipId"), ctx.p("teamId")),
        )
        .fetchone()
    )
    if row is None:
        raise AppwriteError("team_invite_not_found", "The requested team invitation could not be found.", 404)
    if row[10]:
        raise AppwriteError("membership_already_confirmed")
    raise AppwriteError("team_invalid_secret", "The team invitation secret is invalid.", 401)


@routes.route("DELETE", "/teams/{teamId}/memberships/{membershipId}", "teams.write")
def memberships_delete(ctx: Ctx):
    team = _team(ctx)
    membership = _membership(ctx, team[1])
    own = membership[2] == ctx.principal.user_id
    if not ctx.principal.is_key and not own and f"team:{team[1]}/owner" not in ctx.principal.roles:
        raise AppwriteError("user_unauthorized")
    with ctx.services.db.write() as conn:
        conn.execute("DELETE FROM _memberships WHERE id = ?", (membership[1],))
    ctx.services.events.emit(f"teams.{team[1]}.memberships.{membership[1]}.delete", membership_json(membership))
    return no_content()
