"""Deploy appwrite.json and the functions to an Appwrite (self-hosted, Cloud, or the local server) with the
official Appwrite CLI, safely. `make deploy` runs it; docs/deploy.md is the full procedure.

    APPWRITE_ENDPOINT=https://appwrite.example.org/v1 APPWRITE_PROJECT_ID=rx APPWRITE_API_KEY=... \\
    RX_PRACTITIONER_KEY_SECRET=... RX_PORTAL_TOKEN_SECRET=... make deploy

What it does, in order:
1. Plans the schema push: reads every table of the target through the API and refuses (exit 3) when the push
   would delete a column or recreate one (a changed type, size, format, array or encrypt: the CLI recreates those,
   dropping their data), unless `--allow-destructive` is given. appwrite.json names no endpoint, so the target
   comes only from the environment.
2. `appwrite push buckets`, `push teams`, `push tables` (non-interactive, with `--force` once the plan is safe).
3. Creates the functions the target does not have yet, through the API (the CLI 12 creates a new function's
   domain through the console, which needs `appwrite login`; with an API key alone it fails half-way).
4. Sets each function's variables: the values in appwrite.json's `vars` for names that are not secret, and, for
   every name listed under SECRETS, the value of the environment variable of that name (never printed; stored as
   secret variables). A secret missing from the environment is an error unless the target already has it.
5. `appwrite push functions`: uploads each function's code (its `path` minus `ignore`) and waits for its build.
6. Checks that every function has an active, ready deployment (the CLI exits 0 when an upload fails); exit 4 and
   the build log's tail when one has not.

The key needs the scopes: databases, tables, columns, indexes, buckets, teams, functions (read and write),
rules.read and rules.write.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from appwrite.client import Client  # noqa: E402
from appwrite.exception import AppwriteException  # noqa: E402
from appwrite.services.functions import Functions  # noqa: E402

CLI = REPO / "tests" / "node" / "node_modules" / ".bin" / "appwrite"
# Function variables that are secrets: taken from the deploying environment, never from appwrite.json.
SECRETS = {
    "prescription-create": ["RX_PRACTITIONER_KEY_SECRET"],
    "patient-portal": ["RX_PORTAL_TOKEN_SECRET"],
    "trud-medicine-sync": ["TRUD_API_KEY"],
}
OPTIONAL_SECRETS = {"TRUD_API_KEY"}  # the sync also runs from an uploaded release without one
RECREATING_KEYS = ("type", "size", "format", "array", "encrypt")  # the CLI recreates a column when these differ


def remote_table(client: Client, database_id: str, table_id: str) -> dict:
    """The table as the API answers it (raw JSON: the SDK's column models would blur the types)."""
    headers = {"content-type": "application/json", "X-Appwrite-Project": client.get_config("project")}
    return client.call("get", f"/tablesdb/{database_id}/tables/{table_id}", headers, {})


def plan(client: Client, document: dict) -> list[str]:
    """What a push of `document`'s tables would destroy on the target: one line per column."""
    problems = []
    for table in document.get("tables", []):
        try:
            remote = remote_table(client, table["databaseId"], table["$id"])
        except AppwriteException as exc:
            if exc.code == 404:
                continue  # a new table: nothing to lose
            raise
        local = {c["key"]: c for c in table.get("columns", [])}
        for column in remote.get("columns", []):
            name = f"{table['$id']}.{column['key']}"
            mine = local.get(column["key"])
            if mine is None:
                problems.append(f"{name}: would be DELETED (not in appwrite.json)")
                continue
            for key in RECREATING_KEYS:
                theirs = column.get(key)
                if key in column and not (_empty(theirs) and _empty(mine.get(key))) and theirs != mine.get(key):
                    problems.append(f"{name}: would be RECREATED ({key} {theirs!r} -> {mine.get(key)!r})")
    return problems


def _empty(value) -> bool:
    return value is None or value == "" or value == []


def cli(args: list[str], home: Path, project_dir: Path) -> None:
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1"}
    result = subprocess.run(
        [str(CLI), *args], cwd=project_dir, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    output = result.stdout + result.stderr
    shown = " ".join("***" if previous == "--key" else a for previous, a in zip(["", *args[:-1]], args, strict=True))
    print(f"$ appwrite {shown}\n{_last_lines(output)}", flush=True)
    if result.returncode != 0 or "✗ Error" in output:
        raise SystemExit(f"appwrite {shown} failed")


def _last_lines(text: str, count: int = 12) -> str:
    return "\n".join(line for line in text.strip().splitlines()[-count:])


def ensure_functions(functions: Functions, document: dict) -> None:
    for entry in document.get("functions", []):
        try:
            functions.get(entry["$id"])
            continue
        except AppwriteException as exc:
            if exc.code != 404:
                raise
        functions.create(
            function_id=entry["$id"],
            name=entry["name"],
            runtime=entry["runtime"],
            execute=entry.get("execute", []),
            events=entry.get("events", []),
            schedule=entry.get("schedule", ""),
            timeout=entry.get("timeout", 15),
            enabled=entry.get("enabled", True),
            logging=entry.get("logging", True),
            entrypoint=entry["entrypoint"],
            commands=entry.get("commands", ""),
            scopes=entry.get("scopes", []),
        )
        print(f"created function {entry['$id']}", flush=True)


def set_variables(functions: Functions, document: dict) -> None:
    for entry in document.get("functions", []):
        fid = entry["$id"]
        existing = {v.key: v for v in functions.list_variables(fid).variables}
        secrets = SECRETS.get(fid, [])
        wanted = {k: (v, False) for k, v in (entry.get("vars") or {}).items() if k not in secrets}
        for name in secrets:
            value = os.environ.get(name, "")
            if value:
                wanted[name] = (value, True)
            elif name not in existing and name not in OPTIONAL_SECRETS:
                raise SystemExit(f"{fid}: the secret {name} is not set in the environment nor on the target")
        for key, (value, secret) in wanted.items():
            if key in existing:
                functions.update_variable(fid, existing[key].id, key, value, secret=secret)
            else:
                functions.create_variable(fid, "unique()", key, value, secret=secret)
        print(f"{fid}: {len(wanted)} variable(s) set ({sum(s for _, s in wanted.values())} secret)", flush=True)


def check_deployments(functions: Functions, document: dict) -> list[str]:
    """Functions the push left without an active, ready deployment, each with its latest build log's tail: the
    CLI reports a failed upload only in its progress table and still exits 0."""
    problems = []
    for entry in document.get("functions", []):
        remote = functions.get(entry["$id"])
        if remote.deploymentid:
            status = functions.get_deployment(entry["$id"], remote.deploymentid).status
            if getattr(status, "value", status) == "ready":
                continue
        if remote.latestdeploymentid:
            log = _last_lines(functions.get_deployment(entry["$id"], remote.latestdeploymentid).buildlogs, 8)
        else:
            log = "(no deployment was created)"
        problems.append(f"{entry['$id']}: no ready active deployment\n{log}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=REPO / "appwrite.json", help="the CLI project file")
    parser.add_argument("--allow-destructive", action="store_true", help="push even if columns are deleted/recreated")
    parser.add_argument("--skip-functions", action="store_true", help="push the schema only")
    args = parser.parse_args(argv)
    names = ("APPWRITE_ENDPOINT", "APPWRITE_PROJECT_ID", "APPWRITE_API_KEY")
    endpoint, project, key = (os.environ.get(n, "") for n in names)
    if not (endpoint and project and key):
        parser.error("set APPWRITE_ENDPOINT, APPWRITE_PROJECT_ID and APPWRITE_API_KEY")
    if not CLI.exists():
        parser.error(f"the Appwrite CLI is not installed at {CLI}: run `make install`")
    document = json.loads(args.file.read_text())
    if document.get("projectId") != project:
        document["projectId"] = project  # the file names the local project; the target may differ
    client = Client().set_endpoint(endpoint).set_project(project).set_key(key)

    problems = plan(client, document)
    if problems and not args.allow_destructive:
        print("refusing to push: it would lose data\n  " + "\n  ".join(problems), file=sys.stderr)
        print("fix appwrite.json, migrate the data, or rerun with --allow-destructive", file=sys.stderr)
        return 3

    with tempfile.TemporaryDirectory(prefix="deploy-") as tmp:
        home, project_dir = Path(tmp) / "home", Path(tmp) / "project"
        home.mkdir()
        # The CLI rewrites the project file and tars each function's `path`: work on a copy of both.
        source = args.file.parent
        project_dir.mkdir()
        (project_dir / "appwrite.json").write_text(json.dumps(document, indent=4))
        for entry in document.get("functions", []):
            path = entry.get("path", ".")
            if not (project_dir / path).exists():
                shutil.copytree(source / path, project_dir / path, ignore=shutil.ignore_patterns("__pycache__"))
        cli(["client", "--endpoint", endpoint, "--project-id", project, "--key", key], home, project_dir)
        for resource in ("buckets", "teams", "tables"):
            cli(["push", resource, "--all", "--force"], home, project_dir)
        if not args.skip_functions:
            functions = Functions(client)
            ensure_functions(functions, document)
            set_variables(functions, document)
            cli(["push", "functions", "--all", "--force"], home, project_dir)
            unready = check_deployments(functions, document)
            if unready:
                print("not deployed:\n  " + "\n  ".join(unready), file=sys.stderr)
                return 4
    print("deployed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
