"""Functions management as `appwrite push functions` uses it: create, update, delete functions; deployments
(the CLI's chunked `.tar.gz` upload, build status and logs, activation); and the two console/proxy calls the CLI
makes when it creates a function. Executions and variables are in functions.py."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from croniter import croniter

from ..api import Ctx, RouteTable, json_response, list_response, no_content
from ..clock import format_datetime
from ..deployments import COLUMNS as DEPLOYMENT_COLUMNS
from ..deployments import deployment_json
from ..errors import AppwriteError, invalid_argument
from ..functions import MAX_TIMEOUT, RUNTIME_PREFIX, FunctionSpec
from ..ids import uid, unique_id
from ..listing import ListSpec
from ..queries import Attr

routes = RouteTable()

SUPPORTED_RUNTIMES = ("python-3.11", "python-3.12", "python-3.13")
DEPLOYMENT_ATTRS = {
    "$id": Attr("id", "string"),
    "status": Attr("status", "string"),
    "type": Attr("type", "string"),
    "entrypoint": Attr("entrypoint", "string"),
    "sourceSize": Attr("source_size", "integer"),
    "buildDuration": Attr("build_duration", "float"),
    "$createdAt": Attr("created", "datetime"),
    "$updatedAt": Attr("updated", "datetime"),
}
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
MAX_CODE = 30 * 1024 * 1024  # _APP_FUNCTIONS_SIZE_LIMIT


def _function(ctx: Ctx) -> FunctionSpec:
    found = ctx.services.functions.get(ctx.p("functionId"))
    if found is None:
        raise AppwriteError("function_not_found")
    return found[0]


def _spec(ctx: Ctx, base: FunctionSpec) -> FunctionSpec:
    """`base` with the request's fields, each checked as Appwrite's validators check it."""
    runtime = ctx.text("runtime", base.runtime, 128)
    if runtime not in SUPPORTED_RUNTIMES:
        raise AppwriteError("function_runtime_unsupported", f"Runtime {runtime!r} is not supported here.")
    schedule = ctx.text("schedule", base.schedule, 100)
    if schedule and not croniter.is_valid(schedule):
        raise invalid_argument("schedule", "String must be a valid cron expression")
    events = ctx.array("events", base.events)
    if not all(isinstance(e, str) and not e.startswith("functions.") for e in events):
        raise invalid_argument("events", "Value must be a valid array of event names (not function events)")
    execute = ctx.array("execute", base.execute)
    scopes = ctx.array("scopes", base.scopes)
    if not all(isinstance(v, str) for v in execute + scopes):
        raise invalid_argument("execute", "Value must be a valid array of strings")
    return replace(
        base,
        name=ctx.text("name", base.name, 128, 1),
        runtime=runtime,
        execute=execute,
        events=events,
        schedule=schedule,
        timeout=ctx.integer("timeout", base.timeout, 1, MAX_TIMEOUT),
        enabled=ctx.boolean("enabled", base.enabled),
        logging=ctx.boolean("logging", base.logging),
        entrypoint=ctx.text("entrypoint", base.entrypoint, 1024),
        commands=ctx.text("commands", base.commands, 8192),
        scopes=scopes,
    )


# --- functions -------------------------------------------------------------------------------------------------------
@routes.route("POST", "/functions", "functions.write")
def functions_create(ctx: Ctx):
    function_id = ctx.new_id("functionId")
    if function_id == "unique()":
        function_id = unique_id()
    if ctx.services.functions.get(function_id) is not None:
        raise AppwriteError("function_already_exists")
    blank = FunctionSpec(id=function_id, name="", runtime=f"{RUNTIME_PREFIX}3.11", path="", entrypoint="", source="api")
    spec = _spec(ctx, blank)
    ctx.services.functions.save(spec)
    _, created, updated = ctx.services.functions.get(function_id)
    return json_response(spec.to_json(created, updated), 201)


@routes.route("PUT", "/functions/{functionId}", "functions.write")
def functions_update(ctx: Ctx):
    current = _function(ctx)
    runtime = ctx.text("runtime", current.runtime, 128)
    if runtime != current.runtime:
        raise AppwriteError("function_runtime_unsupported", "The runtime of an existing function cannot change here.")
    spec = _spec(ctx, current)
    ctx.services.functions.save(spec)
    ctx.services.executor.reset(spec.id)
    _, created, updated = ctx.services.functions.get(spec.id)
    return json_response(spec.to_json(created, updated))


@routes.route("DELETE", "/functions/{functionId}", "functions.write")
def functions_delete(ctx: Ctx):
    spec = _function(ctx)
    ctx.services.functions.delete(spec.id)
    ctx.services.executor.reset(spec.id)
    rows = ctx.services.db.reader().execute("SELECT id FROM _deployments WHERE function_id = ?", (spec.id,))
    for (deployment_id,) in rows.fetchall():
        ctx.services.deployments.delete(deployment_id)
    return no_content()


@routes.route("GET", "/functions/runtimes", "functions.read")
def runtimes_list(ctx: Ctx):
    runtimes = [
        {
            "$id": r,
            "key": r.replace("-", "_"),
            "name": "Python",
            "version": r.split("-", 1)[1],
            "base": "",
            "image": f"openruntimes/python:v5-{r.split('-', 1)[1]}",
            "logo": "python.png",
            "supports": ["amd64", "arm64"],
        }
        for r in SUPPORTED_RUNTIMES
    ]
    return list_response("runtimes", runtimes, len(runtimes))


@routes.route("GET", "/functions/specifications", "functions.read")
def specifications_list(ctx: Ctx):
    spec = {"memory": 512, "cpus": 1, "enabled": True, "slug": "s-1vcpu-512mb"}
    return list_response("specifications", [spec], 1)


# --- deployments -----------------------------------------------------------------------------------------------------
def _deployment(ctx: Ctx, spec: FunctionSpec) -> tuple:
    row = ctx.services.deployments.get(uid(ctx.p("deploymentId"), "deploymentId"), spec.id)
    if row is None:
        raise AppwriteError("deployment_not_found", "Deployment with the requested ID could not be found.")
    return row


@routes.route("POST", "/functions/{functionId}/deployments", "functions.write")
def deployments_create(ctx: Ctx):
    spec = _function(ctx)
    upload = ctx.files.get("code")
    if upload is None or not upload.data:
        raise AppwriteError("storage_file_empty")
    deploy_spec = replace(
        spec,
        entrypoint=ctx.text("entrypoint", spec.entrypoint, 1024),
        commands=ctx.text("commands", spec.commands, 8192),
    )
    if not deploy_spec.entrypoint:
        raise AppwriteError("function_entrypoint_missing")
    activate = ctx.boolean("activate", False)
    archive, upload_id = _received(ctx, upload.data)
    deployments = ctx.services.deployments
    if archive is None:  # more chunks to come: answer what Appwrite answers mid-upload
        return json_response({"$id": upload_id, "status": "waiting", "chunksUploaded": 0}, 202)
    deployment_id = deployments.from_archive(deploy_spec, archive, activate, upload_id)
    return json_response(deployment_json(deployments.get(deployment_id)), 202)


def _received(ctx: Ctx, data: bytes) -> tuple[bytes | None, str]:
    """The whole archive once its last chunk is in (chunks as the SDKs and the CLI send them), else None."""
    content_range = ctx.headers.get("content-range")
    if not content_range:
        if len(data) > MAX_CODE:
            raise AppwriteError("storage_invalid_file_size")
        return data, unique_id()
    match = _RANGE.match(content_range.strip())
    if not match:
        raise AppwriteError("storage_invalid_content_range")
    start, end, size = (int(g) for g in match.groups())
    if start > end or end >= size or end - start + 1 != len(data) or size > MAX_CODE:
        raise AppwriteError("storage_invalid_content_range")
    upload_id = uid(ctx.headers["x-appwrite-id"], "x-appwrite-id") if ctx.headers.get("x-appwrite-id") else unique_id()
    owner = ctx.principal.owner_tag or "guest:" + ctx.ip
    return ctx.services.deployments.receive_chunk(upload_id, owner, start, size, data), upload_id


@routes.route("GET", "/functions/{functionId}/deployments", "functions.read")
def deployments_list(ctx: Ctx):
    spec = _function(ctx)
    listing = ListSpec(
        "_deployments", DEPLOYMENT_COLUMNS, DEPLOYMENT_ATTRS, "id", "rowid", "function_id = ?", (spec.id,)
    )
    rows, total = ctx.list_rows_of(listing, "(id || ' ' || entrypoint)")
    return list_response("deployments", [deployment_json(r) for r in rows], total)


@routes.route("GET", "/functions/{functionId}/deployments/{deploymentId}", "functions.read")
def deployments_get(ctx: Ctx):
    return json_response(deployment_json(_deployment(ctx, _function(ctx))))


@routes.route("DELETE", "/functions/{functionId}/deployments/{deploymentId}", "functions.write")
def deployments_delete(ctx: Ctx):
    spec = _function(ctx)
    row = _deployment(ctx, spec)
    if spec.deployment == row[0]:
        ctx.services.functions.set_deployment(spec.id, "")
        ctx.services.executor.reset(spec.id)
    ctx.services.deployments.delete(row[0])
    return no_content()


@routes.route("PATCH", "/functions/{functionId}/deployment", "functions.write")
def deployment_activate(ctx: Ctx):
    """Roll forward or back: make a ready deployment the active one."""
    spec = _function(ctx)
    row = ctx.services.deployments.get(ctx.text("deploymentId", max_len=36, min_len=1), spec.id)
    if row is None:
        raise AppwriteError("deployment_not_found", "Deployment with the requested ID could not be found.")
    if row[2] != "ready":
        raise AppwriteError("build_not_ready")
    ctx.services.deployments.activate(spec.id, row[0])
    found = ctx.services.functions.get(spec.id)
    return json_response(found[0].to_json(found[1], found[2]))


# --- what the CLI asks the console when it creates a function ---------------------------------------------------------
@routes.route("GET", "/console/variables", None, needs_project=False)
def console_variables(ctx: Ctx):
    """Public settings the console shows; the CLI reads the functions' domain suffix from here."""
    return json_response(
        {
            "_APP_DOMAIN_TARGET_CNAME": "localhost",
            "_APP_DOMAIN_TARGET_A": "127.0.0.1",
            "_APP_DOMAIN_TARGET_AAAA": "::1",
            "_APP_DOMAIN_TARGET_CAA": "",
            "_APP_STORAGE_LIMIT": 30_000_000,
            "_APP_COMPUTE_SIZE_LIMIT": MAX_CODE,
            "_APP_USAGE_STATS": "disabled",
            "_APP_VCS_ENABLED": False,
            "_APP_DOMAIN_ENABLED": False,
            "_APP_ASSISTANT_ENABLED": False,
            "_APP_DOMAIN_SITES": "sites.localhost",
            "_APP_DOMAIN_FUNCTIONS": ctx.services.settings.functions_domain,
            "_APP_OPTIONS_FORCE_HTTPS": "disabled",
            "_APP_DOMAINS_NAMESERVERS": "",
            "_APP_DB_ADAPTER": "sqlite",
        }
    )


RULE_COLUMNS = "seq, id, domain, resource_type, resource_id, trigger, created, updated"
RULE_ATTRS = {
    "$id": Attr("id", "string"),
    "domain": Attr("domain", "string"),
    "deploymentResourceType": Attr("resource_type", "string"),
    "deploymentResourceId": Attr("resource_id", "string"),
    "trigger": Attr("trigger", "string"),
    "$createdAt": Attr("created", "datetime"),
    "$updatedAt": Attr("updated", "datetime"),
}


def _rule_json(row: tuple) -> dict[str, Any]:
    _, rule_id, domain, resource_type, resource_id, trigger, created, updated = row
    return {
        "$id": rule_id,
        "$createdAt": created,
        "$updatedAt": updated,
        "domain": domain,
        "type": "deployment",
        "trigger": trigger,
        "redirectUrl": "",
        "redirectStatusCode": 301,
        "deploymentId": "",
        "deploymentResourceType": resource_type,
        "deploymentResourceId": resource_id,
        "deploymentVcsProviderBranch": "",
        "status": "verified",
        "logs": "",
        "renewAt": "",
    }


@routes.route("POST", "/proxy/rules/function", "rules.write")
def proxy_function_rule(ctx: Ctx):
    """A domain for a function, recorded as Appwrite records it (function domains: docs/local-server.md)."""
    function_id = ctx.text("functionId", max_len=36, min_len=1)
    if ctx.services.functions.get(function_id) is None:
        raise AppwriteError("function_not_found")
    domain = ctx.text("domain", max_len=253, min_len=1).lower()
    now = format_datetime(ctx.services.clock.now())
    with ctx.services.db.write() as conn:
        if conn.execute("SELECT 1 FROM _rules WHERE domain = ?", (domain,)).fetchone():
            raise AppwriteError("rule_already_exists", "Domain already assigned to a different resource.", 409)
        conn.execute(
            "INSERT INTO _rules (id, domain, resource_type, resource_id, trigger, created, updated)"
            " VALUES (?, ?, 'function', ?, 'manual', ?, ?)",
            (unique_id(), domain, function_id, now, now),
        )
        row = conn.execute(f"SELECT {RULE_COLUMNS} FROM _rules WHERE domain = ?", (domain,)).fetchone()
    return json_response(_rule_json(row), 201)


@routes.route("GET", "/proxy/rules", "rules.read")
def proxy_rules_list(ctx: Ctx):
    rows, total = ctx.list_rows_of(ListSpec("_rules", RULE_COLUMNS, RULE_ATTRS, "id", "seq"), "domain")
    return list_response("rules", [_rule_json(r) for r in rows], total)
