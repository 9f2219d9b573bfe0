"""One database setup for the app, the CLI and Alembic: engines, pragmas, sessions."""

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from sqlalchemy import Connection, Dialect, Engine, Select, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.exc import OperationalError as DBAPIOperationalError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

SQLITE_BUSY_TIMEOUT_S = 30
# SQLite's page cache, per connection, in KiB. Its default (2 MB) holds an S-sized file's
# hot pages but not a million records': a list page's SQL at L took 3.0× as long as at S
# with it, 1.2× with 16 MB or more (bench/sqlite_sizes.py). The cache fills only as pages
# are read, so a small file never costs the whole of it.
SQLITE_CACHE_KIB = 16 * 1024
# A cap on the memory of all of a process's SQLite connections together (a process-wide
# pragma): past it, the caches recycle their least recent pages instead of growing. Each
# pooled connection has its own cache and a pool holds up to POOL_SIZE; uncapped, a worker's
# caches grew 57 MB more at L than at S (50d201e's run; the CSV export's bound is 50 MB).
# Two caches' worth: a worker's hot reads (records by id, planned list pages) go through
# the one connection app.loop_reads keeps, and the rest through the connection the pool
# returned last (LIFO), not every pooled one in turn (capped at three caches, the worker
# still grew 40 MB: bench/results/20261203T0914.json).
SQLITE_HEAP_LIMIT_KIB = 2 * SQLITE_CACHE_KIB
# SQLite takes its write lock at BEGIN IMMEDIATE; a deferred transaction that
# reads and then writes can fail with SQLITE_BUSY even with a busy timeout.
WRITE_OPTIONS = {"sqlite_begin": "IMMEDIATE"}
T = TypeVar("T")
# An execution option: this engine's statements are rewritten by an event (`Prepared` skips).
NEEDS_EVENTS = "battery_intel_needs_events"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _prepare_sqlite_folder(url: str) -> None:
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    # A folder that cannot be made is reported when a connection is tried: the
    # service still starts and answers 503 until it can (API.md §9, Settings).
    with contextlib.suppress(OSError):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def sqlite_busy_timeout(url: str) -> float:
    """How long a SQLite writer waits for another one: `?timeout=<seconds>` on the URL (as
    Python's sqlite3 names it), else SQLITE_BUSY_TIMEOUT_S. Past it, a write is a 503."""
    given = make_url(url).query.get("timeout")
    return float(given) if isinstance(given, str) else SQLITE_BUSY_TIMEOUT_S


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (the pysqlite recipe),
        # so writers can ask for BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA soft_heap_limit={SQLITE_HEAP_LIMIT_KIB * 1024}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode is not None:  # None: a read, each statement on its own (read_connection)
            # Straight to the driver: this runs before every write, on every connection.
            # Its error is wrapped as SQLAlchemy would (a lock held past the busy timeout
            # is then a 503 like any other unavailable database).
            try:
                connection.connection.driver_connection.execute(f"BEGIN {mode}")
            except sqlite3.Error as exc:
                raise DBAPIOperationalError(f"BEGIN {mode}", None, exc) from exc


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


# JSON columns (the change log's records, vehicle models) stored compact and in UTF-8, as
# the API writes JSON: the feed splices stored records into its answers unparsed.
JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """The engine for a URL, made once per process."""
    if is_sqlite(url):
        _prepare_sqlite_folder(url)
        busy = sqlite_busy_timeout(url)
        # LIFO: reads on the event loop take one connection at a time, and the one they get
        # is the one whose cache is hot (FIFO turns every pooled cache over in turn).
        engine = create_engine(
            url,
            connect_args={"timeout": busy},
            pool_use_lifo=True,
            pool_size=POOL_SIZE,
            max_overflow=0,
            **JSON_CODEC,
        )
        _configure_sqlite(engine, busy)
        # Try the folder again on every connection, so a fixed disk heals without a restart.
        event.listen(engine, "do_connect", lambda *_: _prepare_sqlite_folder(url))
        return engine
    # A server whose database was made as SQL_ASCII hands psycopg bytes unless asked
    # for UTF-8; the contract is UTF-8 throughout.
    engine = create_engine(
        url,
        **JSON_CODEC,
        pool_size=POOL_SIZE,
        max_overflow=0,
        connect_args={"client_encoding": "utf8"},
    )
    _ping_when_idle(engine)
    return engine


IDLE_BEFORE_PING_S = 1.0
# A worker's connections: up to this many through the engine, each kept open once a load
# has needed it, and on Postgres app.loop_reads' few beside them: 20 at most, as before.
# Kept, not overflow: with 6 kept and 10 more opened under load, each connection past the
# sixth was closed as it came back and opened again for the next request (on SQLite, with
# a cold page cache). A Postgres list page under 16 clients served 483 requests/s against
# 715 with 16 kept (bench/compare.py, the twelfth session); SQLite's bounded reads take one
# connection at a time on the event loop, but its writes and unbounded reads, in threads,
# follow the same rule. Servers are sized by it (max_connections 100 holds several processes).
POOL_SIZE = 16


def _ping_when_idle(engine: Engine) -> None:
    """pool_pre_ping, but only for a connection that has sat unused for a second: a ping
    is a round trip, as dear as a GET itself, and a connection that served a request
    moments ago is alive. After a restart of the server every idle connection fails its
    ping and is replaced (the pool retries the checkout); one returned in the last second
    can still fail its request with a 503, and that invalidates the rest of the pool."""

    @event.listens_for(engine, "checkin")
    def _stamp(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle = time.monotonic() - record.info.get("checked_in", float("-inf"))
        if idle < IDLE_BEFORE_PING_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(str(exc)) from exc


def dialect_insert(session: Session) -> Any:
    """INSERT with ON CONFLICT, which both databases have under one spelling."""
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert


def read_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def write_session(engine: Engine) -> Session:
    return Session(engine.execution_options(**WRITE_OPTIONS), expire_on_commit=False)


def refresh_sqlite_statistics(engine: Engine) -> None:
    """Give SQLite's planner statistics when it has none (a file made before migration 0005,
    which analyses): without them it misjudges every index. Statistics already there are
    kept; they came from a full ANALYZE. Sampled (analysis_limit) so that a start takes a
    second at most; a small sample is not enough, as it makes every value of an enum look
    rare. Best effort: a file that cannot be opened yet is reported by /readyz instead."""
    if engine.dialect.name != "sqlite":
        return  # Postgres' autovacuum keeps its statistics current
    with contextlib.suppress(Exception), engine.connect() as connection:
        driver: Any = connection.connection.driver_connection
        if driver.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            return
        driver.execute("PRAGMA analysis_limit=100000")
        driver.execute("ANALYZE")


def read_connection(engine: Engine) -> Connection:
    """A connection for reads, outside any transaction: each statement sees its own
    snapshot, as it would under Postgres' READ COMMITTED anyway, and a read costs one
    round trip instead of three (BEGIN, SELECT, ROLLBACK)."""
    connection = engine.connect()
    if connection.dialect.name == "sqlite":
        return connection.execution_options(sqlite_begin=None)
    return connection.execution_options(isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction that sees the database as it was at its first statement, however
    many statements follow and whatever commits meanwhile: REPEATABLE READ on Postgres (read
    only); on SQLite a deferred transaction, whose WAL snapshot lasts until it ends (writers
    go on meanwhile)."""
    options: dict[str, Any] = (
        {"sqlite_begin": "DEFERRED"}
        if engine.dialect.name == "sqlite"
        else {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    )
    with engine.connect().execution_options(**options) as connection, connection.begin():
        yield connection


def backup_sqlite(url: str, target: Path) -> None:
    """A consistent copy of a SQLite database that may be serving meanwhile, by SQLite's
    online backup API in one step (a read transaction: writers go on). Written beside
    `target` and moved into place, so a crash never leaves half a file there."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    source_path = str(make_url(url).database)
    with (
        contextlib.closing(sqlite3.connect(source_path, timeout=SQLITE_BUSY_TIMEOUT_S)) as source,
        contextlib.closing(sqlite3.connect(partial)) as copy,
    ):
        source.backup(copy)
    os.replace(partial, target)


class Prepared:
    """A statement compiled once for each dialect and run straight on the DBAPI cursor, with
    SQLAlchemy's own bind and result processors, so its rows hold what `execute` gives.
    For the hottest reads (a record by id): `Connection.execute` costs about 75 µs a
    statement over the driver's 30 on SQLite, in per-call bookkeeping this skips.

    Engine events are skipped too: `runs_on` says when it must not be used (a read
    `known_at` an instant is rewritten by one, app.resources.versions)."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, Compiled] = {}

    @staticmethod
    def runs_on(connection: Connection) -> bool:
        return not connection.get_execution_options().get(NEEDS_EVENTS, False)

    def first(self, connection: Connection, params: dict[str, Any]) -> tuple[Any, ...] | None:
        found = self.all(connection, params)
        return found[0] if found else None

    def all(self, connection: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return processed(*self.compiled_for(connection.dialect).run(connection, params))

    def compiled_for(self, dialect: Dialect) -> "Compiled":
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = Compiled(self.statement, dialect)
        return compiled


class Compiled:
    """A statement compiled for one dialect, run on the DBAPI cursor: its SQL, its bound
    parameters by compiled name (`bound`), and SQLAlchemy's bind and result processors."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled: Any = statement.compile(dialect=dialect)
        self.sql: str = compiled.string
        self.positional: list[str] | None = compiled.positiontup
        self.bound: dict[str, Any] = dict(compiled.binds)
        self.binds = {
            name: bind.type._cached_bind_processor(dialect) for name, bind in compiled.binds.items()
        }
        self.fixed = {  # the statement's own values (a LIMIT), beside those given each time
            name: bind.value for name, bind in compiled.binds.items() if bind.value is not None
        }
        self.types = [column[3] for column in compiled._result_columns]
        self.dialect = dialect
        self.processors: list[Any] | None = None  # from the first cursor's type codes

    def parameters(self, given: dict[str, Any]) -> Any:
        values = {**self.fixed, **given}
        for name, process in self.binds.items():
            if process is not None and values.get(name) is not None:
                values[name] = process(values[name])
        return values if self.positional is None else [values[n] for n in self.positional]

    def run(
        self, connection: Connection, params: dict[str, Any]
    ) -> tuple[Sequence[Any], list[Any]]:
        """The driver's rows, unprocessed, and the processor of each column (None: as is)."""
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            # SQLAlchemy's own run of a statement on a given cursor: its events (whatever
            # watches the SQL, tests counting queries, sees these too), and a driver's error
            # raised as SQLAlchemy's, its connection invalidated when the server is gone.
            connection._cursor_execute(cursor, self.sql, self.parameters(params))
            return cursor.fetchall(), self.processors_for(cursor)
        finally:
            cursor.close()

    def processors_for(self, cursor: Any) -> list[Any]:
        """Each column's result processor, which depends on the driver's type code for it:
        read from the first cursor that ran the statement. Only then: psycopg makes the
        `description` afresh at each access, an object a column (~15 µs for a figure's 15)."""
        if self.processors is None:
            self.processors = [
                kind._cached_result_processor(self.dialect, column[1])
                for kind, column in zip(self.types, cursor.description, strict=True)
            ]
        return self.processors


def processed(rows: Sequence[Any], processors: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows as SQLAlchemy's `execute` gives them: each value through its processor."""
    return [
        tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(processors, row, strict=True)
        )
        for row in rows
    ]


def read_now(engine: Engine, fn: Callable[[Connection], T]) -> T:
    with read_connection(engine) as connection:
        return fn(connection)


async def read(engine: Engine, fn: Callable[[Connection], T], *, bounded: bool = True) -> T:
    """A whole read (connection, queries, rows) at once. SQLite runs in this process and an
    indexed read of a record or a page takes less time than a threadpool trip, which under
    load also waits for the GIL: it runs right here. Postgres reads wait on the network,
    so they go to the threadpool: one trip a request. So does a read whose cost grows with
    the data (`count=true`, a text search): on the event loop it would stall every other
    request, while in a thread SQLite releases the GIL as it works. (A record by id or slug
    and a planned list page skip the engine altogether: app.loop_reads.)"""
    if engine.dialect.name == "sqlite" and bounded:
        return read_now(engine, fn)
    return await run_in_threadpool(read_now, engine, fn)


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _read_session(request: Request) -> Iterator[Session]:
    with read_session(_engine(request)) as session:
        yield session


def _write_session(request: Request) -> Iterator[Session]:
    with write_session(_engine(request)) as session:
        yield session


ReadSession = Annotated[Session, Depends(_read_session)]
WriteSession = Annotated[Session, Depends(_write_session)]
