"""Fixtures for the REST API: a fresh install per test, the app on it, and one admin per role group.

Requests go through httpx's ASGI transport on the same event loop as the store, so a test can
read the store directly (`run(store.list_...())`) between requests.
"""
from __future__ import annotations

import asyncio
import base64
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import httpx
import pytest

from dkim_support import dkim_key
from postroom.auth import Authenticator
from postroom.model import Block, SendConnector
from postroom.service import LOCAL_OPERATOR, Context, admins, mailboxes
from postroom.service.authentication import AdminAuthenticator
from postroom.service.setup import initialise
from postroom.storage import Store, open_store
from postroom.web import create_app

from queue_support import fill_queue

T = TypeVar("T")
SERVER = "EX01"
ROLE_GROUPS = ("organization-management", "server-management", "recipient-management", "view-only")
MAILBOX_USER = ("alice@example.com", "alice's mailbox password")


@pytest.fixture(autouse=True)
def no_doctor_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """The doctor waits like a refused POP3 login when the password it is given is wrong
    (POSTROOM_AUTH_FAILURE_DELAY, 2 s); the tests here do not need to."""
    monkeypatch.setenv("POSTROOM_AUTH_FAILURE_DELAY", "0")


@pytest.fixture
def run() -> Iterator[Callable[[Awaitable[T]], T]]:
    """`run(coroutine)` on one event loop that lives for the whole test."""
    with asyncio.Runner() as runner:
        yield runner.run


@dataclass(frozen=True)
class Principal:
    name: str
    password: str
    token: str
    token_id: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def basic(self) -> dict[str, str]:
        return basic_auth(self.name, self.password)


def basic_auth(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


async def make_principal(operator: Context, name: str, *roles: str) -> Principal:
    password = f"{name} password"
    await admins.new_admin(operator, name, password, list(roles))
    token = await admins.new_token(operator, name, description="tests")
    return Principal(name, password, token["token"], token["id"])


# One admin per role group, named after it; "spare" is a principal the others act upon.
PRINCIPAL_NAMES = {"organization-management": "org", "server-management": "server",
                   "recipient-management": "recipient", "view-only": "viewer", "spare": "spare"}


@pytest.fixture(scope="session")
def web_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Principal]]:
    """One dev install per session with a mailbox user, a spare domain and the principals
    (argon2 hashing once, not per test); each test gets a copy of the data directory."""
    data = tmp_path_factory.mktemp("web-template") / "var"

    async def build() -> dict[str, Principal]:
        await initialise(str(data), dev=True, server_name=SERVER)
        store = open_store(str(data))
        await store.open()
        try:
            ctx = Context(store, LOCAL_OPERATOR, SERVER, str(data))
            await mailboxes.new_mailbox(ctx, MAILBOX_USER[0], MAILBOX_USER[1])
            await store.add_domain("spare.example")
            await store.add_send_connector(SendConnector(name="Spare").with_changes(  # to show, change and remove
                address_spaces="spare.example", source_servers=SERVER))
            await store.add_dkim_key(dkim_key("example.com", "spare", "ed25519"))  # a DKIM key to show and remove
            now = time.time()  # a login block to list and lift (a day: outlives any test session)
            await store.add_blocks(SERVER, [Block("source", "192.0.2.7", now, now + 86400, 10, "pop3")])
            await fill_queue(store)  # queued messages to list, suspend, export and remove
            return {key: await make_principal(ctx, name, "view-only" if key == "spare" else key)
                    for key, name in PRINCIPAL_NAMES.items()}
        finally:
            await store.close()

    return data, asyncio.run(build())


@pytest.fixture(scope="session")
def principals(web_template: tuple[Path, dict[str, Principal]]) -> dict[str, Principal]:
    """Role group (or "spare") -> the principal holding it, with its password and API token."""
    return web_template[1]


@pytest.fixture
def data_dir(tmp_path: Path, web_template: tuple[Path, dict[str, Principal]]) -> str:
    data = tmp_path / "var"
    shutil.copytree(web_template[0], data)
    return str(data)


@pytest.fixture
def store(data_dir: str, run) -> Iterator[Store]:
    opened = open_store(data_dir)
    run(opened.open())
    yield opened
    run(opened.close())


@pytest.fixture
def operator(store: Store, data_dir: str) -> Context:
    """The local operator (the CLI's identity): sets up principals and state for a test."""
    return Context(store, LOCAL_OPERATOR, SERVER, data_dir)


@pytest.fixture
def admin_auth(store: Store) -> Iterator[AdminAuthenticator]:
    auth = AdminAuthenticator(store, Authenticator(failure_delay=0))  # no 2 s penalty per refused login
    yield auth
    auth.close()


class Api:
    """A synchronous face on httpx's ASGI client: `api.get(path, headers=...)` -> httpx.Response."""

    def __init__(self, app: Any, run: Callable[[Awaitable[Any]], Any], scheme: str = "http") -> None:
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"{scheme}://testserver")
        self.run = run

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.run(self.client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def app(store: Store, data_dir: str, admin_auth: AdminAuthenticator) -> Any:
    return create_app(store, SERVER, data_dir, admin_auth)


@pytest.fixture
def api(app: Any, run) -> Iterator[Api]:
    client = Api(app, run)
    yield client
    run(client.client.aclose())


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The error object of a response that must carry the API's one error shape with `status`."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json", response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"status", "code", "message", "field", "allowed"}, error
    assert error["status"] == status
    assert response.headers["Cache-Control"] == "no-store"
    assert "Traceback" not in response.text and "Exception" not in response.text
    return error
