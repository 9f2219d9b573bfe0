"""Operations against the real server in a subprocess: metrics, logs, outages, shutdown, crashes."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.db import SQLITE_CACHE_KIB, SQLITE_HEAP_LIMIT_KIB, get_engine
from tests.builders import API
from tests.live import ROOT, Server, cli, free_port, wait_until_up


def test_metrics_count_known_traffic(client: TestClient) -> None:
    for _ in range(3):
        client.get(f"{API}/sources")
    client.get(f"{API}/sources/{uuid.uuid4()}")
    text = client.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/api/v1/sources",status="200"}' in text
    assert 'route="/api/v1/sources/{id}",status="404"' in text
    assert str(uuid.uuid4())[:8] not in text
    assert "http_request_duration_seconds_bucket" in text
    assert "change_feed_head_seq" in text


def test_metrics_add_up_across_two_workers(migrated: tuple[str, str]) -> None:
    url, _ = migrated
    server = Server(url, "--workers", "2")
    try:
        for _ in range(20):
            assert httpx.get(f"{server.base}{API}/automakers").status_code == 200
        text = httpx.get(f"{server.base}/metrics").text
        wanted = 'http_requests_total{method="GET",route="/api/v1/automakers"'
        line = next(row for row in text.splitlines() if row.startswith(wanted))
        assert float(line.split()[-1]) == 20
    finally:
        server.stop()


def test_every_request_logs_one_json_line_with_its_id(migrated: tuple[str, str]) -> None:
    url, key = migrated
    server = Server(url)
    try:
        answer = httpx.get(f"{server.base}{API}/sources", headers={"X-Request-ID": "trace-42"})
        assert answer.headers["x-request-id"] == "trace-42"
        made = httpx.get(f"{server.base}/healthz").headers["x-request-id"]
        assert len(made) >= 16
        source = {"slug": "s", "title": "T", "kind": "report"}
        auth = {"Authorization": f"Bearer {key}"}
        httpx.post(f"{server.base}{API}/sources", json=source, headers=auth)
    finally:
        errors = server.stop()
    lines = [json.loads(line) for line in errors.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("route")]
    traced = next(line for line in requests if line["request_id"] == "trace-42")
    assert (traced["method"], traced["route"], traced["status"], traced["level"]) == (
        "GET", "/api/v1/sources", 200, "info")  # fmt: skip
    assert traced["duration_ms"] >= 0
    # Written straight to the handler (app.ops.observe._json_handler), in the shape of every
    # other line, which goes through logging.
    others = [line for line in lines if line["logger"] != "battery_intel.requests"]
    assert others
    assert list(others[0])[:5] == list(traced)[:5] == [
        "time", "level", "logger", "message", "pid"]  # fmt: skip
    assert (traced["logger"], traced["message"]) == (
        "battery_intel.requests", "GET /api/v1/sources 200")  # fmt: skip
    assert traced["pid"] == others[0]["pid"] != os.getpid()
    for line in (traced, others[0]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]), line
    written = next(line for line in requests if line["method"] == "POST")
    assert written["actor"] == "ops"
    assert key not in errors, "no key in the logs"


def test_a_log_nobody_reads_any_more_does_not_fail_requests(migrated: tuple[str, str]) -> None:
    """`battery-intel serve 2>&1 | head`: once the reader is gone, writing a log line fails
    (EPIPE). The request was answered by then; it must not be turned into an error, nor its
    keep-alive connection closed (logging's handlers swallow it; the line written straight
    by Observe must too)."""
    url, _ = migrated
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    environment = {**os.environ, "DATABASE_URL": url, "LOG_FORMAT": "json"}
    server = subprocess.Popen(command, env=environment, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", server)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert server.stderr is not None
            server.stderr.close()  # the reader goes away
            answers = [client.get(f"{API}/sources") for _ in range(20)]
            assert {answer.status_code for answer in answers} == {200}
            assert all("close" not in a.headers.get("connection", "") for a in answers)
        assert server.poll() is None, "still serving"
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_sigterm_answers_a_long_poll_before_exiting(migrated: tuple[str, str]) -> None:
    url, _ = migrated
    server = Server(url)
    answered: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        response = httpx.get(f"{server.base}{API}/changes?wait=50", timeout=70)
        answered.update(status=response.status_code, seconds=time.monotonic() - started)

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(1.5)
    server.stop(signal.SIGTERM)
    waiter.join(timeout=30)
    assert answered["status"] == 200
    assert answered["seconds"] < 20, "answered at shutdown, not at the end of its wait"


def test_sigkill_during_an_atomic_batch_leaves_all_or_nothing(migrated: tuple[str, str]) -> None:
    url, key = migrated
    auth = {"Authorization": f"Bearer {key}"}
    server = Server(url)
    kept = {"slug": "acknowledged", "title": "Kept", "kind": "report"}
    before = httpx.post(f"{server.base}{API}/sources", headers=auth, json=kept)
    assert before.status_code == 201
    operations = [
        {"method": "POST", "collection": "sources",
         "body": {"slug": f"batch-{n}", "title": f"Batch {n}", "kind": "report"}}
        for n in range(1000)
    ]  # fmt: skip

    def send() -> None:
        with contextlib.suppress(httpx.TransportError):  # the server dies under it
            httpx.post(f"{server.base}{API}/batch", json={"operations": operations},
                       headers=auth, timeout=60)  # fmt: skip

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.6)
    server.stop(signal.SIGKILL)
    sender.join(timeout=60)
    restarted = Server(url)
    try:
        total = httpx.get(f"{restarted.base}{API}/sources?count=true&limit=1").json()["total"]
        assert total in (1, 1001), total
        assert httpx.get(f"{restarted.base}{API}/sources/acknowledged").status_code == 200
        feed = httpx.get(f"{restarted.base}{API}/changes?limit=1000").json()
        assert len(feed["items"]) in (1, 1000), "the change log matches the records"
    finally:
        restarted.stop()


def test_sqlite_that_cannot_be_opened_is_503_then_heals_without_restart(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    url = f"sqlite:///{blocker}/db.sqlite"
    server = Server(url)
    one = f"{server.base}{API}/sources/{uuid.uuid4()}"  # read beside the engine (loop_reads)
    try:
        for down in (httpx.get(f"{server.base}{API}/sources"), httpx.get(one)):
            assert down.status_code == 503
            assert down.headers["content-type"] == "application/problem+json"
            assert int(down.headers["retry-after"]) > 0
        assert httpx.get(f"{server.base}/readyz").status_code == 503
        assert httpx.get(f"{server.base}/healthz").status_code == 200
        blocker.unlink()  # the operator fixes the disk...
        cli(url, "migrate")  # ...and migrates; the server is not restarted
        assert httpx.get(f"{server.base}{API}/sources").status_code == 200
        assert httpx.get(one).status_code == 404
        assert httpx.get(f"{server.base}/readyz").status_code == 200
    finally:
        server.stop()


def test_sqlite_connections_are_set_up_for_a_large_file(tmp_path: Path) -> None:
    """WAL (readers beside the writer) and a page cache that holds a million records' hot
    pages, on every connection the app opens (each pooled connection has its own), all of
    them under one cap; and the pool hands out the connection returned last."""
    engine = get_engine(f"sqlite:///{tmp_path}/set-up.db")
    try:
        with engine.connect() as one, engine.connect() as two:
            for connection in (one, two):
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
                assert cache == -SQLITE_CACHE_KIB, "negative: KiB, not pages"
                cap = connection.exec_driver_sql("PRAGMA soft_heap_limit").scalar()
                assert cap == SQLITE_HEAP_LIMIT_KIB * 1024
            last_returned = one.connection.dbapi_connection  # `two` goes back first
        with engine.connect() as again:
            assert again.connection.dbapi_connection is last_returned, "the hot one, LIFO"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_outage_is_503_and_heals_without_restart(migrated: tuple[str, str]) -> None:
    url, _ = migrated
    server = Server(url)
    cluster = [
        "pg_ctlcluster",
        "--skip-systemctl-redirect",
        *_cluster(),
    ]
    one = f"{server.base}{API}/sources/{uuid.uuid4()}"  # read on the loop (app.loop_reads)
    try:
        assert httpx.get(f"{server.base}{API}/sources").status_code == 200
        assert httpx.get(one).status_code == 404
        subprocess.run([*cluster, "stop", "--", "-m", "fast"], check=True, timeout=60)
        try:
            statuses = {
                httpx.get(url, timeout=30).status_code
                for url in (f"{server.base}{API}/sources", one)
                for _ in range(3)
            }
            assert statuses == {503}
            assert int(httpx.get(one, timeout=30).headers["retry-after"]) > 0
            down = httpx.get(f"{server.base}{API}/sources", timeout=30)
            assert int(down.headers["retry-after"]) > 0
            assert httpx.get(f"{server.base}/readyz", timeout=30).status_code == 503
        finally:
            subprocess.run([*cluster, "start"], check=True, timeout=60)
        deadline = time.monotonic() + 30
        while httpx.get(f"{server.base}{API}/sources", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "did not heal"
            time.sleep(0.5)
        assert httpx.get(f"{server.base}/readyz").status_code == 200
        assert httpx.get(one).status_code == 404
        assert server.process.poll() is None, "the same process"
    finally:
        server.stop()


def _cluster() -> list[str]:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    return [version, "main"]


@pytest.mark.parametrize("kill_after_s", [0.2, 0.8, 1.6])
def test_a_non_atomic_batch_retried_after_sigkill_applies_each_operation_once(
    migrated: tuple[str, str], kill_after_s: float
) -> None:
    """API.md §9, Crash safety: the retry answers as the uninterrupted batch would."""
    url, key = migrated
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"crash-{kill_after_s}"}
    operations = [
        {"method": "POST", "collection": "sources",
         "body": {"slug": f"s-{n}", "title": f"S {n}", "kind": "report"}}
        for n in range(300)
    ]  # fmt: skip
    operations[150]["body"] = {"slug": "s-3", "title": "Taken", "kind": "report"}  # a 409
    batch = {"atomic": False, "operations": operations}
    server = Server(url)

    def send() -> None:
        with contextlib.suppress(httpx.TransportError):  # the server dies under it
            httpx.post(f"{server.base}{API}/batch", json=batch, headers=headers, timeout=60)

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(kill_after_s)
    server.stop(signal.SIGKILL)
    sender.join(timeout=60)
    restarted = Server(url)
    try:
        retried = httpx.post(
            f"{restarted.base}{API}/batch", json=batch, headers=headers, timeout=60
        )
        assert retried.status_code == 200, retried.text
        statuses = [result["status"] for result in retried.json()["results"]]
        assert statuses == [201] * 150 + [409] + [201] * 149
        made = httpx.get(f"{restarted.base}{API}/sources?count=true&limit=1").json()["total"]
        assert made == 299, "each operation applied once in all"
        creates = httpx.get(f"{restarted.base}{API}/changes?limit=1000").json()["items"]
        assert len(creates) == len({c["id"] for c in creates}) == 299
        bodies = {
            r["body"]["slug"]: r["body"]["id"] for r in retried.json()["results"] if "body" in r
        }
        assert {c["record"]["slug"]: c["id"] for c in creates} == bodies, "answers name the records"
        again = httpx.post(f"{restarted.base}{API}/batch", json=batch, headers=headers, timeout=60)
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.json() == retried.json()
    finally:
        restarted.stop()


def test_a_locked_sqlite_database_makes_writes_503_while_reads_go_on(
    tmp_path: Path,
) -> None:
    """API.md §9: another process holds SQLite's write lock longer than the busy timeout."""
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}?timeout=1"
    cli(url, "migrate")
    key = cli(url, "keys", "create", "--name", "w", "--scope", "write").splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    server = Server(url)
    body = {"slug": "waited", "title": "Waited", "kind": "report"}
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "locked"
        started = time.monotonic()
        refused = httpx.post(f"{server.base}{API}/sources", json=body, headers=auth, timeout=30)
        waited = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) > 0
        assert "busy" in refused.json()["detail"]
        assert waited >= 0.9, "it waited for the busy timeout first"
        listed = httpx.get(f"{server.base}{API}/sources", headers=auth, timeout=5)
        assert listed.status_code == 200, "reads go on (WAL), with a key too"
        one = httpx.get(f"{server.base}{API}/sources/{uuid.uuid4()}", timeout=5)
        assert one.status_code == 404, "and reads of one record"
        assert httpx.get(f"{server.base}{API}/changes", timeout=5).status_code == 200
    finally:
        locker.wait(timeout=30)
    try:
        made = httpx.post(f"{server.base}{API}/sources", json=body, headers=auth, timeout=30)
        assert made.status_code == 201, "the same write goes through once the lock is gone"
        total = httpx.get(f"{server.base}{API}/sources?count=true").json()["total"]
        changes = httpx.get(f"{server.base}{API}/changes").json()["items"]
        assert (total, len(changes)) == (1, 1), "nothing half written by the refused one"
    finally:
        server.stop()


# Holds SQLite's write lock for a few seconds, as another program writing would.
LOCKER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute("UPDATE change_head SET seq = seq")
print("locked", flush=True)
time.sleep(3)
connection.execute("ROLLBACK")
"""
