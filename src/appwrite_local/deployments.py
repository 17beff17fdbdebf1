"""Deployments: a function's code as uploaded (or as appwrite.json points to it), built, and activated.

As in Appwrite, a deployment is created (`waiting`), built in the background (`building`, its `commands` run in an
environment of its own: builds.py), and ends `ready` or `failed` with the build log. A ready deployment created
with `activate` becomes the function's active one; a failed build leaves the previous active deployment serving.

Two sources:
- the CLI's `.tar.gz` upload (POST /functions/{id}/deployments), unpacked as Appwrite does;
- a function registered from appwrite.json at start-up: its `path` minus `ignore`, copied exactly as the CLI would
  upload it. Its id comes from the content, so an unchanged function is not rebuilt at the next start.

Code lives in `<data>/deployments/<id>/function/`, which becomes the runtime's `function` package.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .builds import Builder, BuildFailed, bundle, unpack
from .clock import format_datetime
from .errors import AppwriteError
from .functions import FunctionSpec
from .ids import unique_id

log = logging.getLogger("appwrite_local.deployments")

COLUMNS = (
    "id, function_id, status, entrypoint, commands, source_size, build_logs, build_duration, python, activate,"
    " type, created, updated"
)
PENDING = "SELECT 1 FROM _deployments WHERE function_id = ? AND status IN ('waiting', 'processing', 'building')"
WAIT_FOR_BUILD = 600.0  # seconds an execution waits for the first build of its function


@dataclass(frozen=True)
class Runnable:
    """What the executor needs to start a worker of a function."""

    deployment_id: str
    python: str
    code_root: Path  # holds `function/`
    entrypoint: str


def deployment_json(row: tuple) -> dict[str, Any]:
    did, function_id, status, entrypoint, commands, size, logs, duration, _, activate, kind, created, updated = row
    return {
        "$id": did,
        "$createdAt": created,
        "$updatedAt": updated,
        "type": kind,
        "resourceId": function_id,
        "resourceType": "functions",
        "entrypoint": entrypoint,
        "commands": commands,
        "sourceSize": size,
        "buildId": did,
        "buildSize": 0,
        "totalSize": size,
        "buildLogs": logs,
        "buildDuration": round(duration),
        "status": status,
        "activate": bool(activate),
        "screenshotLight": "",
        "screenshotDark": "",
        "providerRepositoryName": "",
        "providerRepositoryOwner": "",
        "providerRepositoryUrl": "",
        "providerBranch": "",
        "providerCommitHash": "",
        "providerCommitAuthorUrl": "",
        "providerCommitAuthor": "",
        "providerCommitMessage": "",
        "providerCommitUrl": "",
        "providerBranchUrl": "",
    }


class Deployments:
    def __init__(self, services: Any, builder: Builder):
        self.services = services
        self.builder = builder
        self.root = services.settings.data_dir / "deployments"
        self.root.mkdir(parents=True, exist_ok=True)
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="build")
        self.finished = threading.Condition()

    # --- records -------------------------------------------------------------------------------------------------
    def get(self, deployment_id: str, function_id: str | None = None) -> tuple | None:
        row = (
            self.services.db.reader()
            .execute(f"SELECT {COLUMNS} FROM _deployments WHERE id = ?", (deployment_id,))
            .fetchone()
        )
        if row is None or (function_id is not None and row[1] != function_id):
            return None
        return row

    def _insert(self, deployment_id: str, spec: FunctionSpec, size: int, activate: bool) -> None:
        now = format_datetime(self.services.clock.now())
        with self.services.db.write() as conn:
            conn.execute(
                f"INSERT INTO _deployments ({COLUMNS}) VALUES (?,?,'waiting',?,?,?,'',0,'',?,'manual',?,?)",
                (deployment_id, spec.id, spec.entrypoint, spec.commands, size, int(activate), now, now),
            )

    def _set(self, deployment_id: str, **fields: Any) -> None:
        fields["updated"] = format_datetime(self.services.clock.now())
        self.services.db.update_by_id("_deployments", deployment_id, fields)

    def code_dir(self, deployment_id: str) -> Path:
        return self.root / deployment_id / "function"

    # --- creating ------------------------------------------------------------------------------------------------
    def from_source(self, spec: FunctionSpec, ignore: list[str] | None) -> str:
        """Deploy a function registered from appwrite.json (at start-up): reuse the deployment of the same
        content, or create and build one. Returns its id."""
        with tempfile.TemporaryDirectory(dir=self.root) as tmp:
            staged = Path(tmp) / "function"
            bundle(Path(spec.path), ignore, staged)
            digest = _tree_digest(staged, spec)
            deployment_id = f"local-{digest[:20]}"
            existing = self.get(deployment_id, spec.id)
            if existing is not None and existing[2] == "ready":
                self.services.functions.set_deployment(spec.id, deployment_id)
                return deployment_id
            if existing is not None:  # a build that failed or never finished: start it again from scratch
                self.delete(deployment_id)
            self.code_dir(deployment_id).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staged), self.code_dir(deployment_id))
        size = sum(p.stat().st_size for p in self.code_dir(deployment_id).rglob("*") if p.is_file())
        self._insert(deployment_id, spec, size, True)
        self.pool.submit(self._build, deployment_id)
        return deployment_id

    def from_archive(self, spec: FunctionSpec, archive: bytes, activate: bool, deployment_id: str = "") -> str:
        """A deployment from the CLI's (or an SDK's) .tar.gz; built in the background. `spec` carries the
        deployment's entrypoint and commands (the request's, or the function's)."""
        deployment_id = deployment_id or unique_id()
        if self.get(deployment_id) is not None:
            raise AppwriteError("general_argument_invalid", f"Deployment {deployment_id} already exists.")
        try:
            unpack(archive, self.code_dir(deployment_id))
        except ValueError as exc:
            self._delete_files(deployment_id)
            raise AppwriteError("general_argument_invalid", f"Invalid `code` param: {exc}") from None
        if not (self.code_dir(deployment_id) / spec.entrypoint).is_file():
            self._delete_files(deployment_id)
            raise AppwriteError("general_argument_invalid", f"The entrypoint {spec.entrypoint} is not in the code.")
        self._insert(deployment_id, spec, len(archive), activate)
        self.pool.submit(self._build, deployment_id)
        return deployment_id

    def receive_chunk(self, upload_id: str, owner: str, start: int, size: int, data: bytes) -> bytes | None:
        """Keep one chunk of a chunked upload (any order); the whole file once every byte is in, else None.
        Only the uploader continues an upload, at the size it began with (as for storage, docs/security.md)."""
        folder = self.root / ".uploads" / upload_id
        folder.mkdir(parents=True, exist_ok=True)
        meta = folder / "owner"
        if meta.exists():
            if meta.read_text() != f"{owner}\n{size}":
                raise AppwriteError("storage_invalid_content_range", "This upload belongs to another caller or size.")
        else:
            meta.write_text(f"{owner}\n{size}")
        (folder / f"{start:020d}").write_bytes(data)
        parts = sorted(p for p in folder.iterdir() if p.name != "owner")
        if sum(p.stat().st_size for p in parts) < size:
            return None
        whole = b"".join(p.read_bytes() for p in parts)
        shutil.rmtree(folder, ignore_errors=True)
        return whole

    def ensure_deployable(self, spec: FunctionSpec) -> None:
        """Refuse an execution at once when the function has nothing to run and nothing being built."""
        if spec.deployment:
            return
        pending = self.services.db.reader().execute(PENDING, (spec.id,)).fetchone()
        if not pending:
            raise AppwriteError("deployment_not_found")

    # --- building ------------------------------------------------------------------------------------------------
    def _build(self, deployment_id: str) -> None:
        row = self.get(deployment_id)
        if row is None:
            return
        found = self.services.functions.get(row[1])
        if found is None:
            return
        spec = found[0]
        self._set(deployment_id, status="building")
        started = time.monotonic()
        try:
            build = self.builder.build(self.code_dir(deployment_id), row[4], spec.runtime)
        except BuildFailed as exc:
            log.error("build of %s (%s) failed", deployment_id, spec.id)
            self._set(deployment_id, status="failed", build_logs=exc.log, build_duration=time.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 - a broken build must end failed, not hang in `building`
            log.exception("build of %s crashed", deployment_id)
            self._set(deployment_id, status="failed", build_logs=f"{type(exc).__name__}: {exc}\n")
        else:
            with self.services.db.write():  # `ready` and active together: a poller never sees one without the other
                self._set(
                    deployment_id,
                    status="ready",
                    build_logs=build.log,
                    build_duration=build.seconds,
                    python=str(build.python),
                )
                if row[9]:
                    self.services.functions.set_deployment(spec.id, deployment_id)
            if row[9]:
                self.services.executor.reset(spec.id)
        with self.finished:
            self.finished.notify_all()

    def activate(self, function_id: str, deployment_id: str) -> None:
        self.services.functions.set_deployment(function_id, deployment_id)
        self.services.executor.reset(function_id)

    def recover(self) -> None:
        """Builds a stopped server left waiting or building are started again."""
        rows = self.services.db.reader().execute(
            "SELECT id FROM _deployments WHERE status IN ('waiting', 'processing', 'building')"
        )
        for (deployment_id,) in rows.fetchall():
            self.pool.submit(self._build, deployment_id)

    # --- running -------------------------------------------------------------------------------------------------
    def runnable(self, spec: FunctionSpec, wait: float = WAIT_FOR_BUILD) -> Runnable:
        """The active deployment's interpreter and code. A function whose first deployment is still building is
        waited for (appwrite.json functions build at start-up); one with none is `deployment_not_found`."""
        deadline = time.monotonic() + wait
        while True:
            current = self.services.functions.get(spec.id)
            active = current[0].deployment if current else ""
            row = self.get(active) if active else None
            if row is not None and row[2] == "ready" and row[8]:
                return Runnable(row[0], row[8], self.root / row[0], row[3])
            pending = self.services.db.reader().execute(PENDING, (spec.id,)).fetchone()
            if not pending:
                if row is None and not active:
                    raise AppwriteError("deployment_not_found")
                if row is None or row[2] != "ready":
                    raise AppwriteError("build_not_ready")
            if time.monotonic() >= deadline:
                raise AppwriteError("build_not_ready")
            with self.finished:
                self.finished.wait(0.5)

    # --- removing ------------------------------------------------------------------------------------------------
    def delete(self, deployment_id: str) -> None:
        with self.services.db.write() as conn:
            conn.execute("DELETE FROM _deployments WHERE id = ?", (deployment_id,))
        self._delete_files(deployment_id)

    def _delete_files(self, deployment_id: str) -> None:
        shutil.rmtree(self.root / deployment_id, ignore_errors=True)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _tree_digest(folder: Path, spec: FunctionSpec) -> str:
    digest = hashlib.sha256(f"{spec.id}\0{spec.entrypoint}\0{spec.commands}\0{spec.runtime}\0".encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
