"""Health and ping."""

from __future__ import annotations

import time

from starlette.responses import Response

from ..api import Ctx, RouteTable, json_response
from ..errors import APPWRITE_VERSION

routes = RouteTable()


@routes.route("GET", "/health", "health.read")
def health(ctx: Ctx):
    return json_response({"name": "http", "status": "pass", "ping": 0})


@routes.route("GET", "/health/version", None, needs_project=False)
def health_version(ctx: Ctx):
    return json_response({"version": APPWRITE_VERSION})


@routes.route("GET", "/health/db", "health.read")
def health_db(ctx: Ctx):
    start = time.perf_counter()
    ctx.services.db.reader().execute("SELECT 1").fetchone()
    ping = int((time.perf_counter() - start) * 1000)
    return json_response({"total": 1, "statuses": [{"name": "database", "status": "pass", "ping": ping}]})


@routes.route("GET", "/health/storage/local", "health.read")
def health_storage(ctx: Ctx):
    start = time.perf_counter()
    probe = ctx.services.files.root / ".health"
    probe.write_bytes(b"ok")
    probe.unlink()
    return json_response({"name": "storage", "status": "pass", "ping": int((time.perf_counter() - start) * 1000)})


@routes.route("GET", "/health/time", "health.read")
def health_time(ctx: Ctx):
    now = int(ctx.services.clock.timestamp())
    return json_response({"remoteTime": now, "localTime": now, "diff": 0})


@routes.route("GET", "/ping", "global")
def ping(ctx: Ctx):
    return Response(b"Pong!", 200, media_type="text/plain")
