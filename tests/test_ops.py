"""Liveness, readiness, an unreachable database, settings and the command line."""

import gc
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import fresh_database

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def empty_url(tmp_path: Path) -> Iterator[str]:
    yield from fresh_database(tmp_path, "ops")


def _settings(url: str, **extra: Any) -> Settings:
    return Settings(database_url=url, _env_file=None, **extra)


def test_healthz_and_readyz_when_migrated(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_readyz_is_503_before_migrate(empty_url: str) -> None:
    with TestClient(create_app(_settings(empty_url)), raise_server_exceptions=False) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        assert ready.json()["check"] == "schema"
        assert "battery-intel migrate" in ready.json()["detail"]
        data = client.get("/api/v1/sources")
        assert data.status_code == 503, "no schema yet: unavailable, not a 500"
        assert "retry-after" in data.headers


def test_unopenable_database_is_503_with_retry_after(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    url = f"sqlite:///{blocker}/sub/db.sqlite"
    with TestClient(create_app(_settings(url)), raise_server_exceptions=False) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()["check"]) == (503, "database")
        data = client.get("/api/v1/automakers")
        assert data.status_code == 503
        assert data.headers["content-type"] == "application/problem+json"
        assert int(data.headers["retry-after"]) > 0
        assert "sqlite" not in data.text.lower()


def test_settings_read_both_url_forms_and_origin_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:////var/lib/battery/db.sqlite")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite:////var/lib/battery/db.sqlite"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.log_level == "debug"
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://app:secret@db:5432/battery")
    assert Settings(_env_file=None).database_url.endswith("@db:5432/battery")


def test_env_example_lists_every_setting() -> None:
    listed = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line
    }
    assert {name.upper() for name in Settings.model_fields} <= listed


@pytest.mark.usefixtures("engine")
def test_cors_allows_configured_origins_only(database_url: str) -> None:
    app = create_app(_settings(database_url, cors_origins=["https://app.example"]))
    with TestClient(app) as client:
        preflight = {"Access-Control-Request-Method": "PATCH"}
        allowed = client.options(
            "/api/v1/automakers", headers={"Origin": "https://app.example", **preflight}
        )
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        refused = client.get("/api/v1/automakers", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in refused.headers


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, "-m", "app.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_cli_serve_before_migrate_then_migrate_and_seed(empty_url: str) -> None:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": empty_url}
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"{base}/healthz").status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert httpx.get(f"{base}/readyz").status_code == 503, "serve never migrates by itself"
        migrated = _cli("migrate", url=empty_url)
        assert migrated.returncode == 0, migrated.stderr
        assert httpx.get(f"{base}/readyz").status_code == 200
        first = _cli("seed", url=empty_url)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == "seed: 22 created, 0 updated, 0 unchanged"
        second = _cli("seed", url=empty_url)
        assert second.stdout.strip() == "seed: 0 created, 0 updated, 22 unchanged"
        partnerships = httpx.get(f"{base}/api/v1/partnerships").json()["items"]
        assert len(partnerships) == 3
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.postgres
def test_the_suite_runs_on_postgres_when_asked(engine: object) -> None:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    assert engine.dialect.name == "postgresql"


def test_cli_export_and_import(empty_url: str, tmp_path: Path) -> None:
    assert _cli("migrate", url=empty_url).returncode == 0
    assert _cli("seed", url=empty_url).returncode == 0
    dump = tmp_path / "dump.jsonl"
    assert _cli("export", str(dump), url=empty_url).returncode == 0
    lines = dump.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 23
    unchanged = _cli("import", str(dump), url=empty_url)
    assert unchanged.returncode == 0, unchanged.stderr
    assert unchanged.stdout.strip() == "import: 0 created, 0 updated, 22 unchanged, 0 rejected"
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], "{oops", lines[1].replace('"CN"', '"XX"')]) + "\n")
    rejected = _cli("import", str(broken), url=empty_url)
    assert rejected.returncode == 1
    assert "line 2: not JSON" in rejected.stderr
    assert "line 3: body.country" in rejected.stderr
    assert rejected.stdout.strip().endswith("2 rejected; nothing was changed")


ARENAS = """
import ctypes, sys, threading, time
if sys.argv[1] == "app":
    from app.main import create_app
    create_app()
def work():
    kept = []
    for _ in range(200):  # blocks under glibc's mmap threshold, held while the others run
        kept.append(bytearray(4000))
        time.sleep(0.0005)
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(tmp_path: Path, *args: str, **env: str) -> int:
    """How many malloc arenas a process of 8 allocating threads ends with (glibc's count)."""
    script = tmp_path / "arenas.py"
    script.write_text(ARENAS)
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return done.stderr.count("Arena ")


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc only")
def test_a_served_process_keeps_two_malloc_arenas(tmp_path: Path) -> None:
    """Each thread would take an arena of its own and hoard what it frees (app.ops.allocator):
    after create_app, threads share two; an operator's MALLOC_ARENA_MAX still wins."""
    assert _arenas(tmp_path, "none") > 2  # the test can tell: without the app, one a thread
    assert _arenas(tmp_path, "app") == 2
    assert _arenas(tmp_path, "app", MALLOC_ARENA_MAX="6") == 6


@pytest.mark.usefixtures("engine")
def test_a_started_app_runs_young_collections_less_often(database_url: str) -> None:
    """A batch's thousands of live ORM objects were walked at every 700 new containers
    (app.ops.collector): once the app has started, 10,000; the older thresholds stay."""
    before = gc.get_threshold()
    gc.set_threshold(700, 9, 11)
    try:
        with TestClient(create_app(_settings(database_url))) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_threshold() == (10_000, 9, 11)
    finally:
        gc.set_threshold(*before)
