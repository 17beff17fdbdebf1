"""Shared fixtures: one real local server per test session, and SDK clients of each kind."""

from __future__ import annotations

import pytest
from appwrite.client import Client
from appwrite.id import ID
from appwrite.services.users import Users

from tests.support.local_server import REPO, LocalServer, free_port

FUNCTIONS_JSON = REPO / "tests" / "functions" / "appwrite.json"  # the test functions under tests/functions/
PLATFORM_JSON = REPO / "appwrite.json"  # the product: its tables, buckets and functions


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    instance = LocalServer(tmp_path_factory.mktemp("appwrite-local") / "data", free_port()).start(
        ["--appwrite-json", str(FUNCTIONS_JSON), "--local-control"]
    )
    yield instance
    instance.stop()


def start_platform(tmp_path_factory: pytest.TempPathFactory) -> LocalServer:
    """A server running the product's own appwrite.json (real functions), with its schema applied."""
    from scripts import apply_schema

    instance = LocalServer(tmp_path_factory.mktemp("platform") / "data", free_port()).start(
        ["--appwrite-json", str(PLATFORM_JSON), "--local-control"]
    )
    code = apply_schema.main(
        ["--file", str(PLATFORM_JSON), "--credentials", str(instance.data_dir / "credentials.json")]
    )
    assert code == 0, "appwrite.json must apply cleanly"
    return instance


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory):
    """A second server running the product's own appwrite.json, shared by the product's tests."""
    instance = start_platform(tmp_path_factory)
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def platform_admin(platform: LocalServer) -> Client:
    return _client(platform).set_key(platform.api_key)


@pytest.fixture(scope="session")
def rx(platform: LocalServer, platform_admin: Client):
    """Clinics, practitioners, patients and a small catalogue on the platform server (tests/support/rx_world.py)."""
    from tests.support.rx_world import build

    return build(platform, platform_admin)


def _client(server: LocalServer) -> Client:
    client = Client()
    client.set_endpoint(server.endpoint)
    client.set_project(server.project_id)
    return client


@pytest.fixture(scope="session")
def admin(server: LocalServer) -> Client:
    """An API-key client with every scope."""
    return _client(server).set_key(server.api_key)


@pytest.fixture
def guest(server: LocalServer) -> Client:
    return _client(server)


class People:
    """Creates users through the Users API and signs them in the way a server-side app does."""

    PASSWORD = "correct-horse-battery"

    def __init__(self, server: LocalServer, admin: Client):
        self.server = server
        self.admin = admin

    def create(self, name: str = "Test User", labels: list[str] | None = None) -> dict:
        user_id = ID.unique()
        email = f"{user_id}@example.test"
        user = Users(self.admin).create(user_id, email=email, password=self.PASSWORD, name=name)
        if labels:
            Users(self.admin).update_labels(user_id, labels)
        return {"id": user.id, "email": email, "password": self.PASSWORD}

    def session_client(self, person: dict) -> Client:
        from appwrite.services.account import Account

        session = Account(self.admin).create_email_password_session(person["email"], person["password"])
        return _client(self.server).set_session(session.secret)

    def jwt_client(self, person: dict) -> Client:
        token = Users(self.admin).create_jwt(person["id"]).jwt
        return _client(self.server).set_jwt(token)

    def client(self) -> Client:
        return _client(self.server)


@pytest.fixture
def people(server: LocalServer, admin: Client) -> People:
    return People(server, admin)
