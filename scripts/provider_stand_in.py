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
- `POST /_config` `{"twilio_auth_token": "...", "sendgrid_events_url": "...", "sendgrid_private_key_pem": "..."}`
  makes it call back as the real providers do, signed the same way: Twilio posts `sent` then `delivered` to a
  message's `StatusCallback` (`X-Twilio-Signature` with the auth token), SendGrid posts `processed` and `delivered`
  events to the events URL (ECDSA P-256 over timestamp + body, as its signed Event Webhook).
Nothing is sent anywhere else."""

from __future__ import annotations

import base64
import json
import secrets
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

LOCK = threading.Lock()
REQUESTS: list[dict] = []
FAILURES: dict[str, list[dict]] = {"sendgrid": [], "twilio": []}
CONFIG: dict[str, str] = {}


def _post(url: str, data: bytes, headers: dict[str, str]) -> None:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except OSError:
        pass  # a callback that fails is not retried here


def _twilio_callbacks(url: str, sid: str, to: str) -> None:
    from twilio.request_validator import RequestValidator

    for status in ("sent", "delivered"):
        params = {"MessageSid": sid, "MessageStatus": status, "To": to, "AccountSid": "AC" + "0" * 32}
        signature = RequestValidator(CONFIG["twilio_auth_token"]).compute_signature(url, params)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
        _post(url, urllib.parse.urlencode(params).encode(), headers)


def _sendgrid_events(message_id: str, body: dict) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_private_key(CONFIG["sendgrid_private_key_pem"].encode(), password=None)
    custom = body.get("custom_args") or {}
    now = int(time.time())
    addresses = [to.get("email") for p in body.get("personalizations", []) for to in p.get("to", [])]
    events = [
        {"event": name, "timestamp": now, "sg_event_id": secrets.token_urlsafe(16), "sg_message_id": message_id,
         "email": address} | custom
        for name in ("processed", "delivered") for address in addresses
    ]  # fmt: skip
    payload = json.dumps(events)
    stamp = str(now)
    signature = base64.b64encode(key.sign((stamp + payload).encode(), ec.ECDSA(hashes.SHA256()))).decode()  # type: ignore[union-attr,call-arg]
    headers = {"Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Signature": signature,
               "X-Twilio-Email-Event-Webhook-Timestamp": stamp}  # fmt: skip
    _post(CONFIG["sendgrid_events_url"], payload.encode(), headers)


def _later(target, *args) -> None:
    threading.Timer(0.2, target, args).start()


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
            CONFIG.clear()
        self._reply(204, None)

    def do_POST(self) -> None:  # noqa: N802
        raw = self._body()
        if self.path == "/_config":
            with LOCK:
                CONFIG.update(json.loads(raw))
            self._reply(204, None)
            return
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
            message_id = "sg-" + secrets.token_hex(10)
            self._reply(202, None, {"X-Message-Id": message_id})
            if CONFIG.get("sendgrid_events_url") and CONFIG.get("sendgrid_private_key_pem"):
                _later(_sendgrid_events, message_id, body)
        else:
            sid = "SM" + secrets.token_hex(16)
            self._reply(201, {"sid": sid, "status": "queued", "to": body.get("To"), "from": body.get("From")})
            if body.get("StatusCallback") and CONFIG.get("twilio_auth_token"):
                _later(_twilio_callbacks, body["StatusCallback"], sid, body.get("To", ""))


def serve(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8421).serve_forever()
