"""Builds the ASGI application: services, the `/v1` routes of every module, error rendering, CORS."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from . import auth, system
from .api import Ctx, RateLimiter, RouteSpec, UploadedFile, parse_php_params, parse_query_string
from .builds import Builder
from .catalog import Catalog
from .clock import Clock
from .console import Console
from .cors import Cors, OriginPolicy
from .db import Database
from .deployments import Deployments
from .domains import FunctionDomains
from .errors import AppwriteError
from .events import EventBus
from .executor import Executor
from .files import FileStore
from .functions import FunctionRegistry, load_appwrite_json
from .identity import Identity
from .realtime import Realtime
from .router import Router
from .routes import account, databases, deploy, functions, health, local, rows, storage, teams, transactions, users
from .routes.flavour import legacy_error
from .rowstore import Rows
from .scheduler import Scheduler, event_trigger

log = logging.getLogger("appwrite_local")

MAX_BODY_BYTES = 32 * 1024 * 1024
# `deploy` before `functions`: /functions/runtimes must match before /functions/{functionId}.
ROUTE_MODULES = (health, account, users, teams, transactions, databases, rows, storage, deploy, functions)


@dataclass
class Settings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    project_id: str = "rx-local"
    local_control: bool = False
    appwrite_json: Path | None = None
    allowed_hostnames: tuple[str, ...] = ("localhost",)  # the web platforms (cors.py)
    build_cache: Path | None = None  # where built function environments are kept (builds.py; shared by servers)
    access_log: bool = False  # a line per request and per execution on stdout (console.py)
    functions_domain: str = "functions.localhost"  # `<function-id>.<this>` reaches the function (domains.py)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/v1"


class Services:
    """Everything a handler can reach through `ctx.services`; one instance per server."""

    def __init__(self, settings: Settings):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.clock = Clock()
        self.db = Database(settings.data_dir / "appwrite.sqlite")
        system.bootstrap(self.db)
        with self.db.write() as conn:
            secret = system.meta_get(conn, "signing_secret")
            if secret is None:
                secret = os.urandom(32).hex()
                system.meta_set(conn, "signing_secret", secret)
            project = system.meta_get(conn, "project_id")
            if project is None:
                system.meta_set(conn, "project_id", settings.project_id)
                project = settings.project_id
        self.project_id = project
        self.catalog = Catalog(self.db, self.clock)
        self.identity = Identity(self.db, self.clock, secret)
        self.keys = auth.Keys(self.db, self.clock, secret, self.project_id)
        self.admin_key = self.keys.ensure_admin_key()
        self.files = FileStore(settings.data_dir / "storage")
        self.rows = Rows(self.clock, "$tableId")
        self.rows_legacy = Rows(self.clock, "$collectionId")
        self.events = EventBus()
        self.limiter = RateLimiter(self.clock)
        self.origins = OriginPolicy(settings.allowed_hostnames)
        self.console = Console(settings.access_log, self)
        self.functions = FunctionRegistry(self.db, self.clock)
        self.function_problems: list[str] = []
        self.deployments = Deployments(self, Builder(settings.build_cache))
        if settings.appwrite_json is not None:
            _, specs, self.function_problems = load_appwrite_json(settings.appwrite_json)
            self.functions.register(specs)
            for problem in self.function_problems:
                log.error("appwrite.json: %s (function not registered)", problem)
            for spec in specs:  # each built in an environment of its own, in the background
                self.deployments.from_source(spec, spec.ignore)
        self.deployments.recover()
        self.executor = Executor(self)
        self.scheduler = Scheduler(self)
        self.events.listen(event_trigger(self))
        self.realtime = Realtime(self)
        self.events.listen(self.realtime.on_event)

    def start(self) -> None:
        """Called on the event loop once the server is up."""
        self.executor.loop = self.realtime.loop = asyncio.get_running_loop()
        self.executor.recover()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.deployments.shutdown()
        self.executor.shutdown()
        self.close()

    def credentials(self) -> dict[str, str]:
        return {"endpoint": self.settings.endpoint, "projectId": self.project_id, "apiKey": self.admin_key}

    def close(self) -> None:
        self.db.close()


def error_response(error: AppwriteError) -> Response:
    headers = {"Cache-Control": "no-cache, no-store, must-revalidate", **error.headers}
    return Response(orjson.dumps(error.to_json()), error.code, headers=headers, media_type="application/json")


def _body_too_large() -> AppwriteError:
    return AppwriteError("general_argument_invalid", f"Request body is larger than {MAX_BODY_BYTES} bytes.")


def capped_receive(receive: Any, limit: int = MAX_BODY_BYTES) -> Any:
    """The request's `receive`, refusing the body once it passes `limit` bytes.

    A body sent without Content-Length (chunked) is otherwise only measured after it has been read whole, so
    a client could make the server hold any amount in memory; this stops reading at the limit instead.
    """
    seen = 0

    async def receive_capped() -> dict[str, Any]:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _body_too_large()
        return message

    return receive_capped


async def _read_form(request: Request) -> Any:
    try:
        return await request.form(max_files=10, max_fields=1000, max_part_size=MAX_BODY_BYTES)
    except AppwriteError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the parser disliked, the client sent it
        # No boundary, a broken part, too many fields: all the client's doing, so 400, never 500.
        raise AppwriteError("general_argument_invalid", f"Invalid multipart/form-data body: {exc}") from None


async def _read_params(request: Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    # From the scope, not `request.url.query`: building Starlette's URL cost about 6 % of a signed-in get.
    params = parse_query_string(request.scope.get("query_string", b"").decode("utf-8", "replace"))
    files: dict[str, UploadedFile] = {}
    if request.method in ("GET", "HEAD"):
        return params, files
    ctype = request.headers.get("content-type", "")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise _body_too_large()
    if ctype.startswith("multipart/form-data"):
        form = await _read_form(request)
        pairs = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[key] = UploadedFile(value.filename or "", value.content_type or "", await value.read())
            else:
                pairs.append((key, value))
        await form.close()
        params.update(parse_php_params(pairs))
        return params, files
    body = await request.body()
    if not body.strip():
        return params, files
    if ctype.startswith("application/x-www-form-urlencoded"):
        params.update(parse_php_params(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
        return params, files
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise AppwriteError("general_bad_request", "Request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise AppwriteError("general_bad_request", "Request body must be a JSON object.")
    params.update(data)
    return params, files


def _abuse_key(template: str, ctx: Ctx, spec: RouteSpec) -> str:
    key = template.replace("{url}", spec.path).replace("{ip}", ctx.ip)
    if "{param-email}" in key:
        key = key.replace("{param-email}", str(ctx.params.get("email", "")).lower())
    return spec.method + ":" + key


def _prepare(spec: RouteSpec, ctx: Ctx, services: Services) -> tuple[str, str, str] | None:
    """Identify the caller, check the scope and the abuse limit; returns the rate-limit headers."""
    if spec.needs_project:
        ctx.principal = auth.resolve(ctx.headers, ctx.cookies, services.project_id, services.identity, services.keys)
    if spec.scope:
        ctx.principal.require_scope(spec.scope, services.project_id)
    limits: tuple[str, str, str] | None = None
    if spec.abuse and not ctx.principal.is_key:
        template, limit, seconds = spec.abuse
        limit_, remaining, reset = services.limiter.hit(_abuse_key(template, ctx, spec), limit, seconds)
        limits = (str(limit_), str(remaining), str(reset))
    return limits


def _with_limits(response: Response, limits: tuple[str, str, str] | None) -> Response:
    if limits:
        (
            response.headers["X-RateLimit-Limit"],
            response.headers["X-RateLimit-Remaining"],
            response.headers["X-RateLimit-Reset"],
        ) = limits
    return response


def _run(spec: RouteSpec, ctx: Ctx, services: Services) -> Response:
    limits = _prepare(spec, ctx, services)
    return _with_limits(spec.handler(ctx), limits)


def _who(principal: auth.Principal) -> str:
    return {"key": "key", "user": f"user:{principal.user_id}"}.get(principal.kind, "guest")


def make_endpoint(spec: RouteSpec, services: Services):
    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        seen: list[Ctx | None] = [None]
        response = await handle(request, seen)
        if services.console.enabled:
            who = _who(seen[0].principal) if seen[0] is not None else "-"
            services.console.request(request.method, request.url.path, response.status_code, started, who)
        return response

    async def handle(request: Request, seen: list[Ctx | None]) -> Response:
        request = Request(request.scope, capped_receive(request.receive))
        try:
            headers = dict(request.headers)
            if services.origins.csrf_refuses(request.method, headers):
                raise AppwriteError("general_unknown_origin")
            params, files = await _read_params(request)
            if spec.needs_project:
                project = headers.get("x-appwrite-project") or params.get("project") or ""
                if project != services.project_id:
                    raise AppwriteError("project_not_found")
            ctx = Ctx(
                method=request.method,
                path=request.scope["path"],
                params=params,
                path_params=dict(request.path_params),
                headers=headers,
                cookies=dict(request.cookies),
                ip=request.client.host if request.client else "",
                principal=auth.GUEST,
                services=services,
                files=files,
            )
            seen[0] = ctx  # its principal is known once _prepare has run
            if inspect.iscoroutinefunction(spec.handler):
                limits = _prepare(spec, ctx, services)
                return _with_limits(await spec.handler(ctx), limits)
            if request.method == "GET" or spec.inline:
                # Reads, and single-row writes, take microseconds in SQLite: a thread hop would cost more than
                # the work, so they run on the event loop. Anything slow (bulk writes, password hashing, file
                # uploads, transaction commits) goes to the thread pool.
                return _run(spec, ctx, services)
            return await run_in_threadpool(_run, spec, ctx, services)
        except AppwriteError as error:
            return error_response(legacy_error(error) if spec.legacy else error)
        except Exception:  # noqa: BLE001 - the client gets Appwrite's 500 shape; the trace goes to the log
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return error_response(AppwriteError("general_unknown"))

    return endpoint


async def not_found(request: Request) -> Response:
    return error_response(AppwriteError("general_route_not_found"))


def build_app(settings: Settings, services: Services | None = None) -> FunctionDomains:
    services = services or Services(settings)
    router = Router(not_found, services.start, services.stop)
    for module in ROUTE_MODULES:
        for spec in module.routes.routes:
            router.add(spec.method, "/v1" + spec.path, make_endpoint(spec, services))
    router.websockets["/v1/realtime"] = services.realtime
    if settings.local_control:
        for spec in local.routes.routes:
            router.add(spec.method, "/_local" + spec.path, make_endpoint(spec, services))
    # Function domains sit outside CORS: the function answers its own requests, CORS headers included.
    app = FunctionDomains(Cors(router, services.origins), services, settings.functions_domain)
    app.services = services  # type: ignore[attr-defined]
    return app


def write_credentials(services: Services) -> Path:
    path = services.settings.data_dir / "credentials.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(services.credentials(), indent=2) + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path
