"""Runs function executions in worker processes that speak the open-runtimes v5 contract.

Each function has a pool of up to `MAX_WORKERS` processes (`runtime/worker.py`), started on demand and
kept warm; each serves one execution at a time, so several executions of one function run at once.
A run past the function's timeout kills its worker; a worker that dies is dropped and replaced by the next
execution. Nothing a function does can take the server down: it is another process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import permissions as perms
from .clock import format_datetime
from .deployments import Runnable
from .errors import APPWRITE_VERSION, AppwriteError
from .functions import EXECUTION_COLUMNS, FunctionSpec, execution_json
from .ids import unique_id

log = logging.getLogger("appwrite_local.executor")

MAX_WORKERS = 8
SYNC_LIMIT_SECONDS = 30
COLD_START_LIMIT = 20.0
REQUEST_HEADER_ALLOWLIST = {"content-type", "agent", "content-length", "host", "x-appwrite-client-ip"}
RESPONSE_HEADER_ALLOWLIST = {"content-type", "content-length"}
LOG_LIMIT = 1_000_000
WORKER_SCRIPT = Path(__file__).resolve().parent / "runtime" / "worker.py"


@dataclass
class Outcome:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    logs: str
    errors: str
    duration: float
    timed_out: bool = False
    streamed: int = 0  # characters of the logs already shown on the console while it ran


class Worker:
    def __init__(self, process: asyncio.subprocess.Process, port: int):
        self.process = process
        self.port = port

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def kill(self) -> None:
        if self.alive:
            self.process.kill()


class Pool:
    """The warm workers of one function."""

    def __init__(self, executor: Executor, spec: FunctionSpec):
        self.executor = executor
        self.spec = spec
        self.idle: list[Worker] = []
        self.count = 0
        self.available = asyncio.Condition()

    async def acquire(self) -> Worker:
        async with self.available:
            while True:
                while self.idle:
                    worker = self.idle.pop()
                    if worker.alive:
                        return worker
                    self.count -= 1
                if self.count < MAX_WORKERS:
                    self.count += 1
                    break
                await self.available.wait()
        try:
            return await self.executor.spawn(self.spec)
        except BaseException:
            async with self.available:
                self.count -= 1
                self.available.notify()
            raise

    async def release(self, worker: Worker, healthy: bool) -> None:
        async with self.available:
            if healthy and worker.alive:
                self.idle.append(worker)
            else:
                worker.kill()
                self.count -= 1
            self.available.notify()

    def close(self) -> None:
        for worker in self.idle:
            worker.kill()
        self.idle.clear()


INTERRUPTED = "Execution interrupted: the server stopped while it was running; it was not run again.\n"


class Executor:
    def __init__(self, services: Any):
        self.services = services
        self.pools: dict[str, Pool] = {}
        self.runtime_root = services.settings.data_dir / "runtime"
        self.logs_dir = self.runtime_root / "logs"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.secret = secrets.token_hex(16)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: set[asyncio.Task] = set()
        self.all_workers: set[Worker] = set()

    # --- workers ---------------------------------------------------------------------------------------------------
    def _environment(self, spec: FunctionSpec, runnable: Runnable) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("APPWRITE_LOCAL_", "PYTHONPATH", "OPEN_RUNTIMES_", "APPWRITE_FUNCTION_"))
        }
        env.update(self.services.functions.variables(spec.id))
        services = self.services
        env.update(
            {
                "APPWRITE_FUNCTION_API_ENDPOINT": services.settings.endpoint,
                "APPWRITE_FUNCTION_ID": spec.id,
                "APPWRITE_FUNCTION_NAME": spec.name,
                "APPWRITE_FUNCTION_DEPLOYMENT": runnable.deployment_id,
                "APPWRITE_FUNCTION_PROJECT_ID": services.project_id,
                "APPWRITE_FUNCTION_RUNTIME_NAME": "Python",
                "APPWRITE_FUNCTION_RUNTIME_VERSION": spec.runtime_version,
                "APPWRITE_FUNCTION_CPUS": "1",
                "APPWRITE_FUNCTION_MEMORY": "512",
                "APPWRITE_VERSION": APPWRITE_VERSION,
                "APPWRITE_REGION": "default",
                "APPWRITE_DEPLOYMENT_TYPE": "manual",
                "OPEN_RUNTIMES_SECRET": self.secret,
                "OPEN_RUNTIMES_ENTRYPOINT": runnable.entrypoint,
                "OPEN_RUNTIMES_ENV": "production",
                "OPEN_RUNTIMES_HEADERS": "{}",
                "OPEN_RUNTIMES_CPUS": "1",
                "OPEN_RUNTIMES_CODE_ROOT": str(runnable.code_root),
                "OPEN_RUNTIMES_LOGS_DIR": str(self.logs_dir),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "APPWRITE_LOCAL_CLOCK": "1",  # tells rxcore.clock to trust x-appwrite-local-clock-offset
            }
        )
        return env

    async def spawn(self, spec: FunctionSpec) -> Worker:
        """A worker of the function's active deployment: its built environment's Python, its code."""
        runnable = await asyncio.to_thread(self.services.deployments.runnable, spec)
        process = await asyncio.create_subprocess_exec(
            runnable.python,
            str(WORKER_SCRIPT),
            env=self._environment(spec, runnable),
            cwd=str(runnable.code_root),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            line = await asyncio.wait_for(process.stdout.readline(), COLD_START_LIMIT)  # type: ignore[union-attr]
            port = int(line.strip())
        except (TimeoutError, ValueError):
            process.kill()
            raise RuntimeError(f"worker for {spec.id} did not start") from None
        worker = Worker(process, port)
        self.all_workers.add(worker)
        return worker

    def pool(self, spec: FunctionSpec) -> Pool:
        pool = self.pools.get(spec.id)
        if pool is None or pool.spec != spec:
            if pool is not None:
                pool.close()
            pool = self.pools[spec.id] = Pool(self, spec)
        return pool

    def reset(self, function_id: str) -> None:
        """Drop warm workers (after a variable changes, so the next run sees the new environment)."""
        pool = self.pools.pop(function_id, None)
        if pool is not None:
            pool.close()

    def shutdown(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for worker in list(self.all_workers):
            worker.kill()

    # --- one run ---------------------------------------------------------------------------------------------------
    async def invoke(
        self, spec: FunctionSpec, method: str, path: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> Outcome:
        started = time.perf_counter()
        log_id = unique_id()
        pool = self.pool(spec)
        try:
            worker = await pool.acquire()
        except RuntimeError as exc:
            return Outcome(500, [], b"", "", str(exc), time.perf_counter() - started)
        except AppwriteError as exc:  # no deployment, or its build failed
            return Outcome(500, [], b"", "", exc.message + "\n", time.perf_counter() - started)
        healthy = False
        shown = [0]
        console = self.services.console
        tail = (
            asyncio.ensure_future(console.tail(spec.id, self.logs_dir / f"{log_id}_logs.log", shown))
            if console.enabled
            else None
        )
        try:
            status, response_headers, response_body = await asyncio.wait_for(
                self._http(
                    worker.port,
                    method,
                    path,
                    {
                        **headers,
                        "x-open-runtimes-secret": self.secret,
                        "x-open-runtimes-timeout": str(int(timeout)),
                        "x-open-runtimes-logging": "enabled" if spec.logging else "disabled",
                        "x-open-runtimes-log-id": log_id,
                    },
                    body,
                ),
                timeout,
            )
            healthy = True
        except TimeoutError:
            return Outcome(
                500,
                [],
                b"",
                self._read_log(log_id, "logs"),
                self._read_log(log_id, "errors") + "Execution timed out.",
                time.perf_counter() - started,
                timed_out=True,
            )
        except (OSError, asyncio.IncompleteReadError, ValueError):
            await asyncio.sleep(0.05)  # let the dead process be reaped for its exit code
            code = worker.process.returncode
            return Outcome(
                500,
                [],
                b"",
                self._read_log(log_id, "logs"),
                f"The function's worker process exited unexpectedly (exit code {code}).",
                time.perf_counter() - started,
            )
        finally:
            if tail is not None:
                tail.cancel()
            await pool.release(worker, healthy)
        kept = [(k, v) for k, v in response_headers if not k.startswith("x-open-runtimes-")]
        return Outcome(
            status,
            kept,
            response_body,
            self._read_log(log_id, "logs"),
            self._read_log(log_id, "errors"),
            time.perf_counter() - started,
            streamed=shown[0],
        )

    def _read_log(self, log_id: str, kind: str) -> str:
        path = self.logs_dir / f"{log_id}_{kind}.log"
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        path.unlink(missing_ok=True)
        if len(text) > LOG_LIMIT:
            text = "[WARNING] Logs truncated. The output exceeded 1000000 characters.\n" + text[-LOG_LIMIT:]
        return text

    @staticmethod
    async def _http(
        port: int, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            lines = [
                f"{method} {path} HTTP/1.1",
                f"host: {headers.get('host') or f'127.0.0.1:{port}'}",  # a function domain's request keeps its host
                "connection: close",
                f"content-length: {len(body)}",
            ]
            lines += [
                f"{k}: {v}"
                for k, v in headers.items()
                if k.lower() not in ("host", "connection", "content-length") and "\n" not in f"{k}{v}"
            ]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionResetError("worker closed the connection")
            status = int(status_line.split()[1])
            response_headers: list[tuple[str, str]] = []
            length = 0
            while True:
                line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
                if not line:
                    break
                key, _, value = line.partition(":")
                key, value = key.strip().lower(), value.strip()
                response_headers.append((key, value))
                if key == "content-length":
                    length = int(value)
            data = await reader.readexactly(length) if length else b""
            return status, response_headers, data
        finally:
            writer.close()

    # --- executions ------------------------------------------------------------------------------------------------
    def create_record(
        self,
        spec: FunctionSpec,
        trigger: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        status: str,
        user_id: str = "",
        session_id: str = "",
        event: str = "",
        client_ip: str = "",
        scheduled_at: str | None = None,
    ) -> str:
        now = format_datetime(self.services.clock.now())
        execution_id = unique_id()
        shown = [{"name": k, "value": v} for k, v in headers.items() if k.lower() in REQUEST_HEADER_ALLOWLIST]
        permissions = [f'read("user:{user_id}")'] if user_id else []
        with self.services.db.write() as conn:
            conn.execute(
                "INSERT INTO _executions (id, function_id, deployment_id, trigger, status, request_method,"
                " request_path, request_headers, request_body, call_headers, scheduled_at, permissions, user_id,"
                " session_id, event, client_ip, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    execution_id,
                    spec.id,
                    spec.deployment,
                    trigger,
                    status,
                    method,
                    path,
                    json.dumps(shown),
                    body,
                    json.dumps(headers),
                    scheduled_at,
                    json.dumps(permissions),
                    user_id,
                    session_id,
                    event,
                    client_ip,
                    now,
                    now,
                ),
            )
        return execution_id

    def get_record(self, execution_id: str) -> tuple | None:
        return (
            self.services.db.reader()
            .execute(f"SELECT {EXECUTION_COLUMNS} FROM _executions WHERE id = ?", (execution_id,))
            .fetchone()
        )

    def _set(self, execution_id: str, **fields: Any) -> None:
        fields["updated"] = format_datetime(self.services.clock.now())
        self.services.db.update_by_id("_executions", execution_id, fields)

    async def run(self, execution_id: str, sync: bool = False) -> tuple[Outcome, tuple]:
        """Run a stored execution now and store its outcome."""
        row = (
            self.services.db.reader()
            .execute(
                "SELECT function_id, trigger, request_method, request_path, request_body, call_headers, user_id,"
                " session_id, event, client_ip FROM _executions WHERE id = ?",
                (execution_id,),
            )
            .fetchone()
        )
        function_id, trigger, method, path, body, call_headers, user_id, session_id, event, client_ip = row
        found = self.services.functions.get(function_id)
        if found is None:
            outcome = Outcome(500, [], b"", "", "Function not found.", 0.0)
        else:
            spec = found[0]
            self._set(execution_id, status="processing")
            headers = self._headers(
                spec, json.loads(call_headers), trigger, execution_id, user_id, session_id, event, client_ip
            )
            timeout = min(spec.timeout, SYNC_LIMIT_SECONDS) if sync else spec.timeout
            outcome = await self.invoke(spec, method, path, headers, body or b"", timeout)
        self.services.console.execution(function_id, execution_id, trigger, outcome, outcome.streamed)
        kept_headers = [{"name": k, "value": v} for k, v in outcome.headers if k in RESPONSE_HEADER_ALLOWLIST]
        self._set(
            execution_id,
            status="completed" if outcome.status < 500 else "failed",
            response_status=outcome.status,
            response_body=outcome.body.decode("utf-8", "replace"),
            response_headers=json.dumps(kept_headers),
            logs=outcome.logs,
            errors=outcome.errors,
            duration=round(outcome.duration, 4),
        )
        record = self.get_record(execution_id)
        payload = execution_json(record, with_logs=False)
        readers = frozenset(perms.roles_for(payload["$permissions"], "read"))
        self.services.events.emit(f"functions.{function_id}.executions.{execution_id}.update", payload, readers)
        return outcome, record  # type: ignore[return-value]

    def _headers(
        self,
        spec: FunctionSpec,
        user_headers: dict[str, str],
        trigger: str,
        execution_id: str,
        user_id: str,
        session_id: str,
        event: str,
        client_ip: str,
    ) -> dict[str, str]:
        lifetime = spec.timeout + 60
        services = self.services
        jwt = services.identity.create_jwt(user_id, session_id, lifetime) if user_id else ""
        return {
            **{k.lower(): v for k, v in user_headers.items()},
            "x-appwrite-trigger": trigger,
            "x-appwrite-event": event,
            "x-appwrite-user-id": user_id,
            "x-appwrite-user-jwt": jwt,
            "x-appwrite-key": services.keys.create_ephemeral(spec.scopes, lifetime),
            "x-appwrite-execution-id": execution_id,
            "x-appwrite-client-ip": client_ip,
            "x-appwrite-country-code": "",
            "x-appwrite-continent-code": "",
            "x-appwrite-continent-eu": "false",
            # Local only: how far the server's clock has been moved, so functions can follow it (rxcore.clock).
            "x-appwrite-local-clock-offset": f"{services.clock.offset_seconds():.3f}",
        }

    def recover(self) -> tuple[int, int]:
        """At start-up, settle the executions a previous run of the server left unfinished.

        Appwrite keeps accepted asynchronous executions in its queue until a worker takes them, so those that were
        still `waiting` run now. One that was `processing` when the server died may have done part of its work;
        running it again could do that part twice, so it is marked `failed` with the reason (as a worker crash
        would leave it in Appwrite, except that there it stays `processing`), and clients, schedules and retries
        move on. Returns (failed, requeued)."""
        now = format_datetime(self.services.clock.now())
        with self.services.db.write() as conn:
            failed = conn.execute(
                "UPDATE _executions SET status = 'failed', response_status = 500, errors = errors || ?, updated = ?"
                " WHERE status = 'processing'",
                (INTERRUPTED, now),
            ).rowcount
            waiting = [r[0] for r in conn.execute("SELECT id FROM _executions WHERE status = 'waiting' ORDER BY seq")]
        for execution_id in waiting:
            self.run_in_background(execution_id)
        if failed or waiting:
            log.warning("executions left by the last run: %d marked failed, %d queued again", failed, len(waiting))
        return failed, len(waiting)

    def run_in_background(self, execution_id: str) -> None:
        """Queue an async execution; safe to call from any thread."""

        def start() -> None:
            task = asyncio.ensure_future(self.run(execution_id))
            self.tasks.add(task)
            task.add_done_callback(self._finished)

        if self.loop is None:
            raise RuntimeError("executor not started")
        self.loop.call_soon_threadsafe(start)

    def _finished(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background execution failed", exc_info=task.exception())
