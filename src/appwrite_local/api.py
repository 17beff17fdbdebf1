"""The HTTP glue every route module uses: parameters as Appwrite reads them, the caller, responses.

Handlers are plain functions `handler(ctx) -> Response` registered on a `RouteTable` with the scope
they need. They run in a worker thread (SQLite calls block), after the request body has been read on the
event loop. Errors are `AppwriteError`s; `app.py` renders them.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.responses import Response

from .auth import Principal
from .errors import AppwriteError, invalid_argument, missing_argument
from .ids import custom_id, uid
from .listing import list_resources

_MISSING = object()
MAX_PARAM_NESTING = 64  # PHP's max_input_nesting_level: `a[b][c]...` deeper than this is refused
_BRACKETS = re.compile(r"\[([^\]]*)\]")


# --- parameters ----------------------------------------------------------------------------------------------------
def parse_php_params(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`queries[0]=a&queries[1]=b&x[k]=v&y[]=1` -> {"queries": ["a", "b"], "x": {"k": "v"}, "y": ["1"]}."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        first = key.find("[")
        if first <= 0:
            out[key] = value
            continue
        parts = [key[:first], *_BRACKETS.findall(key[first:])]
        if len(parts) > MAX_PARAM_NESTING:
            raise invalid_argument(key[:first], f"Value may nest at most {MAX_PARAM_NESTING} levels deep")
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if part == "" or last:
                    if last:
                        node.append(value)
                        break
                    node.append({})
                    node = node[-1]
                    continue
            nxt_is_list = not last and parts[i + 1] == ""
            if last:
                node[part] = value
            else:
                if part not in node or not isinstance(node[part], (dict, list)):
                    node[part] = [] if nxt_is_list else {}
                node = node[part]
    return {k: _lists_from_indexed(v) for k, v in out.items()}


def _lists_from_indexed(value: Any) -> Any:
    """A dict whose keys are all indices becomes a list in index order."""
    if isinstance(value, dict):
        converted = {k: _lists_from_indexed(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    if isinstance(value, list):
        return [_lists_from_indexed(v) for v in value]
    return value


def parse_query_string(query_string: str) -> dict[str, Any]:
    return parse_php_params(parse_qsl(query_string, keep_blank_values=True))


@dataclass
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Ctx:
    method: str
    path: str
    params: dict[str, Any]
    path_params: dict[str, str]
    headers: dict[str, str]
    cookies: dict[str, str]
    ip: str
    principal: Principal
    services: Any
    files: dict[str, UploadedFile] = field(default_factory=dict)
    response_headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def project_id(self) -> str:
        return self.services.project_id

    def p(self, name: str) -> str:
        """A path parameter."""
        return self.path_params[name]

    def has(self, name: str) -> bool:
        return self.params.get(name) is not None

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        value = self.params.get(name)
        if value is None:
            if default is _MISSING:
                raise missing_argument(name)
            return default
        return value

    def text(self, name: str, default: Any = _MISSING, max_len: int | None = None, min_len: int = 0) -> Any:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str) or len(value) < min_len or (max_len is not None and len(value) > max_len):
            bound = f" and no longer than {max_len} chars" if max_len else ""
            least = f" and at least {min_len} chars" if min_len else ""
            raise invalid_argument(name, f"Value must be a valid string{least}{bound}")
        return value

    def boolean(self, name: str, default: Any = _MISSING) -> Any:
        value = self.raw(name, default)
        if isinstance(value, bool) or (value is default and default is not _MISSING):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
            return value.lower() in ("true", "1")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise invalid_argument(name, "Value must be a valid boolean")

    def integer(self, name: str, default: Any = _MISSING, low: int | None = None, high: int | None = None) -> Any:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            if low is not None and high is not None:
                raise invalid_argument(name, f"Value must be a valid range between {low:,} and {high:,}")
            raise invalid_argument(name, "Value must be a valid integer")
        return value

    def number(self, name: str, default: Any = _MISSING) -> Any:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, str):
            try:
                value = float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid_argument(name, "Value must be a valid number")
        return value

    def array(self, name: str, default: Any = _MISSING, max_items: int = 100) -> Any:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, dict) and not value:
            value = []
        if not isinstance(value, list) or len(value) > max_items:
            raise invalid_argument(name, f"Value must a valid array no longer than {max_items} items")
        return value

    def obj(self, name: str, default: Any = _MISSING) -> Any:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise invalid_argument(name, "Value must be a valid object.") from None
        if isinstance(value, list) and not value:
            value = {}
        if not isinstance(value, dict):
            raise invalid_argument(name, "Value must be a valid object.")
        return value

    def list_rows_of(self, spec: Any, search_sql: str | None = None) -> tuple[list[tuple], int]:
        """A list endpoint's page: the `queries`, `total` and (where the endpoint has one) `search` params."""
        search = self.text("search", None, 256) if search_sql else None
        return list_resources(
            self.services.db.reader(), spec, self.raw("queries", []), self.boolean("total", True), search, search_sql
        )

    def new_id(self, name: str) -> str:
        return custom_id(self.raw(name), name)

    def ref_id(self, name: str) -> str:
        return uid(self.raw(name), name)


# --- responses -----------------------------------------------------------------------------------------------------
def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers=headers, media_type="application/json")


def no_content() -> Response:
    # The Python SDK reads Content-Type on every response, 204 included (appwrite-api.md section 0.3).
    return Response(b"", 204, media_type="text/html; charset=UTF-8")


def list_response(plural: str, items: list[Any], total: int) -> Response:
    return json_response({"total": total, plural: items})


# --- routes --------------------------------------------------------------------------------------------------------
@dataclass
class RouteSpec:
    method: str
    path: str
    handler: Callable[[Ctx], Response]
    scope: str | None
    legacy: bool = False
    needs_project: bool = True
    abuse: tuple[str, int, int] | None = None  # (key template, limit, seconds)
    inline: bool = False  # run on the event loop: short single-row SQLite work (see app.make_endpoint)


class RouteTable:
    def __init__(self) -> None:
        self.routes: list[RouteSpec] = []

    def add(
        self, method: str, path: str, handler: Callable[[Ctx], Response], scope: str | None, **options: Any
    ) -> None:
        self.routes.append(RouteSpec(method, path, handler, scope, **options))

    def route(self, method: str, path: str, scope: str | None, **options: Any):
        def decorate(handler: Callable[[Ctx], Response]) -> Callable[[Ctx], Response]:
            self.add(method, path, handler, scope, **options)
            return handler

        return decorate


# --- abuse limits --------------------------------------------------------------------------------------------------
class RateLimiter:
    """Fixed windows per key, in process memory (one server process), on the server's clock."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self._hits: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, seconds: int) -> tuple[int, int, int]:
        """Count one request; returns (limit, remaining, reset epoch) or raises 429."""
        now = int(self.clock.timestamp())
        window = now - now % seconds
        with self._lock:
            start, count = self._hits.get(key, (window, 0))
            if start != window:
                start, count = window, 0
            count += 1
            self._hits[key] = (start, count)
            if len(self._hits) > 100_000:
                self._hits = {k: v for k, v in self._hits.items() if v[0] == window}
        reset = start + seconds
        if count > limit:
            raise AppwriteError(
                "general_rate_limit_exceeded",
                headers={
                    "X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                },
            )
        return limit, limit - count, reset


def monotonic_ms() -> float:
    return time.perf_counter() * 1000
