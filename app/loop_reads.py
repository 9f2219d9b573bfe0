"""The hottest reads, one record by id or slug and a planned list page and its includes,
without the engine's per-call cost.

`app.db.read` reads through the engine: a connection from its pool, execution options, a
reset when it goes back. For a GET of one record that costs more than the query, so the
record is read here instead, with the statement that `Prepared` compiles for the engine's
dialect and its rows through SQLAlchemy's result processors, so the answer is byte for
byte the engine's (bench/RESULTS.md has the gains). So is a list page whose statement
app.resources.plans compiled (no `count`, no `known_at`; the landscape's kept rows too),
with each include one statement. Every other read keeps the engine, its events and, on
Postgres, its threadpool.

- Postgres (`LoopReads`): awaited on psycopg's async connections instead of a threadpool
  trip, which issue 19's profile put at 18% of the GIL's time. The connections are kept
  here, not in psycopg_pool: its pool connects in the background and a request waits up
  to its timeout for one, where the engine's pool connects on demand and fails at once
  when the server is down, which the client sees as a 503 with Retry-After. The same is
  kept here: a connection is made when none is idle, and its error is SQLAlchemy's, so
  app.problems answers it as it answers the engine's.
- SQLite (`SqliteReads`): on one connection the worker keeps, run right here on the event
  loop as `app.db.read` runs SQLite's bounded reads, without a pool checkout each time.
"""

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from sqlalchemy import Dialect, Engine
from sqlalchemy.exc import DBAPIError

from app.db import IDLE_BEFORE_PING_S, Compiled, Prepared, processed

# A read holds its connection for one round trip, so a few serve thousands a second; with
# the engine's (app.db.POOL_SIZE) a worker opens 20 at most.
OPEN_MAX = 4
IDLE_MAX = 4
log = logging.getLogger("battery_intel.loop_reads")


class _Reads:
    """What both databases' reads share: a record is the first row of its statement."""

    dialect: Dialect

    async def all(self, compiled: Compiled, params: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        raise NotImplementedError

    async def first(self, prepared: Prepared, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The statement's first row, as `Prepared.first` gives it on the engine."""
        rows, processors = await self.all(prepared.compiled_for(self.dialect), params)
        return processed(rows[:1], processors)[0] if rows else None


class LoopReads(_Reads):
    """Reads on the event loop that made it (one per worker, made by the app's lifespan)."""

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []  # (it, returned at)
        self._open = asyncio.Semaphore(OPEN_MAX)
        self._closed = False
        self.in_use = 0  # counted in the db_pool_connections_in_use metric

    async def all(self, compiled: Compiled, params: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        """The driver's rows, unprocessed, and each column's processor, as `Compiled.run`
        gives them on the engine: for a bounded read (a record, a planned list page)."""
        sql, values = compiled.sql, compiled.parameters(params)
        if log.isEnabledFor(logging.DEBUG):  # what the engine's events would have seen
            log.debug("%s", sql)
        try:
            async with self._connection() as connection:
                cursor = await connection.execute(sql, values)
                rows = await cursor.fetchall()
                processors = compiled.processors_for(cursor)
        except psycopg.Error as exc:
            raise DBAPIError.instance(sql, values, exc, psycopg.Error) from exc
        return rows, processors

    async def close(self) -> None:
        """Close the idle connections; those in use are closed as they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            await connection.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self._open:
            connection = await self._checkout()
            self.in_use += 1
            try:
                yield connection
            except BaseException:
                await connection.close()  # mid-statement, or broken: not worth keeping
                raise
            finally:
                self.in_use -= 1
            if len(self._idle) < IDLE_MAX and not connection.broken and not self._closed:
                self._idle.append((connection, time.monotonic()))
            else:
                await connection.close()

    async def _checkout(self) -> psycopg.AsyncConnection[Any]:
        """The connection returned last (its server pages are hot); one idle for a second
        pinged first, as the engine's are (app.db._ping_when_idle); else a new one."""
        while self._idle:
            connection, returned = self._idle.pop()
            if time.monotonic() - returned < IDLE_BEFORE_PING_S:
                return connection
            try:
                await connection.execute("SELECT 1")
                return connection
            except psycopg.Error:
                await connection.close()
        connection = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, client_encoding="utf8"
        )
        set_json_loads(orjson.loads, connection)  # as the engine's JSON_CODEC
        return connection


class SqliteReads(_Reads):
    """SQLite's reads of a record and of a planned list page on one connection of its own
    (one per worker, made by the app's lifespan). It is opened on first use, with the
    engine's pragmas and its page cache (a connection of the engine's, detached from its
    pool, which then neither counts nor resets it), and dropped after an error, so a file
    that cannot be opened yet is a 503 until it can. It holds the hot pages: the pool's
    connections serve the writes and the reads that grow (app.db.SQLITE_HEAP_LIMIT_KIB
    caps the two caches together)."""

    in_use = 0  # a read holds the connection only while it runs, within one loop step

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self._engine = engine
        self._driver: sqlite3.Connection | None = None

    async def all(self, compiled: Compiled, params: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        """The driver's rows, unprocessed, and each column's processor, as `Compiled.run`
        gives them on the engine: for a bounded read (a record, a planned list page)."""
        sql, values = compiled.sql, compiled.parameters(params)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s", sql)
        try:
            driver = self._driver or self._connect()
            cursor = driver.execute(sql, values)
            try:
                rows = cursor.fetchall()
                processors = compiled.processors_for(cursor)
            finally:
                cursor.close()
        except sqlite3.Error as exc:
            self._drop()
            raise DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc
        return rows, processors

    async def close(self) -> None:
        self._drop()

    def _connect(self) -> sqlite3.Connection:
        kept = self._engine.raw_connection()  # fails with the driver's own error
        driver = cast(sqlite3.Connection, kept.driver_connection)
        kept.detach()  # after which the proxy forgets the driver's connection
        self._driver = driver
        return driver

    def _drop(self) -> None:
        if self._driver is not None:
            with contextlib.suppress(sqlite3.Error):
                self._driver.close()
            self._driver = None


Reads = LoopReads | SqliteReads


def loop_reads(engine: Engine) -> Reads:
    """The reads of one record for this engine's database."""
    return LoopReads(engine) if engine.dialect.name == "postgresql" else SqliteReads(engine)
