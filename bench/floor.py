"""The floor: the benchmark's reads answered by a bare ASGI app, the raw driver and orjson.

    FLOOR_DATABASE_URL=sqlite:///bench/data/S.db uvicorn bench.floor:app --port 8200

It serves the same URLs as the API for the cases it can express (one energy density,
a filtered page sorted by `-value_min` with or without `include`, its CSV, `q=` search
and the change feed) and runs the SQL the API runs, or better: row-value keyset
comparisons, no ORM, no validation, no middleware, bytes serialised once. It trusts
its input (it even reads the API's cursors without checking their signature), so it
is a ceiling on speed, not a service. SQLite runs on the event loop, one connection a
worker (in-process SQLite is faster than a thread hop); Postgres through psycopg's
async pool.
"""

import base64
import csv
import io
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast
from urllib.parse import parse_qsl

import orjson

URL = os.environ.get("FLOOR_DATABASE_URL", "sqlite:///bench/data/S.db")
SQLITE = URL.startswith("sqlite")
MARK = "?" if SQLITE else "%s"
TABLE = "energy_densities"
COLUMNS = (
    "id, version, created_at, updated_at, battery_partner_id, battery_id, partnership_id, "
    "value_min, value_max, unit, level, status, as_of, source_id, note"
)
INCLUDES = {
    "battery_partner": ("battery_partner_id", "battery_partners"),
    "source": ("source_id", "sources"),
}
Query = Callable[[str, tuple[Any, ...]], Awaitable[list[dict[str, Any]]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _key(value: str) -> Any:
    """An id as the driver binds it: SQLAlchemy stores UUIDs as 32 hex digits in SQLite."""
    return uuid.UUID(value).hex if SQLITE else uuid.UUID(value)


def _cursor_values(token: str) -> list[Any]:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))[8:]  # skip the MAC
    return list(json.loads(raw)["v"])


if SQLITE:
    import sqlite3

    _connection = sqlite3.connect(URL.split("///", 1)[1], check_same_thread=False)
    _connection.row_factory = sqlite3.Row

    async def fetch(sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [dict(row) for row in _connection.execute(sql, params)]

    async def lifespan() -> None:
        return None
else:
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    _pool = AsyncConnectionPool(
        URL.replace("+psycopg", ""),
        min_size=4,
        max_size=10,
        open=False,
        kwargs={"row_factory": dict_row, "autocommit": True},
    )

    async def fetch(sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        async with _pool.connection() as connection:
            cursor = await connection.execute(sql, params)
            return cast(list[dict[str, Any]], await cursor.fetchall())

    async def lifespan() -> None:
        await _pool.open()


async def one(path: str, _args: dict[str, str]) -> tuple[int, Any]:
    rows = await fetch(f"SELECT {COLUMNS} FROM {TABLE} WHERE id = {MARK}", (_key(path),))
    return (200, rows[0]) if rows else (404, {"title": "Not found"})


def _page_sql(args: dict[str, str], limit: int) -> tuple[str, tuple[Any, ...]]:
    where, params = [], []
    for name in ("status", "level", "unit"):
        if name in args:
            where.append(f"{name} = {MARK}")
            params.append(args[name])
    if "cursor" in args:
        value, last = _cursor_values(args["cursor"])
        where.append(f"(value_min, id) < ({MARK}, {MARK})")
        params += [value, _key(last)]
    sql = f"SELECT {COLUMNS} FROM {TABLE}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + f" ORDER BY value_min DESC, id DESC LIMIT {limit}", tuple(params)


async def page(_path: str, args: dict[str, str]) -> tuple[int, Any]:
    limit = int(args.get("limit", 50))
    rows = await fetch(*_page_sql(args, limit + 1))
    items = rows[:limit]
    for name in filter(None, args.get("include", "").split(",")):
        field, table = INCLUDES[name]
        ids = sorted({row[field] for row in items if row[field] is not None})
        marks = ", ".join([MARK] * len(ids))
        found = (
            await fetch(f"SELECT * FROM {table} WHERE id IN ({marks})", tuple(ids)) if ids else []
        )
        by_id = {row["id"]: row for row in found}
        for item in items:
            item[name] = by_id.get(item[field])
    return 200, {"items": items, "next_cursor": "more" if len(rows) > limit else None}


async def search(_path: str, args: dict[str, str]) -> tuple[int, Any]:
    text = args.get("q", "").lower()
    if SQLITE:
        sql = (
            "SELECT collection, record_id AS id, label FROM search_entries WHERE seq IN "
            "(SELECT rowid FROM search_fts WHERE search_fts MATCH ?) LIMIT 20"
        )
        params: tuple[Any, ...] = ('"' + text.replace('"', '""') + '"',)
    else:
        sql = (
            "SELECT collection, record_id AS id, label FROM search_entries "
            "WHERE text LIKE %s LIMIT 20"
        )
        params = (f"%{text}%",)
    return 200, {"items": await fetch(sql, params), "next_cursor": None}


async def changes(_path: str, args: dict[str, str]) -> tuple[int, Any]:
    after, limit = int(args.get("after", 0)), int(args.get("limit", 100))
    record = "record" if SQLITE else "record::text AS record"
    sql = (
        f"SELECT seq, collection, record_id AS id, op, version, changed_at, actor, {record} "
        f"FROM changes WHERE seq > {MARK} ORDER BY seq LIMIT {MARK}"
    )
    rows = await fetch(sql, (after, limit))
    for row in rows:  # stored as JSON text: spliced in, never parsed
        row["record"] = orjson.Fragment(row["record"]) if row["record"] else None
    return 200, {"items": rows, "next_after": rows[-1]["seq"] if rows else after}


async def csv_rows() -> AsyncIterator[bytes]:
    """Every row, a page at a time by keyset, as CSV: memory stays at one page."""
    header, chunk, after = None, 500, None
    while True:
        extra = f"WHERE id > {MARK} " if after is not None else ""
        sql = f"SELECT {COLUMNS} FROM {TABLE} {extra}ORDER BY id LIMIT {chunk}"
        rows = await fetch(sql, (after,) if after is not None else ())
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        if header is None:
            header = COLUMNS.split(", ")
            writer.writerow(header)
        writer.writerows([row[name] for name in header] for row in rows)
        yield buffer.getvalue().encode()
        if len(rows) < chunk:
            return
        after = rows[-1]["id"]


ROUTES: dict[str, Callable[[str, dict[str, str]], Awaitable[tuple[int, Any]]]] = {
    "/api/v1/energy-densities/": one,
    "/api/v1/energy-densities": page,
    "/api/v1/search": search,
    "/api/v1/changes": changes,
}


async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await lifespan()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    path: str = scope["path"]
    args = dict(parse_qsl(scope["query_string"].decode()))
    if path == "/api/v1/energy-densities" and args.get("format") == "csv":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/csv; charset=utf-8")],
            }
        )
        async for chunk in csv_rows():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    handler, rest = None, ""
    for prefix, candidate in ROUTES.items():
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            handler, rest = candidate, path[len(prefix) :]
            break
    status, body = (404, {"title": "Not found"}) if handler is None else await handler(rest, args)
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})
