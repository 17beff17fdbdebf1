"""`make up`: run the local platform in the foreground.

Starts the local server (registering the functions in appwrite.json, with the scheduler and the executor),
applies appwrite.json's databases, tables, buckets and teams through the official SDK
(scripts/apply_schema.py), then prints the endpoint, project, API key and an example call. Ctrl-C or
SIGTERM stops the server and, with it, every function worker.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from appwrite.client import Client  # noqa: E402
from appwrite.services.functions import Functions  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.serialization import (  # noqa: E402
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from scripts import apply_schema  # noqa: E402

sys.path.insert(0, str(REPO / "src"))
from appwrite_local.__main__ import port_in_use  # noqa: E402


def ensure_local_secrets(creds: dict[str, str]) -> None:
    """The secrets the functions need (prescription-create's signing-key secret, patient-portal's token secret),
    made once per data directory. On a real Appwrite it is
    set by whoever deploys (docs/functions/prescription-create.md). Once set it is marked secret, so its value is
    never read back and never replaced: replacing it would lock every practitioner out of their signing key."""
    client = Client().set_endpoint(creds["endpoint"]).set_project(creds["projectId"]).set_key(creds["apiKey"])
    functions = Functions(client)
    for function_id, key in (
        ("prescription-create", "RX_PRACTITIONER_KEY_SECRET"),
        ("patient-portal", "RX_PORTAL_TOKEN_SECRET"),
    ):
        for variable in functions.list_variables(function_id).variables:
            if variable.key == key and not variable.secret and not variable.value:
                functions.update_variable(function_id, variable.id, key, secrets.token_urlsafe(48), secret=True)


def start_helper(
    name: str, port_variable: str, default_port: int, script: str, function_id: str
) -> tuple[subprocess.Popen, str] | None:
    """A stand-in for an external service on loopback (its port from `port_variable`): (process, base URL), or
    None when the port is taken (the function it serves is then left unconfigured)."""
    port = int(os.environ.get(port_variable, str(default_port)))
    if port_in_use("127.0.0.1", port):
        print(f"{name}: port {port} is in use; {function_id} is left unconfigured", file=sys.stderr)
        return None
    process = subprocess.Popen([sys.executable, str(REPO / "scripts" / script), str(port)], stdout=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}"


def post_when_up(url: str, data: bytes) -> None:
    """POST `data` to a stand-in that has just started, as soon as it answers (for up to 10 s)."""
    for _ in range(200):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=1):
                return
        except OSError:
            time.sleep(0.05)


def start_local_stripe(creds: dict[str, str], api_port: int) -> subprocess.Popen | None:
    """localstripe on loopback as billing-process's Stripe, its webhooks signed with a fresh secret and sent to
    the function's domain; billing-process's variables point at it. localstripe keeps nothing across runs."""
    started = start_helper(
        "localstripe", "APPWRITE_LOCAL_STRIPE_PORT", 8420, "localstripe_loopback.py", "billing-process"
    )
    if started is None:
        return None
    process, url = started
    secret = "whsec_" + secrets.token_hex(24)
    hook = f"http://127.0.0.1:{api_port}/_functions/billing-process/stripe/webhook"
    post_when_up(f"{url}/_config/webhooks/billing", f"url={hook}&secret={secret}".encode())
    wanted = {"STRIPE_SECRET_KEY": "sk_test_local", "STRIPE_API_BASE": url, "STRIPE_WEBHOOK_SECRET": secret}
    set_variables(creds, "billing-process", wanted)
    return process


def set_variables(creds: dict[str, str], function_id: str, wanted: dict[str, str]) -> None:
    """Set a function's variables (as secrets: they hold keys and where the providers are)."""
    client = Client().set_endpoint(creds["endpoint"]).set_project(creds["projectId"]).set_key(creds["apiKey"])
    functions = Functions(client)
    wanted = dict(wanted)
    for variable in functions.list_variables(function_id).variables:
        if variable.key in wanted:
            value = wanted.pop(variable.key)
            functions.update_variable(function_id, variable.id, variable.key, value, secret=True)
    for key, value in wanted.items():
        functions.create_variable(function_id, secrets.token_hex(8), key, value, secret=True)


def start_provider_stand_in(creds: dict[str, str], api_port: int) -> subprocess.Popen | None:
    """The recording SendGrid/Twilio stand-in on loopback as notification-send's providers, with a template id per
    notification type (`d-local-<type>`): nothing leaves the machine; `GET /_requests` shows what was sent."""
    from rxcore.notify.types import TYPES

    started = start_helper(
        "provider stand-in", "APPWRITE_LOCAL_PROVIDERS_PORT", 8421, "provider_stand_in.py", "notification-send"
    )
    if started is None:
        return None
    process, url = started
    templates = {name: "d-local-" + name.replace(".", "-") for name in TYPES}
    public_url = f"http://127.0.0.1:{api_port}/_functions/notification-send"
    token, key = secrets.token_hex(16), ec.generate_private_key(ec.SECP256R1())
    public_key = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    set_variables(creds, "notification-send", {
        "SENDGRID_API_KEY": "SG.local", "SENDGRID_API_HOST": url, "RX_NOTIFY_EMAIL_TEMPLATES": json.dumps(templates),
        "SENDGRID_WEBHOOK_PUBLIC_KEY": base64.b64encode(public_key).decode(), "RX_NOTIFY_PUBLIC_URL": public_url,
        "RX_NOTIFY_LINK_SECRET": secrets.token_urlsafe(32),
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": token,
        "TWILIO_FROM_NUMBER": "+15005550006", "TWILIO_API_BASE": url,
    })  # fmt: skip
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    settings = {"twilio_auth_token": token, "sendgrid_events_url": public_url + "/sendgrid/events",
                "sendgrid_private_key_pem": pem}  # fmt: skip
    post_when_up(f"{url}/_config", json.dumps(settings).encode())  # it calls back, signed, as the providers do
    return process


def main() -> int:
    port = int(os.environ.get("APPWRITE_LOCAL_PORT", "8080"))
    data = Path(os.environ.get("APPWRITE_LOCAL_DATA", ".appwrite-local")).resolve()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    if port_in_use("127.0.0.1", port):
        # Checked here too: the health check below would otherwise find the other server and carry on.
        print(
            f"port {port} is in use (is another server running?): stop it, or set APPWRITE_LOCAL_PORT", file=sys.stderr
        )
        return 2
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appwrite_local",
            "--port",
            str(port),
            "--data",
            str(data),
            "--appwrite-json",
            str(REPO / "appwrite.json"),
            "--quiet",
            # A line per request and execution, and long jobs' progress; APPWRITE_LOCAL_QUIET=1 for silence.
            *([] if os.environ.get("APPWRITE_LOCAL_QUIET") == "1" else ["--access-log"]),
        ],
        cwd=REPO,
        env=env,
    )

    def stop(signum: int, _frame: object) -> None:
        server.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for _ in range(400):
        if server.poll() is not None:
            return server.returncode or 1
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health/version", timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    credentials = data / "credentials.json"
    code = apply_schema.main(["--file", str(REPO / "appwrite.json"), "--credentials", str(credentials), "--summary"])
    if code != 0:
        print("appwrite.json could not be applied completely; see the lines marked DIFFERS above", file=sys.stderr)
    creds = json.loads(credentials.read_text())
    ensure_local_secrets(creds)
    stripe = start_local_stripe(creds, port)
    providers = start_provider_stand_in(creds, port)
    print(
        f"""
Local Appwrite is running.
  endpoint   {creds["endpoint"]}
  project    {creds["projectId"]}
  API key    {creds["apiKey"]}
  (also in {credentials})

Example:
  curl -s {creds["endpoint"]}/tablesdb \\
    -H 'X-Appwrite-Project: {creds["projectId"]}' -H 'X-Appwrite-Key: {creds["apiKey"]}'

Stripe (billing-process) is localstripe at http://127.0.0.1:{os.environ.get("APPWRITE_LOCAL_STRIPE_PORT", "8420")};
its webhooks reach http://127.0.0.1:{port}/_functions/billing-process/stripe/webhook.
E-mail and SMS (notification-send) go to the recording stand-in at
http://127.0.0.1:{os.environ.get("APPWRITE_LOCAL_PROVIDERS_PORT", "8421")}/_requests: nothing leaves the machine.

Ctrl-C stops it. Requests and executions are shown below as they come (APPWRITE_LOCAL_QUIET=1 hides them).
""",
        flush=True,
    )
    try:
        return server.wait()
    finally:
        for helper in (stripe, providers):
            if helper is not None:
                helper.terminate()


if __name__ == "__main__":
    sys.exit(main())
