"""Wakes long-polls on `/changes` as soon as a change commits, in any process.

In this process, the change log announces every commit (`changelog.on_commit`). Other
processes and replicas are heard through one watcher per process, never one per waiting
client: on Postgres a thread LISTENing on the changes channel (the writer's NOTIFY
arrives at its commit); on SQLite, which has no notifications, a task that reads the
head twice a second, and only while somebody is waiting. A waiting client holds no
database connection.
"""

import asyncio
import contextlib
import logging
import threading

import psycopg
from sqlalchemy import Engine

from app.db import read_session
from app.resources import changelog

log = logging.getLogger(__name__)
POLL_S = 0.5
LISTEN_TIMEOUT_S = 1.0


class Hub:
    def __init__(self) -> None:
        self.head = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()
        self._waiters = 0
        self._closing = False

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()
        self._closing = False
        self.head = 0  # the watcher catches up

    def changed(self, seq: int) -> None:
        """A change up to `seq` committed (from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                self._loop.call_soon_threadsafe(self._advance, seq)

    def _advance(self, seq: int) -> None:
        if seq > self.head:
            self.head = seq
            self._event.set()
            self._event = asyncio.Event()

    def close(self) -> None:
        """Shutting down: answer every long-poll now."""
        self._closing = True
        self._event.set()

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def waiting(self) -> int:
        return self._waiters

    async def wait_beyond(self, seq: int, timeout: float) -> None:
        """Return when a change after `seq` has committed, or after `timeout` seconds."""
        if self.head > seq or self._closing:
            return
        self._waiters += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
        finally:
            self._waiters -= 1


hub = Hub()


@changelog.on_commit
def changed(seq: int) -> None:
    hub.changed(seq)


class Watcher:
    """Hears changes committed by other processes; one per process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.engine.dialect.name == "postgresql":
            self._thread = threading.Thread(target=self._listen, name="changes-listen", daemon=True)
            self._thread.start()
        else:
            self._task = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # The listener thread sees the flag within LISTEN_TIMEOUT_S and closes its own
        # connection; shutdown does not wait for it.

    def _listen(self) -> None:
        conninfo = self.engine.url.set(drivername="postgresql").render_as_string(False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {changelog.CHANNEL}")
                    self._catch_up(connection)
                    while not self._stop.is_set():
                        for note in connection.notifies(timeout=LISTEN_TIMEOUT_S):
                            changed(int(note.payload))
            except (psycopg.Error, ValueError) as exc:
                log.warning("change listener reconnecting: %s", exc)
                self._stop.wait(LISTEN_TIMEOUT_S)

    def _catch_up(self, connection: psycopg.Connection[tuple[int]]) -> None:
        row = connection.execute("SELECT seq FROM change_head WHERE id = 1").fetchone()
        if row:
            changed(int(row[0]))

    async def _poll(self) -> None:
        first = True
        while not self._stop.is_set():
            if not first:
                await asyncio.sleep(POLL_S)
            if hub.waiting or first:
                first = False
                with contextlib.suppress(Exception):  # an outage: the next tick retries
                    changed(await asyncio.to_thread(_read_head, self.engine))


def _read_head(engine: Engine) -> int:
    with read_session(engine) as session:
        return changelog.head(session)
