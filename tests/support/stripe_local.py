"""localstripe for the tests: started on loopback, its webhooks pointed at billing-process's function domain."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests
import stripe

from tests.support.local_server import REPO, free_port

SECRET_KEY = "sk_test_local_rx"


@dataclass
class LocalStripe:
    port: int
    process: subprocess.Popen
    webhook_secret: str = field(default_factory=lambda: "whsec_" + secrets.token_hex(16))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> stripe.StripeClient:
        return stripe.StripeClient(SECRET_KEY, base_addresses={"api": self.url}, max_network_retries=0)

    def send_webhooks_to(self, url: str) -> None:
        data = {"url": url, "secret": self.webhook_secret}
        response = requests.post(f"{self.url}/_config/webhooks/billing", data=data, timeout=10)
        response.raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start() -> LocalStripe:
    port = free_port()
    script = REPO / "scripts" / "localstripe_loopback.py"
    process = subprocess.Popen(
        [sys.executable, str(script), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    instance = LocalStripe(port, process)
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(f"{instance.url}/v1/balance", auth=(SECRET_KEY, ""), timeout=2).raise_for_status()
            return instance
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                instance.stop()
                raise RuntimeError("localstripe did not start") from None
            time.sleep(0.1)


@contextmanager
def serving_billing(platform, admin) -> Iterator[LocalStripe]:
    """localstripe as billing-process's Stripe on `platform`: its keys set as function variables, its webhooks
    delivered to the function's domain."""
    from tests.support.sdk import set_function_variable

    instance = start()
    try:
        instance.send_webhooks_to(platform.endpoint.removesuffix("/v1") + "/_functions/billing-process/stripe/webhook")
        for key, value in {
            "STRIPE_SECRET_KEY": SECRET_KEY,
            "STRIPE_API_BASE": instance.url,
            "STRIPE_WEBHOOK_SECRET": instance.webhook_secret,
        }.items():
            set_function_variable(admin, "billing-process", key, value)
        yield instance
    finally:
        instance.stop()
