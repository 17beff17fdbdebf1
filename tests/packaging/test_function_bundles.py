"""Each function's upload, built as the Appwrite CLI builds it, imports the way the Python runtime imports it.

The CLI tars the function's `path` minus its `ignore` patterns (gitignore syntax; without `ignore`, the
folder's .gitignore). The runtime unpacks that into a folder named `function` and imports
`function.<entrypoint with dots>`. This test does the same in a clean subprocess whose sys.path holds only
the bundle (and the interpreter's site-packages), so an import that reaches outside the upload fails here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pathspec
import pytest

from appwrite_local.builds import Builder

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = [REPO / "appwrite.json", REPO / "tests" / "functions" / "appwrite.json"]


def declared_functions() -> list[tuple[Path, dict]]:
    out = []
    for project in PROJECT_FILES:
        for entry in json.loads(project.read_text()).get("functions", []):
            if (project.parent / entry.get("path", ".") / entry.get("entrypoint", "")).is_file():
                out.append((project, entry))
    return out


def bundle_files(root: Path, ignore: list[str] | None) -> list[Path]:
    patterns = (
        ignore
        if ignore is not None
        else ((root / ".gitignore").read_text().splitlines() if (root / ".gitignore").exists() else [])
    )
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not spec.match_file(relative) and "__pycache__" not in path.parts:
            files.append(path.relative_to(root))
    return files


@pytest.mark.parametrize(
    "project,entry", declared_functions(), ids=lambda v: v.get("$id") if isinstance(v, dict) else v.parent.name
)
def test_bundle_imports_like_the_runtime(tmp_path, project, entry):
    root = (project.parent / entry.get("path", ".")).resolve()
    files = bundle_files(root, entry.get("ignore"))
    assert Path(entry["entrypoint"]) in files, "the entrypoint must be inside the upload"
    assert not any(f.parts[0] == "appwrite_local" for f in files), "the local server must not be uploaded"
    target = tmp_path / "server" / "function"
    for relative in files:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target / relative)
    # Built as Appwrite builds it: the function's own `commands` in an environment holding nothing else, so an
    # import its requirements do not cover fails here (dispensing once needed reportlab through prescribing).
    build = Builder().build(target, entry.get("commands", ""), entry["runtime"])
    module = "function." + entry["entrypoint"][:-3].replace("/", ".")
    probe = (
        f"import importlib, sys; sys.path.insert(0, {str(tmp_path / 'server')!r}); "
        f"m = importlib.import_module({module!r}); assert callable(m.main); print('ok')"
    )
    result = subprocess.run(
        [str(build.python), "-I", "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr + build.log[-2000:]


def test_the_test_functions_are_all_checked():
    ids = {entry["$id"] for _, entry in declared_functions()}
    assert {"echo", "faults", "callback", "on-row", "ticker"} <= ids
