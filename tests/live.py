"""The service in a process of its own, as `battery-intel serve` runs it: for the tests that
need real workers, signals, crashes or a second process."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli(url: str, *args: str, env: dict[str, str] | None = None) -> str:
    """`battery-intel ARGS` against the database at `url`; its standard output."""
    done = subprocess.run([sys.executable, "-m", "app.cli", *args],
                          env={**os.environ, "DATABASE_URL": url, **(env or {})}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return done.stdout


def wait_until_up(base: str, process: subprocess.Popen[bytes], log: Any = lambda: "") -> None:
    """Until the server at `base` answers /healthz; fails if `process` exits (with `log()`)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=2)
            return
        except httpx.TransportError:
            assert process.poll() is None, log()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)


def until(check: Callable[[], bool], seconds: float, what: str, every: float = 0.1) -> None:
    """Poll `check` until it holds; fails with `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(every)


class Server:
    """`battery-intel serve ARGS` on a free loopback port, its log lines kept for `stop`.

    The log goes to a file, not a pipe: a pipe nobody reads until the end fills after a few
    hundred requests, and the server then blocks on its next log line."""

    def __init__(self, url: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "DATABASE_URL": url, "LOG_FORMAT": "json", **(env or {})}
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), *args]
        self.log = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(command, env=environment, cwd=ROOT, stderr=self.log)
        wait_until_up(self.base, self.process, self._written)

    def _written(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Stop it with `sig`; what it wrote to standard error (the log)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout=60)
        written = self._written()
        self.log.close()
        return written
