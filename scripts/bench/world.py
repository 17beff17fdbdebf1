"""What the product benchmarks share: the machine line they print, and a fresh local server running the product's
appwrite.json with the test world (tests/support/rx_world.py) built on it."""

from __future__ import annotations

from pathlib import Path

from appwrite.client import Client
from scripts import apply_schema
from tests.support.local_server import REPO, LocalServer, free_port
from tests.support.rx_world import World, build


def start_world(tmp: Path) -> tuple[LocalServer, World]:
    """The caller stops the server (`server.stop()`), also when the benchmark fails."""
    server = LocalServer(tmp / "data", free_port()).start(["--appwrite-json", str(REPO / "appwrite.json")])
    try:
        assert apply_schema.main(["--credentials", str(server.data_dir / "credentials.json")]) == 0
        admin = Client().set_endpoint(server.endpoint).set_project(server.project_id).set_key(server.api_key)
        return server, build(server, admin)
    except BaseException:
        server.stop()
        raise
