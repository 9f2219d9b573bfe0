"""Postgres' hottest read on the event loop: one record, without a threadpool trip.

`app.db.read` sends a Postgres read to the threadpool, since it waits on the network. For
a GET of one record that trip costs more than the query: issue 19's profile put it at 18%
of the GIL's time, which bare FastAPI does not pay. So a record by id or slug, one
indexed statement, is read here instead, on psycopg's async connections: the statement that
`Prepared` compiles for the engine's dialect, its rows through SQLAlchemy's result
processors, so the answer is byte for byte the engine's (bench/RESULTS.md has the gain).
Every other read keeps the engine, its events and its threadpool.

The connections are kept here, not in psycopg_pool: its pool connects in the background
and a request waits up to its timeout for one, where the engine's pool connects on demand
and fails at once when the server is down, which the client sees as a 503 with
Retry-After. The same is kept here: a connection is made when none is idle, and its error
is SQLAlchemy's, so app.problems answers it as it answers the engine's.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from app.db import IDLE_BEFORE_PING_S, Prepared, processed

# A read holds its connection for one round trip, so a few serve thousands a second; with
# the engine's (app.db.PG_POOL_SIZE) a worker keeps 10 connections and opens 20 at most.
OPEN_MAX = 4
IDLE_MAX = 4


class LoopReads:
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

    async def first(self, prepared: Prepared, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The statement's first row, as `Prepared.first` gives it on the engine."""
        compiled = prepared.compiled_for(self.dialect)
        sql, values = compiled.sql, compiled.parameters(params)
        try:
            async with self._connection() as connection:
                cursor = await connection.execute(sql, values)
                row = await cursor.fetchone()
                processors = compiled.processors_for(cursor.description or ())
        except psycopg.Error as exc:
            raise DBAPIError.instance(sql, values, exc, psycopg.Error) from exc
        return None if row is None else processed([row], processors)[0]

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
