"""The README's SDK snippet works as written, and again (issue 14.15): run it twice against a server with the
platform's schema, from a folder holding `.appwrite-local/credentials.json` as `make up` leaves it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.support.local_server import REPO

pytestmark = pytest.mark.e2e


def test_the_readme_snippet_runs_twice(platform, tmp_path):
    snippet = re.search(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    (tmp_path / ".appwrite-local").mkdir()
    shutil.copy(platform.data_dir / "credentials.json", tmp_path / ".appwrite-local" / "credentials.json")
    outputs = []
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout.splitlines())
    first, second = (int(lines[0].split()[0]) for lines in outputs)
    assert second == first + 1 and outputs[0][0].endswith(" notes")  # an integer count, one more each run


def test_the_demo_clinic_has_medicines_to_prescribe(tmp_path):
    """Issue 14.15: on a fresh platform the demo loads the small dm+d release through trud-medicine-sync."""
    import json

    from appwrite.client import Client
    from appwrite.query import Query
    from scripts import apply_schema

    from rxcore.tables import Tables
    from tests.support.local_server import LocalServer, free_port

    server = LocalServer(tmp_path / "data", free_port()).start(["--appwrite-json", str(REPO / "appwrite.json")])
    try:
        credentials = str(server.data_dir / "credentials.json")
        assert apply_schema.main(["--credentials", credentials, "--summary"]) == 0
        demo = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "clinic_admin.py"), "--credentials", credentials, "demo"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
        assert demo.returncode == 0, demo.stderr
        assert json.loads(demo.stdout)["medicines"]["status"] == "complete"
        admin = Client().set_endpoint(server.endpoint).set_project(server.project_id).set_key(server.api_key)
        assert Tables(admin).list("medicines", [Query.equal("type", "vmp"), Query.limit(1)])
    finally:
        server.stop()
