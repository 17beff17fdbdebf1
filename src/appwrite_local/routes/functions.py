"""Functions API: reading functions, variables and executions. Creating, updating and deploying: deploy.py."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from ..api import Ctx, RouteTable, json_response, list_response, no_content
from ..clock import format_datetime, parse_datetime
from ..errors import AppwriteError, invalid_argument
from ..functions import EXECUTION_COLUMNS, FunctionSpec, execution_json
from ..ids import unique_id
from ..listing import ListSpec
from ..queries import Attr

routes = RouteTable()

MAX_BODY = 10 * 1024 * 1024
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")
FUNCTION_ATTRS = {
    "$id": Attr("id", "string"),
    "name": Attr("json_extract(spec, '$.name')", "string"),
    "enabled": Attr("json_extract(spec, '$.enabled')", "boolean"),
    "runtime": Attr("json_extract(spec, '$.runtime')", "string"),
    "schedule": Attr("json_extract(spec, '$.schedule')", "string"),
    "$createdAt": Attr("created", "datetime"),
    "$updatedAt": Attr("updated", "datetime"),
}
EXECUTION_ATTRS = {
    "$id": Attr("id", "string"),
    "trigger": Attr("trigger", "string"),
    "status": Attr("status", "string"),
    "responseStatusCode": Attr("response_status", "integer"),
    "duration": Attr("duration", "float"),
    "requestMethod": Attr("request_method", "string"),
    "requestPath": Attr("request_path", "string"),
    "deploymentId": Attr("deployment_id", "string"),
    "$createdAt": Attr("created", "datetime"),
    "$updatedAt": Attr("updated", "datetime"),
    "$sequence": Attr("seq", "integer"),
}
VARIABLE_COLUMNS = "id, function_id, key, value, secret, created, updated"


def _function(ctx: Ctx, for_execution: bool = False) -> tuple[FunctionSpec, str, str]:
    found = ctx.services.functions.get(ctx.p("functionId"))
    if found is None or (for_execution and not found[0].enabled and not ctx.principal.is_key):
        raise AppwriteError("function_not_found")
    return found


def _can_execute(ctx: Ctx, spec: FunctionSpec) -> None:
    if ctx.principal.is_key or not set(spec.execute).isdisjoint(ctx.principal.roles):
        return
    raise AppwriteError("user_unauthorized", "To execute function using client SDK, you must have execute permission.")


@routes.route("GET", "/functions", "functions.read")
def functions_list(ctx: Ctx):
    spec = ListSpec("_functions", "id", FUNCTION_ATTRS, "id", "rowid")
    rows, total = ctx.list_rows_of(spec, "(id || ' ' || json_extract(spec, '$.name'))")
    found = [ctx.services.functions.get(r[0]) for r in rows]
    return list_response("functions", [s.to_json(c, u) for s, c, u in filter(None, found)], total)


@routes.route("GET", "/functions/{functionId}", "functions.read")
def functions_get(ctx: Ctx):
    spec, created, updated = _function(ctx)
    return json_response(spec.to_json(created, updated))


# --- variables -------------------------------------------------------------------------------------------------------
def _variable_json(row: tuple) -> dict[str, Any]:
    vid, function_id, key, value, secret, created, updated = row
    return {
        "$id": vid,
        "$createdAt": created,
        "$updatedAt": updated,
        "key": key,
        "description": "",
        "value": "" if secret else value,
        "secret": bool(secret),
        "resourceType": "function",
        "resourceId": function_id,
    }


def _variable(ctx: Ctx, function_id: str) -> tuple:
    row = (
        ctx.services.db.reader()
        .execute(
            f"SELECT {VARIABLE_COLUMNS} FROM _variables WHERE id = ? AND function_id = ?",
            (ctx.p("variableId"), function_id),
        )
        .fetchone()
    )
    if row is None:
        raise AppwriteError("variable_not_found", "Variable with the requested ID could not be found.", 404)
    return row


@routes.route("GET", "/functions/{functionId}/variables", "functions.read")
def variables_list(ctx: Ctx):
    spec, _, _ = _function(ctx)
    rows = (
        ctx.services.db.reader()
        .execute(f"SELECT {VARIABLE_COLUMNS} FROM _variables WHERE function_id = ? ORDER BY created, key", (spec.id,))
        .fetchall()
    )
    return list_response("variables", [_variable_json(r) for r in rows], len(rows))


@routes.route("POST", "/functions/{functionId}/variables", "functions.write")
def variables_create(ctx: Ctx):
    spec, _, _ = _function(ctx)
    key = ctx.text("key", max_len=255, min_len=1)
    value = ctx.text("value", max_len=8192)
    now = format_datetime(ctx.services.clock.now())
    variable_id = ctx.new_id("variableId") if ctx.has("variableId") else unique_id()
    with ctx.services.db.write() as conn:
        if conn.execute("SELECT 1 FROM _variables WHERE function_id = ? AND key = ?", (spec.id, key)).fetchone():
            raise AppwriteError("variable_already_exists", "Variable with the same key already exists.", 409)
        conn.execute(
            "INSERT INTO _variables (id, function_id, key, value, secret, created, updated) VALUES (?,?,?,?,?,?,?)",
            (variable_id, spec.id, key, value, int(ctx.boolean("secret", False)), now, now),
        )
        row = conn.execute(f"SELECT {VARIABLE_COLUMNS} FROM _variables WHERE id = ?", (variable_id,)).fetchone()
    ctx.services.executor.reset(spec.id)
    return json_response(_variable_json(row), 201)


@routes.route("GET", "/functions/{functionId}/variables/{variableId}", "functions.read")
def variables_get(ctx: Ctx):
    return json_response(_variable_json(_variable(ctx, _function(ctx)[0].id)))


@routes.route("PUT", "/functions/{functionId}/variables/{variableId}", "functions.write")
def variables_update(ctx: Ctx):
    spec = _function(ctx)[0]
    row = _variable(ctx, spec.id)
    with ctx.services.db.write() as conn:
        conn.execute(
            "UPDATE _variables SET key = ?, value = ?, secret = ?, updated = ? WHERE id = ?",
            (
                ctx.text("key", max_len=255, min_len=1),
                ctx.text("value", row[3], 8192),
                # As in Appwrite, a variable can be made secret but a secret one never becomes readable again.
                int(bool(row[4]) or ctx.boolean("secret", False)),
                format_datetime(ctx.services.clock.now()),
                row[0],
            ),
        )
    ctx.services.executor.reset(spec.id)
    return json_response(_variable_json(_variable(ctx, spec.id)))


@routes.route("DELETE", "/functions/{functionId}/variables/{variableId}", "functions.write")
def variables_delete(ctx: Ctx):
    spec = _function(ctx)[0]
    row = _variable(ctx, spec.id)
    with ctx.services.db.write() as conn:
        conn.execute("DELETE FROM _variables WHERE id = ?", (row[0],))
    ctx.services.executor.reset(spec.id)
    return no_content()


# --- executions ------------------------------------------------------------------------------------------------------
def _visible_where(ctx: Ctx, function_id: str) -> tuple[str, tuple]:
    if ctx.principal.is_key:
        return "function_id = ?", (function_id,)
    roles = tuple(f'read("{r}")' for r in sorted(ctx.principal.roles))
    marks = ",".join("?" * len(roles))
    # An execution is readable by the user who started it only (its permissions say so), so the user's own
    # executions are found by index first; the permissions are still what decides.
    return (
        f"function_id = ? AND user_id = ? AND EXISTS (SELECT 1 FROM json_each(permissions) WHERE value IN ({marks}))",
        (function_id, ctx.principal.user_id, *roles),
    )


@routes.route("GET", "/functions/{functionId}/executions", "executions.read")
def executions_list(ctx: Ctx):
    spec = _function(ctx)[0]
    where, params = _visible_where(ctx, spec.id)
    rows, total = ctx.list_rows_of(
        ListSpec("_executions", EXECUTION_COLUMNS, EXECUTION_ATTRS, "id", "seq", where, params)
    )
    return list_response("executions", [execution_json(r, ctx.principal.is_key) for r in rows], total)


@routes.route("GET", "/functions/{functionId}/executions/{executionId}", "executions.read")
def executions_get(ctx: Ctx):
    spec = _function(ctx)[0]
    where, params = _visible_where(ctx, spec.id)
    row = (
        ctx.services.db.reader()
        .execute(
            f"SELECT {EXECUTION_COLUMNS} FROM _executions WHERE id = ? AND {where}", (ctx.p("executionId"), *params)
        )
        .fetchone()
    )
    if row is None:
        raise AppwriteError("execution_not_found", "Execution with the requested ID could not be found.", 404)
    return json_response(execution_json(row, ctx.principal.is_key))


@routes.route("DELETE", "/functions/{functionId}/executions/{executionId}", "execution.write")
def executions_delete(ctx: Ctx):
    spec = _function(ctx)[0]
    row = ctx.services.executor.get_record(ctx.p("executionId"))
    if row is None or row[2] != spec.id:
        raise AppwriteError("execution_not_found", "Execution with the requested ID could not be found.", 404)
    if row[5] in ("waiting", "processing"):
        raise AppwriteError(
            "execution_in_progress",
            "Can't delete ongoing execution. Please wait for execution to finish before deleting it.",
            400,
        )
    with ctx.services.db.write() as conn:
        conn.execute("DELETE FROM _executions WHERE id = ?", (row[1],))
    return no_content()


def _execution_params(ctx: Ctx) -> tuple[bytes, bool, str, str, dict[str, str], str | None]:
    body = ctx.raw("body", "")
    if not isinstance(body, str):
        raise invalid_argument("body", "Value must be a valid string and no longer than 10485760 chars")
    data = body.encode("utf-8")
    if len(data) > MAX_BODY:
        raise invalid_argument("body", "Value must be a valid string and no longer than 10485760 chars")
    is_async = ctx.boolean("async", False)
    path = ctx.text("path", "/", 2048)
    if not path.startswith("/"):
        path = "/" + path
    method = ctx.text("method", "POST").upper()
    if method not in METHODS:
        raise invalid_argument("method", f"Value must be one of ({', '.join(METHODS)})")
    headers = ctx.obj("headers", {})
    if len(headers) > 100 or len(json.dumps(headers)) > 16384:
        raise invalid_argument("headers", "Headers may have at most 100 keys and 16 KiB in total.")
    clean: dict[str, str] = {}
    for key, value in headers.items():
        if not isinstance(key, str) or not HEADER_NAME.match(key):
            raise invalid_argument("headers", f"Header name {key!r} is not valid: use letters, digits and hyphens.")
        if key.lower().startswith("x-appwrite-"):
            raise invalid_argument(
                "headers", f"Header {key!r} is not allowed: x-appwrite- headers are set by the server."
            )
        clean[key.lower()] = str(value)
    scheduled_at = ctx.raw("scheduledAt", None)
    if scheduled_at is not None:
        if not is_async:
            raise AppwriteError(
                "general_bad_request",
                "Scheduled executions must run asynchronously. Set scheduledAt to a future date, or set async to true.",
            )
        try:
            when = parse_datetime(scheduled_at)
        except (ValueError, TypeError):
            raise invalid_argument("scheduledAt", "Value must be valid date.") from None
        if when < ctx.services.clock.now() + timedelta(seconds=59):
            raise invalid_argument("scheduledAt", "Value must be valid date in the future, at least 1 minute from now.")
        scheduled_at = format_datetime(when.replace(second=0, microsecond=0))
    return data, is_async, path, method, clean, scheduled_at


@routes.route("POST", "/functions/{functionId}/executions", "executions.write")
async def executions_create(ctx: Ctx):
    spec = _function(ctx, for_execution=True)[0]
    _can_execute(ctx, spec)
    ctx.services.deployments.ensure_deployable(spec)
    body, is_async, path, method, headers, scheduled_at = _execution_params(ctx)
    executor = ctx.services.executor
    status = "scheduled" if scheduled_at else ("waiting" if is_async else "processing")
    execution_id = executor.create_record(
        spec,
        "http",
        method,
        path,
        headers,
        body,
        status,
        user_id=ctx.principal.user_id,
        session_id=ctx.principal.session_id,
        client_ip=ctx.ip,
        scheduled_at=scheduled_at,
    )
    with_logs = ctx.principal.is_key
    if scheduled_at:
        return json_response(execution_json(executor.get_record(execution_id), with_logs), 202)
    if is_async:
        executor.run_in_background(execution_id)
        return json_response(execution_json(executor.get_record(execution_id), with_logs), 202)
    outcome, record = await executor.run(execution_id, sync=True)
    if outcome.timed_out and spec.timeout > 30:
        raise AppwriteError(
            "function_synchronous_timeout",
            "Synchronous function execution timed out. Use "
            "asynchronous execution instead, or ensure the execution duration doesn't exceed 30 "
            "seconds.",
            408,
        )
    response = execution_json(record, with_logs, with_body=True)
    response["responseHeaders"] = [{"name": k, "value": v} for k, v in outcome.headers]
    return json_response(response, 201)
