"""Builds: a function's code in a folder of its own, its `commands` run in a Python environment of its own.

Appwrite's Python runtime builds a deployment by unpacking the upload into a fresh container and running the
function's `commands` (for our functions `pip install -r functions/<id>/requirements.txt`); the function then runs
with only what those commands installed. Here each build gets a virtual environment with no site packages but its
own, so a function that imports something its requirements do not name fails here as it would when deployed.

Environments are cached by what decides their content: the runtime, the commands and every requirements file in
the code. A rebuild with the same requirements takes milliseconds, and servers on one machine (tests start many)
share the cache under a file lock. Commands are expected to install packages, as Appwrite's Python templates do;
anything else they write into the code folder is kept for that build only.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pathspec

BUILD_TIMEOUT = 900  # seconds; Appwrite's default _APP_FUNCTIONS_BUILD_TIMEOUT
LOG_LIMIT = 1_000_000


class BuildFailed(Exception):
    def __init__(self, log: str):
        super().__init__("build failed")
        self.log = log


@dataclass(frozen=True)
class Build:
    python: Path  # the environment's interpreter, which runs the worker
    log: str
    seconds: float
    cached: bool


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "appwrite-local" / "builds"


def bundle(source: Path, ignore: list[str] | None, target: Path) -> int:
    """Copy what the Appwrite CLI would upload from `source` (gitignore-style `ignore` patterns, or the folder's
    .gitignore when there are none) into `target`. Returns the number of files."""
    if ignore is None:
        gitignore = source / ".gitignore"
        ignore = gitignore.read_text().splitlines() if gitignore.exists() else []
    spec = pathspec.GitIgnoreSpec.from_lines(ignore)
    count = 0
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if not path.is_file() or path.is_symlink() or "__pycache__" in relative.parts:
            continue
        if spec.match_file(relative.as_posix()):
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
        count += 1
    return count


def unpack(archive: bytes, target: Path) -> int:
    """Extract a deployment's .tar.gz into `target`: regular files and folders only, nothing outside it."""
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            for member in tar.getmembers():
                if member.isdir():
                    continue
                if not member.isfile():
                    raise ValueError(f"{member.name}: only regular files may be deployed")
                relative = Path(member.name)
                if relative.is_absolute() or ".." in relative.parts:
                    raise ValueError(f"{member.name}: a path outside the code")
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                destination.write_bytes(source.read())
                count += 1
    except tarfile.TarError as exc:
        raise ValueError(f"not a .tar.gz archive: {exc}") from None
    return count


def cache_key(runtime: str, commands: str, code: Path) -> str:
    digest = hashlib.sha256(f"{runtime}\0{commands}\0{sys.version_info[:2]}\0".encode())
    for path in sorted(code.rglob("requirements*.txt")):
        digest.update(path.relative_to(code).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


class Builder:
    def __init__(self, cache: Path | None = None):
        self.cache = cache or default_cache()

    def build(self, code: Path, commands: str, runtime: str) -> Build:
        """The environment for `code` after `commands`, from the cache or built now. Raises BuildFailed."""
        started = time.monotonic()
        key = cache_key(runtime, commands, code)
        env = self.cache / key
        self.cache.mkdir(parents=True, exist_ok=True)
        with open(self.cache / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another server may be building the same environment
            ready = env / ".ready"
            if ready.exists():
                log = f"Environment {key} reused (same runtime, commands and requirements).\n"
                return Build(env / "bin" / "python", log, time.monotonic() - started, True)
            shutil.rmtree(env, ignore_errors=True)  # what a failed or interrupted build left
            log = self._run(env, code, commands)
            ready.write_text(log[-LOG_LIMIT:])
        return Build(env / "bin" / "python", log, time.monotonic() - started, False)

    @staticmethod
    def _run(env: Path, code: Path, commands: str) -> str:
        steps = [f"{sys.executable} -m venv {env}"]
        out = io.StringIO()
        created = subprocess.run(
            [sys.executable, "-m", "venv", str(env)], capture_output=True, text=True, timeout=BUILD_TIMEOUT
        )
        out.write(f"$ {steps[0]}\n{created.stdout}{created.stderr}")
        if created.returncode != 0:
            raise BuildFailed(out.getvalue())
        if commands.strip():
            variables = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("APPWRITE_", "PYTHON", "VIRTUAL_ENV", "OPEN_RUNTIMES_"))
            }
            variables |= {
                "VIRTUAL_ENV": str(env),
                "PATH": f"{env / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PIP_NO_INPUT": "1",
                # Builds run two at a time beside a busy server: a slow registry answer is retried, not fatal.
                "PIP_DEFAULT_TIMEOUT": os.environ.get("PIP_DEFAULT_TIMEOUT", "60"),
            }
            out.write(f"$ {commands}\n")
            try:
                ran = subprocess.run(
                    ["bash", "-c", commands],
                    cwd=code,
                    env=variables,
                    capture_output=True,
                    text=True,
                    timeout=BUILD_TIMEOUT,
                )
            except subprocess.TimeoutExpired:
                out.write(f"Build timed out after {BUILD_TIMEOUT} s.\n")
                raise BuildFailed(out.getvalue()) from None
            out.write(ran.stdout + ran.stderr)
            if ran.returncode != 0:
                out.write(f"Commands exited with {ran.returncode}.\n")
                raise BuildFailed(out.getvalue()[-LOG_LIMIT:])
        return out.getvalue()[-LOG_LIMIT:]
