"""Functions: their definitions (from appwrite.json), variables, and execution records.

A function is either declared in `appwrite.json` (the CLI's `functions[]` entries; registered at start-up) or
created through the Functions API (as `appwrite push functions` does). Either way its code runs from a built
deployment (deployments.py). Invalid appwrite.json entries are reported with the reason and left out; the
server keeps running.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from croniter import croniter

from .clock import Clock, format_datetime
from .db import Database
from .ids import is_valid_key

RUNTIME_PREFIX = "python-"
MAX_TIMEOUT = 900
EXECUTION_COLUMNS = (
    "seq, id, function_id, deployment_id, trigger, status, request_method, request_path,"
    " request_headers, response_status, response_body, response_headers, logs, errors, duration,"
    " scheduled_at, permissions, created, updated"
)


class FunctionConfigError(ValueError):
    """An appwrite.json function entry that cannot be registered; the message names the field."""


@dataclass
class FunctionSpec:
    id: str
    name: str
    runtime: str
    path: str  # absolute folder that becomes the runtime's `function` package
    entrypoint: str  # relative to path
    execute: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    schedule: str = ""
    timeout: int = 15
    enabled: bool = True
    logging: bool = True
    scopes: list[str] = field(default_factory=list)
    vars: dict[str, str] = field(default_factory=dict)
    commands: str = ""
    ignore: list[str] | None = None  # appwrite.json's `ignore` (gitignore patterns); None: the folder's .gitignore
    deployment: str = ""  # the active deployment ("" until one is built)
    source: str = "appwrite.json"  # or "api": created through the Functions API (the CLI's push)

    @property
    def runtime_version(self) -> str:
        return self.runtime[len(RUNTIME_PREFIX) :] if self.runtime.startswith(RUNTIME_PREFIX) else self.runtime

    def to_json(self, created: str, updated: str) -> dict[str, Any]:
        return {
            "$id": self.id,
            "$createdAt": created,
            "$updatedAt": updated,
            "execute": self.execute,
            "name": self.name,
            "description": "",
            "enabled": self.enabled,
            "live": True,
            "logging": self.logging,
            "runtime": self.runtime,
            "deploymentRetention": 0,
            "deploymentId": self.deployment,
            "deploymentCreatedAt": created if self.deployment else "",
            "latestDeploymentId": self.deployment,
            "latestDeploymentCreatedAt": created if self.deployment else "",
            "latestDeploymentStatus": "ready" if self.deployment else "",
            "scopes": self.scopes,
            "vars": [],
            "events": self.events,
            "schedule": self.schedule,
            "timeout": self.timeout,
            "entrypoint": self.entrypoint,
            "commands": self.commands,
            "version": "v5",
            "installationId": "",
            "providerRepositoryId": "",
            "providerBranch": "",
            "providerRootDirectory": "",
            "providerSilentMode": False,
            "providerBranches": [],
            "providerPaths": [],
            "buildSpecification": "s-1vcpu-512mb",
            "runtimeSpecification": "s-1vcpu-512mb",
            "specification": "s-1vcpu-512mb",
            "emailEnabled": False,
        }


def spec_from_config(entry: dict[str, Any], base_dir: Path) -> FunctionSpec:
    """Validate one appwrite.json `functions[]` entry. Raises FunctionConfigError with a precise reason."""
    fid = entry.get("$id")
    if not is_valid_key(fid):
        raise FunctionConfigError(f"function $id {fid!r} is not a valid ID")
    runtime = entry.get("runtime", "")
    if not isinstance(runtime, str) or not runtime.startswith(RUNTIME_PREFIX):
        raise FunctionConfigError(f"function {fid}: runtime {runtime!r} is not a Python runtime (python-3.x)")
    path = (base_dir / str(entry.get("path", "."))).resolve()
    entrypoint = entry.get("entrypoint", "")
    if not isinstance(entrypoint, str) or not entrypoint.endswith(".py") or ".." in Path(entrypoint).parts:
        raise FunctionConfigError(f"function {fid}: entrypoint {entrypoint!r} must be a .py file inside path")
    if not (path / entrypoint).is_file():
        raise FunctionConfigError(f"function {fid}: entrypoint {path / entrypoint} does not exist")
    schedule = entry.get("schedule") or ""
    if schedule and not croniter.is_valid(schedule):
        raise FunctionConfigError(f"function {fid}: schedule {schedule!r} is not a valid cron expression")
    events = list(entry.get("events") or [])
    for event in events:
        if not isinstance(event, str) or event.startswith("functions."):
            raise FunctionConfigError(
                f"function {fid}: event {event!r} is not allowed "
                "(triggering a function on a function event is not allowed)"
            )
    timeout = entry.get("timeout", 15)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= MAX_TIMEOUT:
        raise FunctionConfigError(f"function {fid}: timeout {timeout!r} must be 1..{MAX_TIMEOUT} seconds")
    execute = list(entry.get("execute") or [])
    variables = entry.get("vars") or {}
    if isinstance(variables, list):  # the CLI writes [{"key":..., "value":...}]
        variables = {v["key"]: v.get("value", "") for v in variables if isinstance(v, dict) and "key" in v}
    return FunctionSpec(
        id=fid,
        name=str(entry.get("name") or fid),
        runtime=runtime,
        path=str(path),
        entrypoint=entrypoint,
        execute=execute,
        events=events,
        schedule=schedule,
        timeout=timeout,
        enabled=bool(entry.get("enabled", True)),
        logging=bool(entry.get("logging", True)),
        scopes=list(entry.get("scopes") or []),
        vars={str(k): str(v) for k, v in variables.items()},
        commands=str(entry.get("commands") or ""),
        ignore=list(entry["ignore"]) if isinstance(entry.get("ignore"), list) else None,
    )


def load_appwrite_json(path: Path) -> tuple[dict[str, Any], list[FunctionSpec], list[str]]:
    """(the whole document, valid functions, one message per invalid function)."""
    document = json.loads(path.read_text())
    specs, problems = [], []
    for entry in document.get("functions", []):
        try:
            specs.append(spec_from_config(entry, path.parent))
        except FunctionConfigError as exc:
            problems.append(str(exc))
    return document, specs, problems


def _stored_deployment(conn: sqlite3.Connection, function_id: str) -> str:
    row = conn.execute("SELECT spec FROM _functions WHERE id = ?", (function_id,)).fetchone()
    return json.loads(row[0]).get("deployment", "") if row else ""


def _upsert(conn: sqlite3.Connection, spec: FunctionSpec, now: str) -> None:
    conn.execute(
        "INSERT INTO _functions (id, spec, created, updated) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET spec = excluded.spec, updated = excluded.updated",
        (spec.id, json.dumps(spec.__dict__), now, now),
    )


class FunctionRegistry:
    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock
        self._specs: dict[str, tuple[FunctionSpec, str, str]] = {}
        with self.db.write() as conn:
            self._load(conn)

    def _load(self, conn: sqlite3.Connection) -> None:
        """Refresh the cache from inside the write that changed it: writes are serialised, so the cache is
        replaced in commit order (a reload that read before another commit cannot overwrite a newer one)."""
        rows = conn.execute("SELECT id, spec, created, updated FROM _functions").fetchall()
        self._specs = {r[0]: (FunctionSpec(**json.loads(r[1])), r[2], r[3]) for r in rows}

    def register(self, specs: list[FunctionSpec]) -> None:
        """Make the functions registered from appwrite.json equal to `specs` (functions created through the API,
        by the CLI's push, are left alone). Their deployments are made by deployments.py."""
        now = format_datetime(self.clock.now())
        with self.db.write() as conn:
            wanted = {s.id for s in specs}
            for fid, stored in conn.execute("SELECT id, spec FROM _functions").fetchall():
                if fid not in wanted and json.loads(stored).get("source", "appwrite.json") == "appwrite.json":
                    conn.execute("DELETE FROM _functions WHERE id = ?", (fid,))
            for spec in specs:  # keep the deployment it has: the new one is built, then activated
                _upsert(conn, replace(spec, deployment=_stored_deployment(conn, spec.id)), now)
                for key, value in spec.vars.items():
                    conn.execute(
                        "INSERT OR IGNORE INTO _variables (id, function_id, key, value, created, updated)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (f"{spec.id}-{key}"[:36], spec.id, key, value, now, now),
                    )
            self._load(conn)

    def save(self, spec: FunctionSpec) -> None:
        """Create or replace one function's settings (the Functions API). Its active deployment is the stored
        one: only `set_deployment` changes it, so an update racing a build's activation cannot undo it."""
        with self.db.write() as conn:
            _upsert(
                conn, replace(spec, deployment=_stored_deployment(conn, spec.id)), format_datetime(self.clock.now())
            )
            self._load(conn)

    def set_deployment(self, function_id: str, deployment_id: str) -> None:
        with self.db.write() as conn:
            row = conn.execute("SELECT spec FROM _functions WHERE id = ?", (function_id,)).fetchone()
            if row is None:
                return
            spec = FunctionSpec(**{**json.loads(row[0]), "deployment": deployment_id})
            _upsert(conn, spec, format_datetime(self.clock.now()))
            self._load(conn)

    def delete(self, function_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM _functions WHERE id = ?", (function_id,))
            conn.execute("DELETE FROM _variables WHERE function_id = ?", (function_id,))
            self._load(conn)

    def get(self, function_id: str) -> tuple[FunctionSpec, str, str] | None:
        return self._specs.get(function_id)

    def all(self) -> list[tuple[FunctionSpec, str, str]]:
        return list(self._specs.values())

    def secret_values(self, function_id: str) -> list[str]:
        rows = self.db.reader().execute(
            "SELECT value FROM _variables WHERE function_id = ? AND secret = 1", (function_id,)
        )
        return [r[0] for r in rows.fetchall() if r[0]]

    def variables(self, function_id: str, conn: sqlite3.Connection | None = None) -> dict[str, str]:
        conn = conn or self.db.reader()
        return dict(conn.execute("SELECT key, value FROM _variables WHERE function_id = ?", (function_id,)).fetchall())


def execution_json(row: tuple, with_logs: bool, with_body: bool = False) -> dict[str, Any]:
    (
        _,
        eid,
        function_id,
        deployment_id,
        trigger,
        status,
        method,
        path,
        request_headers,
        response_status,
        response_body,
        response_headers,
        logs,
        errors,
        duration,
        scheduled_at,
        permissions,
        created,
        updated,
    ) = row
    return {
        "$id": eid,
        "$createdAt": created,
        "$updatedAt": updated,
        "$permissions": json.loads(permissions),
        "functionId": function_id,
        "resourceId": function_id,
        "resourceType": "functions",
        "deploymentId": deployment_id,
        "trigger": trigger,
        "status": status,
        "requestMethod": method,
        "requestPath": path,
        "requestHeaders": json.loads(request_headers),
        "responseStatusCode": response_status,
        "responseBody": response_body if with_body else "",
        "responseHeaders": json.loads(response_headers),
        "logs": logs if with_logs else "",
        "errors": errors if with_logs else "",
        "duration": duration,
        "scheduledAt": scheduled_at,
    }
