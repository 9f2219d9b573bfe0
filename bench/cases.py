"""The benchmark cases: the paths each server is loaded with, and the cases a single
client measures end to end (CSV export, batch upserts, change-feed catch-up)."""

import contextlib
import datetime as dt
import http.client
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from app.market.products import EnergyDensity
from app.resources.changelog import Change

ED = "/api/v1/energy-densities"
FILTERS = [
    (s, lv)
    for s in ("claimed", "targeted", "measured", "certified")
    for lv in ("cell", "module", "pack")
]
DEEP_PAGES = 20  # a deep page: 20 pages (1000 rows) into its list
SEARCHES = ["motors 1", "energy 12", "cell 3", "report 4", "milestone 7"]


@dataclass(frozen=True)
class Load:
    """A load case: the paths per target (None: the target cannot express it)."""

    name: str
    app: list[str]
    floor: list[str] | None = None
    datasette: list[str] | None = None
    framework: list[str] | None = None  # bench.framework serves the floor's paths
    connections: int = 16


def _page_path(status: str, level: str, extra: str = "") -> str:
    return f"{ED}?status={status}&level={level}&sort=-value_min&limit=50{extra}"


def _walk_app(client: httpx.Client, path: str, pages: int) -> str:
    for _ in range(pages):
        cursor = client.get(path).raise_for_status().json()["next_cursor"]
        path = str(httpx.URL(path).copy_set_param("cursor", cursor))
    return path


def _walk_datasette(client: httpx.Client, path: str, pages: int) -> str:
    for _ in range(pages):
        token = client.get(path).raise_for_status().json()["next"]
        path = str(httpx.URL(path).copy_set_param("_next", token))
    return path


def loads(app: str, datasette: str | None, db_name: str, engine: Engine) -> list[Load]:
    """Paths for every load case, made against the data (ids sampled, deep cursors walked)."""
    with engine.connect() as connection:
        ids = [
            str(i)
            for i in connection.scalars(
                select(col(EnergyDensity.id)).order_by(col(EnergyDensity.id)).limit(200)
            )
        ]
    table = f"/{db_name}/energy_densities"
    dpage = "&_sort_desc=value_min&_size=50&_nocount=1&_nofacet=1&_shape=objects"
    with httpx.Client(base_url=app, timeout=120) as client:
        first = [_page_path(s, lv) for s, lv in FILTERS]
        # One filter, so that even S has 20 pages (1000 rows) to walk into.
        statuses = sorted({s for s, _ in FILTERS})
        deep = [
            _walk_app(client, f"{ED}?status={s}&sort=-value_min&limit=50", DEEP_PAGES)
            for s in statuses
        ]
    ds_first = [f"{table}.json?status={s}&level={lv}{dpage}" for s, lv in FILTERS]
    ds_deep = None
    if datasette:
        with httpx.Client(base_url=datasette, timeout=120) as client:
            ds_deep = [
                _walk_datasette(client, f"{table}.json?status={s}{dpage}", DEEP_PAGES)
                for s in statuses
            ]
    include = "&include=battery_partner,source"
    then = _midway(engine)
    return [
        Load(
            "get one",
            [f"{ED}/{i}" for i in ids],
            [f"{ED}/{i}" for i in ids],
            [f"{table}/{uuid.UUID(i).hex}.json?_shape=objects" for i in ids],
            [f"{ED}/{i}" for i in ids],
        ),
        Load("list page", first, first, ds_first if datasette else None, first),
        Load("list page, 20 deep", deep, deep, ds_deep, deep),
        Load(
            "list + include",
            [p + include for p in first],
            [p + include for p in first],
            framework=[p + include for p in first],
        ),
        # The same pages as the database held them halfway through its making (API.md §10).
        Load("list page, known_at", [f"{p}&known_at={then}" for p in first]),
        Load(
            "landscape",
            ["/api/v1/landscape?limit=50", "/api/v1/landscape?limit=50&technology=semi_solid"],
            connections=4,
        ),
        Load(
            "stats",
            [
                "/api/v1/stats/energy-density?group_by=technology",
                "/api/v1/stats/energy-density?group_by=level&status=measured",
            ],
            connections=2,
        ),
        Load(
            "search q=",
            [f"/api/v1/search?q={q.replace(' ', '%20')}" for q in SEARCHES],
            [f"/api/v1/search?q={q.replace(' ', '%20')}" for q in SEARCHES],
            connections=4,
        ),
    ]


def _midway(engine: Engine) -> str:
    """The instant halfway between the dataset's first and last change, as known_at takes it."""
    with engine.connect() as connection:
        first, last = connection.execute(
            select(func.min(col(Change.changed_at)), func.max(col(Change.changed_at)))
        ).one()
    middle: dt.datetime = first + (last - first) / 2
    return middle.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def csv_export(base: str, path: str) -> dict[str, Any]:
    """Every energy-density record as CSV, by one client: rows/s."""
    rows, started = -1, time.perf_counter()  # the header is not a row
    with httpx.Client(base_url=base, timeout=600) as client, client.stream("GET", path) as answer:
        answer.raise_for_status()
        for line in answer.iter_lines():
            rows += bool(line)
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


def feed_catch_up(
    base: str, max_changes: int, seconds: float, client: str = "http.client"
) -> dict[str, Any]:
    """Follow /changes from 0 with pages of 1000, up to `max_changes` or `seconds`, parsing
    each page with orjson; the client's own parsing is timed apart, so what the service
    serves (`served_per_s`) is told from what one Python client keeps up with. The client
    is the standard library's keep-alive `http.client` (one read of the whole body);
    `client="httpx"` reads through httpx (h11) instead, to show what the client's own HTTP
    stack costs."""
    after, seen, parsing, started = 0, 0, 0.0, time.perf_counter()
    with _pages(base, client) as fetch:
        while seen < max_changes and time.perf_counter() - started < seconds:
            body = fetch(f"/api/v1/changes?after={after}&limit=1000")
            clock = time.perf_counter()
            page = orjson.loads(body)
            parsing += time.perf_counter() - clock
            if not page["items"]:
                break
            seen += len(page["items"])
            after = page["next_after"]
    elapsed = time.perf_counter() - started
    return {
        "changes": seen,
        "seconds": elapsed,
        "changes_per_s": seen / elapsed,
        "client_parse_s": parsing,
        "served_per_s": seen / (elapsed - parsing),
        "client": client,
    }


@contextlib.contextmanager
def _pages(base: str, client: str) -> Iterator[Callable[[str], bytes]]:
    """GET a path, the body as bytes, over one kept-alive connection."""
    if client == "httpx":
        with httpx.Client(base_url=base, timeout=120) as session:
            yield lambda path: session.get(path).raise_for_status().content
        return
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=120)

    def fetch(path: str) -> bytes:
        connection.request("GET", path)
        answer = connection.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {path}: {answer.status} {body[:200]!r}")
        return body

    try:
        yield fetch
    finally:
        connection.close()


VIEWS = {  # one client, one request at a time: what an analyst waits for
    "search": [f"/api/v1/search?q={q.replace(' ', '%20')}" for q in SEARCHES],
    "landscape, first page": ["/api/v1/landscape?limit=50",
                              "/api/v1/landscape?limit=50&technology=semi_solid"],
    **{f"stats by {group}": [f"/api/v1/stats/energy-density?group_by={group}"]
       for group in ("technology", "battery_partner", "level", "year")},
    "stats by level, measured": ["/api/v1/stats/energy-density?group_by=level&status=measured"],
}  # fmt: skip


def view_latency(base: str, paths: list[str], requests: int = 20) -> dict[str, Any]:
    """`requests` answers, one at a time, cycling through `paths` (after one of each to warm
    up): the median and worst time a single client waits."""
    timings = []
    with httpx.Client(base_url=base, timeout=120) as client:
        for path in paths:
            client.get(path).raise_for_status()
        for index in range(requests):
            started = time.perf_counter()
            client.get(paths[index % len(paths)]).raise_for_status()
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {"p50_ms": timings[len(timings) // 2], "max_ms": timings[-1], "requests": requests}


PUT_FIELDS = (
    "battery_partner_id",
    "battery_id",
    "partnership_id",
    "value_min",
    "value_max",
    "unit",
    "level",
    "status",
    "as_of",
    "source_id",
)


def energy_rows(engine: Engine, round_: int, size: int) -> list[dict[str, Any]]:
    """Round `round_`'s `size` energy densities (by id), as the table holds them."""
    table: Any = EnergyDensity.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        query = select(table).order_by(table.c.id).offset(round_ * size).limit(size)
        return [dict(row._mapping) for row in connection.execute(query)]


def core_upsert(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Rows through a bare SQLAlchemy Core INSERT … ON CONFLICT DO UPDATE, one transaction:
    the baseline of the batch cases (here and in bench/batch_probe.py)."""
    table: Any = EnergyDensity.__table__  # type: ignore[attr-defined]
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    columns = [c.name for c in table.columns if c.name != "id"]
    statement = statement.on_conflict_do_update(
        index_elements=["id"], set_={c: statement.excluded[c] for c in columns}
    )
    with engine.begin() as connection:
        connection.execute(statement, rows)


def core_update(engine: Engine, rows: list[dict[str, Any]], note: str) -> None:
    """The rows changed through Core as a batch of PUTs changes them: note, time, version."""
    now = dt.datetime.now(dt.UTC)
    core_upsert(
        engine,
        [{**row, "note": note, "updated_at": now, "version": row["version"] + 1} for row in rows],
    )


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID | dt.date) else value


def put_operations(rows: list[dict[str, Any]], note: str) -> list[dict[str, Any]]:
    """A `/batch` operation for each energy-density row: PUT as it is, with a new note."""
    return [
        {
            "method": "PUT",
            "collection": "energy-densities",
            "id": str(row["id"]),
            "body": {**{f: _plain(row[f]) for f in PUT_FIELDS}, "note": note},
        }
        for row in rows
    ]


def batch_upserts(base: str, key: str, engine: Engine, rounds: int) -> dict[str, Any]:
    """Rounds of 1000 PUTs of existing energy densities through /batch (each a real change,
    with its change-log entry), against Core upserts of the same rows in the same run.
    Core goes first in each round, so the batch leaves rows and change log in step."""
    timing = {"batch": 0.0, "core": 0.0}
    done = 0
    with httpx.Client(base_url=base, timeout=600) as client:
        for round_ in range(rounds):
            rows = energy_rows(engine, round_, 1000)
            stamp = f"{time.time_ns()}"
            started = time.perf_counter()
            core_update(engine, rows, f"core {stamp}")
            timing["core"] += time.perf_counter() - started
            operations = put_operations(rows, f"bench {stamp}")
            started = time.perf_counter()
            answer = client.post(
                "/api/v1/batch",
                json={"atomic": True, "operations": operations},
                headers={"Authorization": f"Bearer {key}"},
            )
            timing["batch"] += time.perf_counter() - started
            answer.raise_for_status()
            done += len(rows)
    return {
        "records": done,
        "batch_records_per_s": done / timing["batch"],
        "core_records_per_s": done / timing["core"],
    }
