"""Run one of the operator scripts under scripts/ against a test server, as an operator would."""

from __future__ import annotations

import subprocess
import sys

from tests.support.local_server import REPO, LocalServer


def run_script(server: LocalServer, script: str, *args: str) -> subprocess.CompletedProcess:
    credentials = str(server.data_dir / "credentials.json")
    command = [sys.executable, str(REPO / "scripts" / script), "--credentials", credentials, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)
