"""What `make up` shows (issue 14.16): a line per request and per execution, the function's logs with secrets
redacted. A server of its own with --access-log, its stdout read from its log file."""

from __future__ import annotations

import json

import pytest
from appwrite.client import Client
from appwrite.services.functions import Functions

from tests.conftest import FUNCTIONS_JSON
from tests.support.local_server import LocalServer, free_port
from tests.support.sdk import set_function_variable

pytestmark = pytest.mark.e2e


def test_requests_and_executions_are_shown_with_secrets_redacted(tmp_path):
    server = LocalServer(tmp_path / "data", free_port()).start(["--appwrite-json", str(FUNCTIONS_JSON), "--access-log"])
    try:
        admin = Client().set_endpoint(server.endpoint).set_project(server.project_id).set_key(server.api_key)
        set_function_variable(admin, "faults", "SHOUTED", "hunter2-secret", secret=True)
        functions = Functions(admin)
        functions.create_execution("faults", json.dumps({}), path="/error-log")
        functions.create_execution("echo", "", path="/x")
        functions.create_execution("faults", "", path="/log-secret")
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert " 201 POST   /v1/functions/faults/executions " in log and " key" in log
    assert "execution" in log and "faults (http) completed 400" in log
    assert "    error: something went wrong" in log
    assert "echo (http) completed 200" in log and "    log: echo called with" in log
    assert "    log: the secret is ***" in log and "hunter2-secret" not in log
