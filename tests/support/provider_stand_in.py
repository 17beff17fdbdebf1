"""The SendGrid/Twilio stand-in (scripts/provider_stand_in.py) in a thread of the test process, and helpers to read
what it received and to make it fail."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests
from scripts import provider_stand_in

from tests.support.local_server import free_port


@dataclass
class StandIn:
    port: int
    server: object

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self, provider: str | None = None) -> list[dict]:
        got = requests.get(f"{self.url}/_requests", timeout=10).json()
        return [r for r in got if provider in (None, r["provider"])]

    public_url: str = ""  # notification-send's public URL, set by the tests that use callbacks

    def configure(self, **settings: str) -> None:
        requests.post(f"{self.url}/_config", json=settings, timeout=10).raise_for_status()

    def fail(self, provider: str, status: int, times: int = 1, code: int | None = None) -> None:
        rule = {"provider": provider, "status": status, "times": times} | ({"code": code} if code else {})
        requests.post(f"{self.url}/_fail", json=rule, timeout=10).raise_for_status()

    def wait_for(self, check, timeout: float = 20.0, shows=lambda: None):
        """`check()` once it is truthy; after `timeout`, fail showing `shows()` (the state it was waiting on)."""
        deadline = time.monotonic() + timeout
        while not (found := check()):
            assert time.monotonic() < deadline, f"not in time; now: {shows()}"
            time.sleep(0.2)
        return found

    def stop(self) -> None:
        self.server.shutdown()  # type: ignore[attr-defined]
        self.server.server_close()  # type: ignore[attr-defined]


def start() -> StandIn:
    port = free_port()
    server = provider_stand_in.serve(port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return StandIn(port, server)
