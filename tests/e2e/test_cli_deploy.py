"""The official Appwrite CLI (npm appwrite-cli, pinned in tests/node) deploys appwrite.json and every function to a
fresh local server through scripts/deploy.py; a second deploy changes and deletes nothing; the functions run in
environments built from their own requirements; a push that would lose a column is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from appwrite.client import Client
from appwrite.services.functions import Functions
from appwrite.services.storage import Storage
from appwrite.services.tables_db import TablesDB
from scripts import deploy

from tests.support.local_server import REPO, LocalServer, free_port
from tests.support.sdk import error_of, val

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DOCUMENT = json.loads((REPO / "appwrite.json").read_text())


def _deploy(server: LocalServer, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "APPWRITE_ENDPOINT": server.endpoint,
        "APPWRITE_PROJECT_ID": server.project_id,
        "APPWRITE_API_KEY": server.api_key,
        "RX_PRACTITIONER_KEY_SECRET": "deploy-test-practitioner-secret",
        "RX_PORTAL_TOKEN_SECRET": "deploy-test-portal-secret",
    }
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "deploy.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    server = LocalServer(tmp_path_factory.mktemp("deploy") / "data", free_port()).start()
    yield server, Client().set_endpoint(server.endpoint).set_project(server.project_id).set_key(server.api_key)
    server.stop()


def _columns(admin: Client) -> dict[str, list[tuple]]:
    out = {}
    for table in DOCUMENT["tables"]:
        remote = deploy.remote_table(admin, "main", table["$id"])
        out[table["$id"]] = sorted((c["key"], c["type"], c.get("size")) for c in remote["columns"])
    return out


def test_a_fresh_server_gets_everything_and_a_second_deploy_changes_nothing(target):
    server, admin = target
    first = _deploy(server)
    assert first.returncode == 0, first.stdout + first.stderr
    assert server.api_key not in first.stdout + first.stderr and "deploy-test-portal-secret" not in first.stdout

    tables = TablesDB(admin)
    columns = _columns(admin)
    for table in DOCUMENT["tables"]:
        assert len(columns[table["$id"]]) == len(table["columns"]), table["$id"]
    assert {b.id for b in Storage(admin).list_buckets().buckets} == {b["$id"] for b in DOCUMENT["buckets"]}
    functions = Functions(admin)
    for entry in DOCUMENT["functions"]:
        remote = functions.get(entry["$id"])
        assert remote.deploymentid, (entry["$id"], first.stdout, server.log_path.read_text()[-3000:])
        deployment = functions.get_deployment(entry["$id"], remote.deploymentid)
        assert val(deployment.status) == "ready", deployment.buildlogs

    # Each function runs in its own built environment: a request its handler refuses proves it imported whole.
    for function_id in ("dispensing", "patient-portal", "prescription-create", "patient-import", "appointment-booking"):
        execution = functions.create_execution(function_id, json.dumps({"action": "no-such-action"}))
        assert execution.responsestatuscode in (400, 401, 403), (function_id, execution.responsebody, execution.errors)
        assert "ModuleNotFoundError" not in execution.errors

    tables.create_row("main", "clinics", "kept-clinic", {"name": "Kept", "country": "UK", "active": True})
    second = _deploy(server)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Successfully pushed 0 tables" in second.stdout, "the second push found changes to make"
    assert _columns(admin) == columns
    assert tables.get_row("main", "clinics", "kept-clinic").data["name"] == "Kept"
    secrets = {v.key: v for v in functions.list_variables("patient-portal").variables}
    assert secrets["RX_PORTAL_TOKEN_SECRET"].secret is True and secrets["RX_PORTAL_TOKEN_SECRET"].value == ""


def test_a_push_that_would_lose_a_column_is_refused(target, tmp_path):
    server, admin = target
    changed = json.loads(json.dumps(DOCUMENT))
    table = next(t for t in changed["tables"] if t["$id"] == "clinics")
    table["columns"] = [c for c in table["columns"] if c["key"] != "address"]
    code_column = next(c for c in changed["tables"][0]["columns"] if c["key"] == "code")
    code_column["size"] = 19
    path = tmp_path / "appwrite.json"
    path.write_text(json.dumps(changed))
    refused = _deploy(server, "--file", str(path), "--skip-functions")
    assert refused.returncode == 3
    assert "clinics.address: would be DELETED" in refused.stderr
    assert "medicines.code: would be RECREATED (size 18 -> 19)" in refused.stderr
    assert "address" in {c["key"] for c in deploy.remote_table(admin, "main", "clinics")["columns"]}


def _tarball(files: dict[str, str]) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _wait_built(functions: Functions, function_id: str, deployment_id: str):
    import time

    deadline = time.monotonic() + 120
    while val((deployment := functions.get_deployment(function_id, deployment_id)).status) not in ("ready", "failed"):
        assert time.monotonic() < deadline, "the build never finished"
        time.sleep(0.1)
    return deployment


def test_a_failed_build_keeps_the_previous_deployment_and_a_rollback_works(target):
    from appwrite.input_file import InputFile

    _, admin = target
    functions = Functions(admin)
    functions.create("hello", "Hello", "python-3.11", execute=["any"], entrypoint="main.py")
    code = "def main(context):\n    return context.res.text('%s')\n"
    first = functions.create_deployment(
        "hello", InputFile.from_bytes(_tarball({"main.py": code % "one"}), "code.tar.gz"), True
    )
    assert val(_wait_built(functions, "hello", first.id).status) == "ready"
    assert functions.create_execution("hello").responsebody == "one"

    broken = functions.create_deployment(
        "hello",
        InputFile.from_bytes(_tarball({"main.py": code % "two"}), "code.tar.gz"),
        True,
        commands="echo building; exit 7",
    )
    failed = _wait_built(functions, "hello", broken.id)
    assert val(failed.status) == "failed" and "building" in failed.buildlogs and "exited with 7" in failed.buildlogs
    assert functions.get("hello").deploymentid == first.id
    assert functions.create_execution("hello").responsebody == "one"  # the previous deployment still serves

    second = functions.create_deployment(
        "hello", InputFile.from_bytes(_tarball({"main.py": code % "three"}), "code.tar.gz"), True
    )
    _wait_built(functions, "hello", second.id)
    assert functions.create_execution("hello").responsebody == "three"
    functions.update_function_deployment("hello", first.id)  # roll back
    assert functions.create_execution("hello").responsebody == "one"

    outside = _tarball({"../escape.py": "x = 1\n", "main.py": code % "x"})
    error = error_of(functions.create_deployment, "hello", InputFile.from_bytes(outside, "c.tar.gz"), True)
    assert error.code == 400 and "outside the code" in error.message
