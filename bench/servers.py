"""Start, wait for and stop the servers under test, and read their peak memory."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu_seconds(self) -> float:
        """User and system CPU time used so far by the server's processes."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in _tree(self.process.pid):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def peak_rss_mb(self) -> float:
        """The largest peak resident size among the server's processes (a worker's)."""
        peaks = [_vm_hwm_kb(pid) for pid in _tree(self.process.pid)]
        return max(peaks, default=0) / 1024


def _vm_hwm_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += children.get(pid, [])
    return found


def _wait(server: Server, path: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.base + path, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer {path} within {seconds} s")


@contextlib.contextmanager
def running(
    name: str,
    command: list[str],
    port: int,
    env: dict[str, str],
    log: Path,
    ready: str,
    cwd: Path = ROOT,
) -> Iterator[Server]:
    """A server in its own process group, stopped (group and all) on the way out. `python -m`
    imports from `cwd` before PYTHONPATH: another checkout's server runs in that checkout."""
    with socket.socket() as probe:  # a stray server there would answer in our place
        if probe.connect_ex((HOST, port)) == 0:
            raise RuntimeError(f"port {port} is already in use; stop what listens there")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(name, port, process)
    try:
        _wait(server, ready)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def app_command(workers: int, port: int, server: str = "uvicorn") -> list[str]:
    return [
        str(VENV_BIN / "battery-intel"),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--server",
        server,
    ]


def floor_command(workers: int, port: int, module: str = "bench.floor") -> list[str]:
    """The floor, or with module="bench.framework" the same reads behind bare FastAPI."""
    return [str(VENV_BIN / "python"), "-m", "bench.uvicorn_workers", f"{module}:app", str(port),
            str(workers)]  # fmt: skip
