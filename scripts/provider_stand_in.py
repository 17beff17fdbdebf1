"""A recording stand-in for the SendGrid and Twilio HTTP APIs, on 127.0.0.1 only (for `make up` and the tests):
the real `sendgrid` and `twilio` clients are pointed at it (docs/functions/notification-send.md).

    python scripts/provider_stand_in.py PORT

- `POST /v3/mail/send` (SendGrid): answers 202 with an `X-Message-Id`, as SendGrid does.
- `POST /2010-04-01/Accounts/<sid>/Messages.json` (Twilio): answers 201 with a message resource (`sid`, `status`).
- `GET /_requests` lists every request received (method, path, headers, JSON or form body); `DELETE /_requests`
  forgets them.
- `POST /_fail` `{"provider": "sendgrid"|"twilio", "status": 500, "times": 2, "code": 21211}` makes the next
  `times` requests to that provider fail with `status` (and, for Twilio, the error `code`); `"status": 0` makes
  them hang past the client's timeout.
Nothing is sent anywhere."""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

LOCK = threading.Lock()
REQUESTS: list[dict] = []
FAILURES: dict[str, list[dict]] = {"sendgrid": [], "twilio": []}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet: the tests read /_requests
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, payload: object | None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/_requests":
            with LOCK:
                self._reply(200, list(REQUESTS))
        else:
            self._reply(404, {"message": "not found"})

    def do_DELETE(self) -> None:  # noqa: N802
        with LOCK:
            REQUESTS.clear()
            for queue in FAILURES.values():
                queue.clear()
        self._reply(204, None)

    def do_POST(self) -> None:  # noqa: N802
        raw = self._body()
        if self.path == "/_fail":
            rule = json.loads(raw)
            with LOCK:
                FAILURES[rule["provider"]].extend([rule] * int(rule.get("times", 1)))
            self._reply(204, None)
            return
        provider = "sendgrid" if self.path == "/v3/mail/send" else "twilio" if "/Messages.json" in self.path else None
        if provider is None:
            self._reply(404, {"message": "not found"})
            return
        if provider == "sendgrid":
            body: object = json.loads(raw or b"{}")
        else:
            body = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(raw.decode()).items()}
        with LOCK:
            failure = FAILURES[provider].pop(0) if FAILURES[provider] else None
            REQUESTS.append({"provider": provider, "method": "POST", "path": self.path, "at": time.time(),
                             "headers": dict(self.headers), "body": body, "failed": bool(failure)})  # fmt: skip
        if failure is not None:
            if failure["status"] == 0:
                time.sleep(30)
                return
            error = {
                "code": failure.get("code", failure["status"]),
                "message": "stand-in failure",
                "status": failure["status"],
            }
            self._reply(failure["status"], {"errors": [error]} if provider == "sendgrid" else error)
        elif provider == "sendgrid":
            self._reply(202, None, {"X-Message-Id": "sg-" + secrets.token_hex(10)})
        else:
            sid = "SM" + secrets.token_hex(16)
            self._reply(201, {"sid": sid, "status": "queued", "to": body.get("To"), "from": body.get("From")})


def serve(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8421).serve_forever()
