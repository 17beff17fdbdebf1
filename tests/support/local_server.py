"""Start and stop the real `python -m appwrite_local` as a subprocess on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalServer:
    data_dir: Path
    port: int
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def credentials(self) -> dict[str, str]:
        return json.loads((self.data_dir / "credentials.json").read_text())

    @property
    def project_id(self) -> str:
        return self.credentials()["projectId"]

    @property
    def api_key(self) -> str:
        return self.credentials()["apiKey"]

    # --- the server's movable clock (local control routes; the API key) -----------------------------------------
    def _control(self, path: str) -> tuple[str, dict[str, str]]:
        url = f"{self.endpoint.rsplit('/v1', 1)[0]}/_local/{path}"
        return url, {"X-Appwrite-Project": self.project_id, "X-Appwrite-Key": self.api_key}

    def now(self) -> datetime:
        """The server's clock (functions and the scheduler follow it)."""
        url, headers = self._control("clock")
        return datetime.fromisoformat(requests.get(url, headers=headers, timeout=10).json()["now"])

    def advance(self, seconds: float) -> dict:
        """Move the server's clock forward; the scheduler ticks at once (what came due starts)."""
        url, headers = self._control("clock/advance")
        answer = requests.post(url, json={"seconds": seconds}, headers=headers, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def start(self, extra_args: list[str] | None = None, timeout: float = 20.0) -> LocalServer:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "appwrite_local",
                    "--port",
                    str(self.port),
                    "--data",
                    str(self.data_dir),
                    "--quiet",
                    *(extra_args or []),
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so a test can kill it with its workers (a crash)
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/health/version", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout}s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def crash(self) -> None:
        """SIGKILL to the server and every process it started (function workers): a power cut, as near as can be."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
