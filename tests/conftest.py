"""Tests run against the real schema built the real way: Alembic into a fresh database.

SQLite by default; with TEST_DATABASE_URL (a Postgres server URL) the same suite
runs against a fresh database made on that server for this session and dropped
after it, so no existing data is touched.
"""

import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from app.access.keys import Scope, create_key
from app.db import get_engine, write_session
from app.main import create_app
from app.schema import upgrade
from app.settings import Settings
from app.tables import metadata
from tests.live import cli

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")
# The analyst page's tests drive the system's Chromium (no browser download is possible).
CHROMIUM = shutil.which("chromium")


def pytest_report_header() -> str:
    where = make_url(POSTGRES_URL).render_as_string() if POSTGRES_URL else "SQLite (temporary file)"
    return (
        f"database: {where}; redis: {REDIS_URL or 'none (its tests are skipped)'}; "
        f"browser: {CHROMIUM or 'none (its tests are skipped)'}"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    needs = {"postgres": (POSTGRES_URL, "TEST_DATABASE_URL (a Postgres server)"),
             "redis": (REDIS_URL, "TEST_REDIS_URL (a Redis server)"),
             "browser": (CHROMIUM, "chromium (apt-get install chromium), playwright")}  # fmt: skip
    for item in items:
        for marker, (given, what) in needs.items():
            if marker in item.keywords and not given:
                item.add_marker(pytest.mark.skip(reason=f"needs {what}"))


def _server_admin(url: str) -> Engine:
    # Pre-ping: a test may restart the cluster between making a database and dropping it.
    admin_url = make_url(url).set(database="postgres")
    return create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def fresh_database(tmp: Path, name: str) -> Iterator[str]:
    """A new empty database: a SQLite file, or a Postgres database dropped afterwards."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp / name}.db"
        return
    database = f"bi_test_{name}_{uuid.uuid4().hex[:8]}"
    admin = _server_admin(POSTGRES_URL)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)
    finally:
        get_engine.cache_clear()  # closes no pools by itself; dispose below
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from fresh_database(tmp_path_factory.mktemp("db"), "suite")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = get_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, _env_file=None)


ADMIN = "test-admin"


@pytest.fixture(scope="session")
def admin_key(engine: Engine) -> str:
    """The key the test client writes with (every write needs one)."""
    with write_session(engine) as session:
        _, key = create_key(session, ADMIN, Scope.admin)
    return key


@pytest.fixture
def client(engine: Engine, settings: Settings, admin_key: str) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.headers["Authorization"] = f"Bearer {admin_key}"
        yield test_client
    _clean(engine)


# The change feed's head only ever grows, across tests too; the keys are the session's.
KEPT = ("change_head", "api_keys")


def _clean(engine: Engine) -> None:
    """Empty every table, referencing tables first, so no test reads another's rows."""
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            if table.name not in KEPT:
                connection.execute(table.delete())


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    """The app under uvicorn on a free loopback port (tests take `client` too, for cleanup)."""
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def migrated(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A fresh database of its own, migrated, and an admin key for it: for a server run in
    another process (tests.live)."""
    for url in fresh_database(tmp_path, "live"):
        cli(url, "migrate")
        key = cli(url, "keys", "create", "--name", "ops", "--scope", "admin").splitlines()[-1]
        yield url, key


@pytest.fixture
def auth(admin_key: str) -> dict[str, str]:
    """Headers for clients of a live server."""
    return {"Authorization": f"Bearer {admin_key}"}
