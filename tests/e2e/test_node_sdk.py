"""The npm SDK node-appwrite drives the same server (tests/node/smoke.mjs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def test_node_appwrite_smoke(server):
    assert shutil.which("node"), "node is required (make test installs the npm packages)"
    assert (NODE_DIR / "node_modules" / "node-appwrite").exists(), "run `make test` to install tests/node"
    env = {
        **os.environ,
        "APPWRITE_ENDPOINT": server.endpoint,
        "APPWRITE_PROJECT": server.project_id,
        "APPWRITE_KEY": server.api_key,
    }
    result = subprocess.run(["node", "smoke.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok - ") == 6
