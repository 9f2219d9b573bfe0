"""`serve --workers N` under uvicorn: a listening socket for each worker (app.ops.workers)."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable

import httpx
import pytest

from tests.builders import API
from tests.live import ROOT, Server, free_port, until


def _listeners(port: int) -> int:
    """Sockets listening on 127.0.0.1:`port`, from the kernel's own table."""
    local = f"0100007F:{port:04X}"
    with open("/proc/net/tcp", encoding="ascii") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1] == local and row[3] == "0A")


def _until(check: Callable[[], bool]) -> None:
    until(check, 30, "timed out")


def _served_by(log: str, route: str) -> set[int]:
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    return {line["pid"] for line in lines if line.get("route") == route}


def test_connections_opened_at_once_reach_both_workers(migrated: tuple[str, str]) -> None:
    """Through one shared socket the first worker awake took every waiting connection, and
    kept-alive clients then loaded it alone (bench/RESULTS.md, "Two workers, one busy")."""
    url, _ = migrated
    server = Server(url, "--workers", "2")
    try:
        _until(lambda: _listeners(server.port) == 2)
        clients = [httpx.Client(base_url=server.base, timeout=30) for _ in range(16)]
        opened = threading.Barrier(len(clients))

        def load(http: httpx.Client) -> None:
            opened.wait()
            for _ in range(5):
                assert http.get(f"{API}/automakers").status_code == 200

        threads = [threading.Thread(target=load, args=(http,)) for http in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for http in clients:
            http.close()
    finally:
        log = server.stop()
    # The kernel spreads connections by their addresses: 16 all on one worker is 2 in 65,536.
    assert len(_served_by(log, "/api/v1/automakers")) == 2


def test_a_killed_worker_is_replaced_by_one_listening_in_its_place(
    migrated: tuple[str, str],
) -> None:
    url, _ = migrated
    server = Server(url, "--workers", "2")
    try:
        _until(lambda: _listeners(server.port) == 2)
        first = _worker_pids(server.process.pid)
        os.kill(first[0], signal.SIGKILL)
        _until(lambda: first[0] not in _worker_pids(server.process.pid))
        _until(lambda: len(_worker_pids(server.process.pid)) == 2 and _listeners(server.port) == 2)
        # No socket of the dead worker is left behind for the kernel to send connections to.
        for _ in range(40):
            with httpx.Client(base_url=server.base, timeout=5) as http:
                assert http.get(f"{API}/automakers").status_code == 200
    finally:
        log = server.stop()
    assert len(_served_by(log, "/api/v1/automakers")) == 2


@pytest.mark.parametrize("reuse_port", [False, True], ids=["any process", "another serve"])
def test_a_taken_port_stops_serve_at_once(migrated: tuple[str, str], reuse_port: bool) -> None:
    """Sockets bound with SO_REUSEPORT by the same user may share a port: a second instance
    must still be refused, not handed half of the first one's connections."""
    url, _ = migrated
    port = free_port()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
            env={**os.environ, "DATABASE_URL": url}, cwd=ROOT, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
    assert done.returncode == 3, done.stderr  # uvicorn's STARTUP_FAILURE: no restarts
    assert "Address already in use" in done.stderr


def _worker_pids(supervisor: int) -> list[int]:
    """The supervisor's spawned workers (not multiprocessing's resource tracker)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                spawned = b"spawn_main" in cmdline.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if parent == supervisor and spawned:
            found.append(int(entry))
    return sorted(found)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_serve_quietly(migrated: tuple[str, str], workers: str) -> None:
    """As `uvicorn.run` ends on Ctrl-C: after a graceful shutdown, exit 0, no traceback."""
    url, _ = migrated
    server = Server(url, "--workers", workers)
    log = server.stop(signal.SIGINT)
    assert server.process.returncode == 0, log
    assert "Traceback" not in log
