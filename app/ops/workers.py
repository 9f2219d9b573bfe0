"""Several uvicorn workers, each listening on a socket of its own (SO_REUSEPORT).

uvicorn's workers share one listening socket, and the worker that wakes first accepts every
connection waiting (libuv accepts until the queue is empty). A client that opens its
connections at once and keeps them alive (a load test's 16, a partner's sync pool) can so
load one worker of two for as long as it stays connected, while the other idles: 3 rounds
of 8 in bench/worker_balance.py (bench/RESULTS.md, "Two workers, one busy"). With a socket
each, bound with SO_REUSEPORT, the kernel spreads new connections among the listening
workers by their addresses, and no worker can take another's.

uvicorn's own supervisor stays in charge (health checks, restarts, SIGHUP, SIGTTIN): it hands
every worker the list of sockets it was given, pickled across the spawn, and the list given
here unpickles in each worker as one new socket that worker binds for itself. A worker's
socket closes with it; connections the kernel had queued on it and no one accepted yet are
reset, which only a worker's exit (a restart, a crash, the shutdown) can cause.
"""

import logging
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("uvicorn.error")


def serve_uvicorn(config: uvicorn.Config) -> None:
    """Serve `config` as `uvicorn.run` would (Ctrl-C ends it quietly, exit 0), with a
    listening socket a worker when there are several (on Linux; elsewhere, uvicorn's one
    shared socket)."""
    server = uvicorn.Server(config)
    try:
        if config.workers > 1 and sys.platform == "linux":
            _supervise(config)
            return
        if config.workers > 1:  # SO_REUSEPORT spreads connections on Linux only
            Multiprocess(config, sockets=[config.bind_socket()]).run()
            return
        server.run()
    except KeyboardInterrupt:
        return  # uvicorn re-raises the SIGINT it handled once it has shut down
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _supervise(config: uvicorn.Config) -> None:
    """uvicorn's supervisor over workers that bind their own sockets. It first binds the
    address itself, without listening: a taken port fails at once, port 0 becomes one port
    every worker shares, and while it lives no process without SO_REUSEPORT can take the
    port between two workers' restarts."""
    try:
        reserved = _reuseport_socket(config.host, _free_port(config.host, config.port))
    except OSError as exc:
        logger.error(exc)
        sys.exit(STARTUP_FAILURE)
    with reserved:
        port = reserved.getsockname()[1]
        logger.info("Uvicorn running on http://%s:%d, a socket for each worker", config.host, port)
        Multiprocess(config, sockets=OwnSocket(config.host, port)).run()


class OwnSocket(list[socket.socket]):
    """Empty in the supervisor; in a worker, one socket that worker has just bound."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return _bound_in_worker, (self.host, self.port)


def _bound_in_worker(host: str, port: int) -> list[socket.socket]:
    try:
        return [_reuseport_socket(host, port)]
    except OSError as exc:
        # STARTUP_FAILURE tells the supervisor that restarting would fail the same way.
        logger.error(exc)
        sys.exit(STARTUP_FAILURE)


def _free_port(host: str, port: int) -> int:
    """`port` (or, for 0, one the kernel picks) if nothing is bound to it. Bound without
    SO_REUSEPORT, so that another instance of the service, whose sockets do use it, is found
    too: the kernel would otherwise let the two share the port and split its connections."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        probe.bind((host, port))
        free: int = probe.getsockname()[1]
        return free


def _reuseport_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
