"""A short schemathesis run of Appwrite's 1.8 server spec at the local server: no input may get a 5xx.

The long run is `make fuzz` (scripts/fuzz.py; figures in docs/security.md). This one is bounded to about a
minute and a half so that it runs on every `make test`, with a fixed seed so a failure reproduces.
"""

from __future__ import annotations

import json

import pytest
from scripts import fuzz

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_no_input_from_the_spec_gets_a_server_error(tmp_path):
    report = tmp_path / "fuzz.json"
    code = fuzz.main(
        ["--max-examples", "3", "--max-time", "40", "--phases", "examples,fuzzing,stateful", "--report", str(report)]
    )
    figures = json.loads(report.read_text())
    assert figures["operations"] >= 140, "the spec filter lost the server's routes"
    for run in figures["runs"]:
        assert run["requests"] >= 500, f"the {run['who']} run barely ran: {run}"
    assert figures["server_errors"] == 0, figures
    assert code == 0, figures
