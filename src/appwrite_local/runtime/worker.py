"""One function worker process: an HTTP server that runs `main(context)` as Appwrite's Python runtime does.

Started by the executor as `python -m appwrite_local.runtime.worker` with the function's environment.
It imports the entrypoint as `function.<entrypoint with dots>` from OPEN_RUNTIMES_CODE_ROOT (a folder whose
`function` entry is the function's `path`), exactly the module name the real runtime uses, and serves one
execution at a time; the executor runs several workers for concurrency. Standard library only, so the
function sees the same interpreter packages it would see with its own requirements installed.

Contract (open-runtimes v5): the request carries `x-open-runtimes-secret`, `-timeout`, `-logging` and
`-log-id`; logs and errors go to `<OPEN_RUNTIMES_LOGS_DIR>/<log id>_logs.log` / `_errors.log`; the
response carries the function's status, headers and body plus `x-open-runtimes-log-id`.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import os
import sys
import traceback
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

LOG_CALL_LIMIT = 8000
NATIVE_NOTICE = "Native logs detected. Use context.log() or context.error() for better experience."


class Logs:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.logs: list[str] = []
        self.errors: list[str] = []

    def write(self, messages: tuple[Any, ...], error: bool = False) -> None:
        if not self.enabled:
            return
        text = " ".join(
            json.dumps(m, separators=(",", ":")) if isinstance(m, (list, dict, tuple)) else str(m) for m in messages
        )
        (self.errors if error else self.logs).append(text[:LOG_CALL_LIMIT] + "\n")


class Request:
    def __init__(self) -> None:
        self.body_binary = b""
        self.headers: dict[str, str] = {}
        self.method = "GET"
        self.url = ""
        self.path = "/"
        self.port = 80
        self.query: dict[str, str] = {}
        self.query_string = ""
        self.scheme = "http"
        self.host = ""

    @property
    def body_text(self) -> str:
        return self.body_binary.decode("utf-8")

    @property
    def body_json(self) -> Any:
        return json.loads(self.body_text)

    @property
    def body_raw(self) -> str:
        return self.body_text

    @property
    def body(self) -> Any:
        if self.headers.get("content-type", "text/plain").lower().startswith("application/json"):
            return self.body_json if self.body_binary else {}
        return self.body_text


class Response:
    def binary(self, data: bytes, statusCode: int = 200, headers: dict | None = None) -> dict:  # noqa: N803
        return {"body": data, "statusCode": statusCode, "headers": dict(headers or {})}

    def text(self, body: str, statusCode: int = 200, headers: dict | None = None) -> dict:  # noqa: N803
        return self.binary(body.encode("utf-8"), statusCode, headers)

    def send(self, body: Any, statusCode: int = 200, headers: dict | None = None) -> dict:  # noqa: N803
        return {"body": body, "statusCode": statusCode, "headers": dict(headers or {})}

    def json(self, obj: Any, statusCode: int = 200, headers: dict | None = None) -> dict:  # noqa: N803
        return self.text(
            json.dumps(obj, separators=(",", ":")), statusCode, {**(headers or {}), "content-type": "application/json"}
        )

    def empty(self) -> dict:
        return self.text("", 204, {})

    def redirect(self, url: str, statusCode: int = 301, headers: dict | None = None) -> dict:  # noqa: N803
        return self.text("", statusCode, {**(headers or {}), "location": url})


class Context:
    def __init__(self, logs: Logs) -> None:
        self.req = Request()
        self.res = Response()
        self._logs = logs

    def log(self, *messages: Any) -> None:
        self._logs.write(messages)

    def error(self, *messages: Any) -> None:
        self._logs.write(messages, error=True)


def _load_main():
    entrypoint = os.environ["OPEN_RUNTIMES_ENTRYPOINT"]
    module_name = "function." + (entrypoint[:-3] if entrypoint.endswith(".py") else entrypoint).replace("/", ".")
    return importlib.import_module(module_name).main


def run(context: Context, logs: Logs) -> dict:
    """Run main with print() captured; every failure becomes a 500 with the reason in the errors log."""
    captured = io.StringIO()
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = captured
    output = None
    try:
        main = _load_main()
        output = asyncio.run(main(context)) if asyncio.iscoroutinefunction(main) else main(context)
    except Exception as exc:  # noqa: BLE001 - the function's own failure, reported as the runtime does
        context.error("".join(traceback.TracebackException.from_exception(exc).format()))
        output = context.res.text("", 500, {})
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        native = captured.getvalue()
        if native and logs.enabled:
            logs.logs.append(NATIVE_NOTICE)
            logs.logs.append(native)
    if output is None:
        context.error("Return statement missing. return context.res.empty() if no response is expected.")
        output = context.res.text("", 500, {})
    return output


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # the executor records what matters
        pass

    def _handle(self) -> None:
        if self.path == "/__opr/health":
            return self._send(200, {"content-type": "text/plain"}, b"OK")
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        secret = os.environ.get("OPEN_RUNTIMES_SECRET", "")
        if secret and self.headers.get("x-open-runtimes-secret", "") != secret:
            return self._send(
                500, {"content-type": "text/plain"}, b'Unauthorized. Provide correct "x-open-runtimes-secret" header.'
            )
        logs = Logs(self.headers.get("x-open-runtimes-logging", "enabled") != "disabled")
        log_id = self.headers.get("x-open-runtimes-log-id", "")
        context = Context(logs)
        req = context.req
        req.body_binary = body
        req.method = self.command
        path, _, query_string = self.path.partition("?")
        req.path, req.query_string = path, query_string
        req.query = {}
        for pair in query_string.split("&"):
            key, sep, value = pair.partition("=")
            if key:
                req.query[key] = value if sep else ""
        req.headers = {k.lower(): v for k, v in self.headers.items() if not k.lower().startswith("x-open-runtimes-")}
        for key, value in json.loads(os.environ.get("OPEN_RUNTIMES_HEADERS") or "{}").items():
            req.headers[key.lower()] = str(value)
        req.scheme = req.headers.get("x-forwarded-proto", "http")
        default_port = 443 if req.scheme == "https" else 80
        host = req.headers.get("host", "")
        req.host, _, port = host.partition(":")
        req.port = int(port) if port.isdigit() else default_port
        req.url = f"{req.scheme}://{req.host}" + (f":{req.port}" if req.port != default_port else "") + req.path
        if req.query_string:
            req.url += "?" + req.query_string

        output = run(context, logs)
        headers = {
            str(k).lower(): str(v)
            for k, v in (output.get("headers") or {}).items()
            if not str(k).lower().startswith("x-open-runtimes-")
        }
        ctype = headers.get("content-type", "text/plain").lower()
        if not ctype.startswith("multipart/") and "charset=" not in ctype:
            ctype += "; charset=utf-8"
        headers["content-type"] = ctype
        if log_id:
            folder = os.environ.get("OPEN_RUNTIMES_LOGS_DIR", "/tmp")
            with open(os.path.join(folder, f"{log_id}_logs.log"), "w", encoding="utf-8") as handle:
                handle.write("".join(logs.logs))
            with open(os.path.join(folder, f"{log_id}_errors.log"), "w", encoding="utf-8") as handle:
                handle.write("".join(logs.errors))
            headers["x-open-runtimes-log-id"] = log_id
        data = output.get("body", b"")
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._send(int(output.get("statusCode", 200)), headers, bytes(data or b""))

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle


def _exit_with_parent(parent: int) -> None:
    """A worker outlives nothing: if the server dies (even by kill -9), its workers follow."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main() -> None:
    _exit_with_parent(os.getppid())
    sys.path.insert(0, os.environ["OPEN_RUNTIMES_CODE_ROOT"])
    server = HTTPServer(("127.0.0.1", 0), Handler)
    # The executor reads the port from the first line of stdout.
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
