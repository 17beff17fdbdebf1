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
