"""Soak: mixed traffic for minutes at about half the measured peak, then the promises checked.

    .venv/bin/python bench/soak.py --db sqlite               # 10 minutes, serve --workers 2
    .venv/bin/python bench/soak.py --db postgres --minutes 10
    .venv/bin/python bench/soak.py --smoke                    # 20 s a database: what CI runs

The API serves a copy of the S dataset (bench/generate.py) with `--workers 2`. First the peak
of the mix is measured (closed loop, 16 connections); then requests are sent open loop at
half of it: reads (a record, list pages, includes, the landscape, search), writes (POST,
PATCH, PUT, DELETE), long-polls following /changes, and a CSV export of a whole collection
now and then. It passes when there were no errors, the p99 latency of the last minute is at
most 1.5× the first minute's, each worker's resident memory grew by less than 10 MB after
warming up, and the change feed read from 0 holds every acknowledged write exactly once.
A full run (`--record`) writes its figures into bench/RESULTS.md. The smoke checks only
that nothing failed and the feed holds every write: 20 s says nothing of latency drift or
memory growth. Only 127.0.0.1 is loaded.
"""

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import statistics
import sys
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlmodel import col

from app.db import get_engine
from app.market.products import EnergyDensity
from bench import servers
from bench.run import dataset_url, ensure_dataset, machine, write_key

BENCH = Path(__file__).resolve().parent
PORT = 18700
ED = "/api/v1/energy-densities"
START, END = "<!-- soak:start -->", "<!-- soak:end -->"
LONG_POLLERS = 3
Acknowledged = list[tuple[str, str, str, int]]  # (collection, id, op, version)
WARM_UP_S = 60  # memory is compared from here on: caches and pools are filled by then
# The mix of the open-loop phase, by weight: most traffic reads, as partners' and frontends' do.
MIX = {
    "get one": 30, "list page": 20, "list + include": 10, "landscape": 5, "search": 5,
    "post": 10, "patch": 8, "put": 6, "delete": 3,
}  # fmt: skip


@dataclass
class Tally:
    """What happened: per request (second, kind, seconds, status) and what was acknowledged."""

    samples: list[tuple[float, str, float, int]] = field(default_factory=list)
    acknowledged: Acknowledged = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    created: list[str] = field(default_factory=list)  # sources made, for DELETE to take
    exports: int = 0
    polls: int = 0


class Traffic:
    def __init__(self, client: httpx.AsyncClient, key: str, ids: list[str], tally: Tally) -> None:
        self.client, self.ids, self.tally = client, ids, tally
        self.auth = {"Authorization": f"Bearer {key}"}
        self.serial = 0

    async def one(self, kind: str, started: float) -> None:
        begun = time.perf_counter()
        try:
            status = await getattr(self, kind.replace(" + ", "_").replace(" ", "_"))()
        except httpx.HTTPError as exc:
            status = 599
            self.tally.errors[f"{kind}: {type(exc).__name__}"] += 1
        elapsed = time.perf_counter() - begun
        if status >= 400:
            self.tally.errors[f"{kind}: {status}"] += 1
        self.tally.samples.append((begun - started, kind, elapsed, status))

    def _id(self) -> str:
        return random.choice(self.ids)

    async def get_one(self) -> int:
        return (await self.client.get(f"{ED}/{self._id()}")).status_code

    async def list_page(self) -> int:
        level = random.choice(["cell", "module", "pack"])
        answer = await self.client.get(f"{ED}?level={level}&sort=-value_min&limit=50")
        return answer.status_code

    async def list_include(self) -> int:
        path = f"{ED}?status=claimed&limit=50&include=battery_partner,source"
        return (await self.client.get(path)).status_code

    async def landscape(self) -> int:
        return (await self.client.get("/api/v1/landscape?limit=50")).status_code

    async def search(self) -> int:
        q = random.choice(["motors 1", "energy 12", "cell 3", "report 4"])
        return (await self.client.get("/api/v1/search", params={"q": q})).status_code

    async def post(self) -> int:
        self.serial += 1
        body = {"slug": f"soak-{time.time_ns()}-{self.serial}", "title": "Soak", "kind": "report"}
        answer = await self.client.post("/api/v1/sources", json=body, headers=self.auth)
        if answer.status_code == 201:
            record = answer.json()
            self.tally.acknowledged.append(("sources", record["id"], "create", record["version"]))
            self.tally.created.append(record["id"])
        return answer.status_code

    async def patch(self) -> int:
        target = self._id()
        note = {"note": f"soak {time.time_ns()}"}
        answer = await self.client.patch(f"{ED}/{target}", json=note, headers=self.auth)
        return self._updated(answer, target)

    async def put(self) -> int:
        target = self._id()
        current = await self.client.get(f"{ED}/{target}")
        if current.status_code != 200:
            return current.status_code
        body = {**current.json(), "note": f"replaced {time.time_ns()}"}
        answer = await self.client.put(f"{ED}/{target}", json=body, headers=self.auth)
        return self._updated(answer, target)

    def _updated(self, answer: httpx.Response, target: str) -> int:
        if answer.status_code == 200:
            self.tally.acknowledged.append(
                ("energy-densities", target, "update", answer.json()["version"])
            )
        return answer.status_code

    async def delete(self) -> int:
        if not self.tally.created:
            return await self.post()
        target = self.tally.created.pop(random.randrange(len(self.tally.created)))
        answer = await self.client.delete(f"/api/v1/sources/{target}", headers=self.auth)
        if answer.status_code == 204:  # a delete's version is the record's last + 1
            self.tally.acknowledged.append(("sources", target, "delete", 2))
        return answer.status_code


async def _closed_loop(traffic: Traffic, seconds: float, connections: int = 16) -> float:
    """The mix as fast as it goes: requests/s."""
    kinds = [kind for kind, weight in MIX.items() for _ in range(weight)]
    done, deadline, started = 0, time.perf_counter() + seconds, time.perf_counter()

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await traffic.one(random.choice(kinds), started)
            done += 1

    await asyncio.gather(*(worker() for _ in range(connections)))
    return done / (time.perf_counter() - started)


async def _follow(client: httpx.AsyncClient, stop: asyncio.Event, tally: Tally) -> None:
    """A partner following the feed from 0, as a sync client does."""
    after = 0
    while not stop.is_set():
        answer = await client.get(f"/api/v1/changes?after={after}&limit=1000&wait=20", timeout=40)
        if answer.status_code != 200:
            tally.errors[f"long-poll: {answer.status_code}"] += 1
            return
        after = answer.json()["next_after"]
        tally.polls += 1


async def _export(client: httpx.AsyncClient, stop: asyncio.Event, tally: Tally) -> None:
    """A CSV of every energy density, every 30 s (streamed, as analysts pull it)."""
    while not stop.is_set():
        async with client.stream("GET", f"{ED}?format=csv", timeout=300) as answer:
            async for _ in answer.aiter_bytes():
                pass
            if answer.status_code != 200:
                tally.errors[f"csv export: {answer.status_code}"] += 1
        tally.exports += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 30)


async def _open_loop(traffic: Traffic, rate: float, seconds: float) -> None:
    """Requests started at `rate` a second whatever the answers take (at most 256 in flight)."""
    kinds = [kind for kind, weight in MIX.items() for _ in range(weight)]
    started = time.perf_counter()
    in_flight: set[asyncio.Task[None]] = set()
    for n in range(int(rate * seconds)):
        due = started + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        if len(in_flight) >= 256:
            traffic.tally.errors["client: 256 requests in flight"] += 1
            continue
        task = asyncio.create_task(traffic.one(random.choice(kinds), started))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)


def _rss_mb(server: servers.Server) -> dict[int, float]:
    """Resident memory of each worker (uvicorn's spawned processes), in MB."""
    sizes = {}
    for pid in servers._tree(server.process.pid):
        with contextlib.suppress(OSError):
            if b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue  # the supervisor, or multiprocessing's resource tracker
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[pid] = int(line.split()[1]) / 1024
    return sizes


async def _soak(
    base: str, key: str, ids: list[str], opts: argparse.Namespace, server: Any
) -> dict[str, Any]:
    tally = Tally()
    # A pooled connection is dropped before uvicorn's keep-alive timeout (5 s) ends it: one
    # reused just as the server closed it failed a GET with ReadError (a run of 2026-12-04).
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128, keepalive_expiry=4)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        traffic = Traffic(client, key, ids, tally)
        calibrate = min(10.0, max(2.0, opts.seconds / 10))
        peak = opts.rate * 2 if opts.rate else await _closed_loop(traffic, calibrate)
        tally.samples.clear()
        rate = peak / 2
        stop = asyncio.Event()
        background = [
            asyncio.create_task(_follow(client, stop, tally)) for _ in range(LONG_POLLERS)
        ]
        background.append(asyncio.create_task(_export(client, stop, tally)))
        memory: list[tuple[float, dict[int, float]]] = []

        async def watch() -> None:
            begun = time.perf_counter()
            while not stop.is_set():
                memory.append((time.perf_counter() - begun, _rss_mb(server)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5)

        watcher = asyncio.create_task(watch())
        await _open_loop(traffic, rate, opts.seconds)
        stop.set()
        await asyncio.gather(*background, watcher)
    return {"peak_rps": peak, "rate_rps": rate, "tally": tally, "memory": memory}


def _feed_holds_every_write(
    base: str, acknowledged: list[tuple[str, str, str, int]]
) -> dict[str, Any]:
    """Read the feed from 0; each acknowledged write must be there exactly once."""
    seen: Counter[tuple[str, str, str, int]] = Counter()
    after, total = 0, 0
    with httpx.Client(base_url=base, timeout=120) as client:
        while True:
            page = client.get(f"/api/v1/changes?after={after}&limit=1000").json()
            if not page["items"]:
                break
            for item in page["items"]:
                seen[(item["collection"], item["id"], item["op"], item["version"])] += 1
            total += len(page["items"])
            after = page["next_after"]
    counts = Counter(seen[write] for write in acknowledged)
    return {"changes_read": total, "acknowledged": len(acknowledged),
            "found_once": counts[1], "missing": counts[0],
            "repeated": sum(n for k, n in counts.items() if k > 1)}  # fmt: skip


def _minutes(samples: list[tuple[float, str, float, int]], width: float) -> list[dict[str, Any]]:
    buckets: dict[int, list[float]] = defaultdict(list)
    for second, _, elapsed, _ in samples:
        buckets[int(second // width)].append(elapsed * 1000)
    return [
        {"window": i, "requests": len(v), "p50_ms": statistics.median(v),
         "p99_ms": sorted(v)[min(len(v) - 1, int(0.99 * len(v)))]}
        for i, v in sorted(buckets.items())
    ]  # fmt: skip


def verdict(result: dict[str, Any], smoke: bool) -> list[str]:
    """The targets not met (empty: all met); a smoke judges only errors and the feed."""
    failed = []
    if result["errors"]:
        failed.append(f"errors: {result['errors']}")
    windows = result["windows"]
    first, last = windows[0]["p99_ms"], windows[-1]["p99_ms"]
    if not smoke and last > 1.5 * first:
        failed.append(f"p99 grew from {first:.1f} to {last:.1f} ms")
    if not smoke and any(growth >= 10 for growth in result["rss_growth_mb"].values()):
        failed.append(f"memory grew {result['rss_growth_mb']} MB")
    feed = result["feed"]
    if feed["missing"] or feed["repeated"]:
        failed.append(f"feed: {feed['missing']} missing, {feed['repeated']} repeated")
    return failed


def _soak_url(db: str, pg: str) -> str:
    """A copy of the S dataset to write into: bench/data/S.db (or bench_s) stays as made."""
    source = dataset_url(db, "S", pg)
    ensure_dataset(source, "S")
    if db == "sqlite":
        target = BENCH / "out" / "soak.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(source)
        with engine.begin() as connection:  # the WAL into the file, so one copy is whole
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        engine.dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(str(make_url(source).database), target)
        return f"sqlite:///{target}"
    get_engine(source).dispose()  # a template must have no other sessions
    admin = make_url(pg).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute('DROP DATABASE IF EXISTS "bench_soak" WITH (FORCE)')
        c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = 'bench_s' AND pid <> pg_backend_pid()"
        )
        c.execute('CREATE DATABASE "bench_soak" TEMPLATE "bench_s"')
    return str(make_url(pg).set(database="bench_soak"))


def run(opts: argparse.Namespace) -> dict[str, Any]:
    url = _soak_url(opts.db, opts.pg)
    engine = create_engine(url)
    with engine.connect() as connection:
        ids = [str(i) for i in connection.scalars(select(col(EnergyDensity.id)).limit(2000))]
    engine.dispose()
    key = write_key(url)
    env = {"DATABASE_URL": url, "LOG_LEVEL": "warning"}
    if opts.probe_memory:
        probe = opts.probe_memory / opts.db
        shutil.rmtree(probe, ignore_errors=True)
        env |= {"PYTHONPATH": str(BENCH / "memory_probe"), "MEMORY_PROBE_DIR": str(probe)}
    command = servers.app_command(opts.workers, PORT)
    log = BENCH / "out" / f"soak-{opts.db}.log"
    with servers.running("app", command, PORT, env, log, "/readyz") as server:
        soaked = asyncio.run(_soak(server.base, key, ids, opts, server))
        feed = _feed_holds_every_write(server.base, soaked["tally"].acknowledged)
    tally: Tally = soaked["tally"]
    memory = soaked["memory"]
    warm = next(
        (sizes for second, sizes in memory if second >= min(WARM_UP_S, opts.seconds / 3)),
        memory[0][1],
    )
    last = memory[-1][1]
    width = 60.0 if opts.seconds >= 180 else max(1.0, opts.seconds / 4)
    result = {
        "db": opts.db, "seconds": opts.seconds, "workers": opts.workers,
        "peak_rps": soaked["peak_rps"], "rate_rps": soaked["rate_rps"],
        "requests": len(tally.samples), "kinds": dict(Counter(s[1] for s in tally.samples)),
        "errors": dict(tally.errors), "exports": tally.exports, "long_polls": tally.polls,
        "windows": _minutes(tally.samples, width), "window_s": width,
        "rss_mb_warm": warm, "rss_mb_end": last,
        "rss_growth_mb": {pid: round(last.get(pid, 0) - size, 1) for pid, size in warm.items()},
        "rss_mb_by_window": _by_window(memory, width, opts.seconds),
        "feed": feed,
    }  # fmt: skip
    result["failed"] = verdict(result, opts.smoke)
    return result


def _by_window(
    memory: list[tuple[float, dict[int, float]]], width: float, seconds: float
) -> dict[int, list[float]]:
    """Each worker's RSS at the end of every window: whether growth levels off (a cache
    filling up to its cap) or keeps on (a leak) is read from this, not from one difference."""
    ends = [min(width * (k + 1), seconds) for k in range(int(-(-seconds // width)))]
    taken = [min(memory, key=lambda sample: abs(sample[0] - end))[1] for end in ends]
    return {pid: [round(sizes.get(pid, 0.0), 1) for sizes in taken] for pid in memory[-1][1]}


def _markdown(info: dict[str, str], results: list[dict[str, Any]]) -> str:
    lines = [
        START,
        f"Run of {info['date']} on commit {info['commit']}: {info['cpu']}, {info['memory']}, "
        f"{info['os']}, Python {info['python']}, SQLite {info['sqlite']}, {info['postgres']}.",
        "",
        "| database | seconds | peak req/s | sent at req/s | requests | errors | exports, "
        "long-polls | p99 first → last window (ms) | RSS growth per worker (MB) | "
        "acknowledged writes in the feed once | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        windows = r["windows"]
        growth = ", ".join(f"{g:+.1f}" for g in r["rss_growth_mb"].values())
        feed = r["feed"]
        lines.append(
            f"| {r['db']} | {r['seconds']:.0f} | {r['peak_rps']:.0f} | {r['rate_rps']:.0f} | "
            f"{r['requests']} | {sum(r['errors'].values())} | {r['exports']}, {r['long_polls']} | "
            f"{windows[0]['p99_ms']:.1f} → {windows[-1]['p99_ms']:.1f} | {growth} | "
            f"{feed['found_once']} of {feed['acknowledged']} ({feed['missing']} missing, "
            f"{feed['repeated']} repeated) | {'; '.join(r['failed']) or 'met'} |"
        )
    lines.append("")
    for r in results:
        curves = "; ".join(
            " → ".join(f"{mb:.0f}" for mb in sizes) for sizes in r["rss_mb_by_window"].values()
        )
        lines.append(f"RSS of each worker at each window's end, {r['db']} (MB): {curves}.")
    lines += ["", END]
    return "\n".join(lines)


def record(info: dict[str, str], results: list[dict[str, Any]]) -> None:
    path = BENCH / "RESULTS.md"
    text_ = path.read_text()
    if START not in text_:
        text_ += f"\n## Soak\n\n{START}\n{END}\n"
    head, rest = text_.split(START, 1)
    path.write_text(head + _markdown(info, results) + rest.split(END, 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--smoke", action="store_true", help="20 s; only errors and the feed.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, help="Requests/s to send (default: half the peak).")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--record", action="store_true", help="Write the figures into RESULTS.md.")
    parser.add_argument(
        "--probe-memory", type=Path, metavar="DIR",
        help="Each worker writes, each minute, what its memory holds into DIR/<db>/<pid>.jsonl "
        "(bench/memory_probe; with MEMORY_PROBE_TRACE=1 also tracemalloc, which slows them).",
    )  # fmt: skip
    opts = parser.parse_args()
    if opts.smoke:
        opts.seconds = min(opts.seconds, 20.0)
    warnings.simplefilter("ignore")
    info, results = machine(), []
    for db in opts.db.split(","):
        opts.db = db
        result = run(opts)
        print(json.dumps(result, default=str), flush=True)
        results.append(result)
    out = BENCH / "results" / ("soak.json" if opts.record else "soak-smoke.json")
    out.write_text(json.dumps({"machine": info, "results": results}, indent=1, default=str) + "\n")
    if opts.record:
        record(info, results)
    failed = [f"{r['db']}: {'; '.join(r['failed'])}" for r in results if r["failed"]]
    if failed:
        raise SystemExit("soak: " + " | ".join(failed))
    print("soak: every target met")


if __name__ == "__main__":
    main()
