"""Export, import, restore and backup (API.md §9, Export and import): one snapshot per
export, every bad line named, a restore that keeps ETags, an online SQLite backup."""

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.actor import CLI
from app.db import get_engine
from app.market.demo import seed
from app.schema import upgrade
from app.sync.imports import import_lines, read_jsonl
from tests.builders import API, create, payload_for
from tests.conftest import POSTGRES_URL, fresh_database
from tests.live import ROOT, Server, cli


def _replayed(changes: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """What the feed's changes leave: each live record's version."""
    live: dict[tuple[str, str], int] = {}
    for change in changes:
        key = (change["collection"], change["id"])
        if change["op"] == "delete":
            live.pop(key, None)
        else:
            live[key] = change["version"]
    return live


def _feed(client: TestClient | httpx.Client, upto: int) -> list[dict[str, Any]]:
    items, after = [], 0
    while after < upto:
        page = client.get(f"{API}/changes", params={"after": after, "limit": 1000}).json()
        items += [c for c in page["items"] if c["seq"] <= upto]
        after = page["next_after"]
    return items


def test_an_export_is_one_snapshot_while_writers_commit(
    client: TestClient, live_server: str, auth: dict[str, str]
) -> None:
    for n in range(120):  # several pages of 500 would take long; many small pages do
        create(client, "sources", slug=f"before-{n}")
    stop = threading.Event()

    def write() -> None:
        with httpx.Client(base_url=live_server, headers=auth, timeout=30) as http:
            n = 0
            while not stop.is_set():
                n += 1
                maker = {"slug": f"p-{n}", "name": f"P {n}", "country": "CN"}
                partner = http.post(f"{API}/battery-partners", json=maker).json()
                battery = {"slug": f"b-{n}", "name": f"B {n}", "technology": "liquid",
                           "battery_partner_id": partner["id"]}  # fmt: skip
                http.post(f"{API}/batteries", json=battery)
                http.patch(f"{API}/sources/before-{n % 120}", json={"note": f"edit {n}"})

    writer = threading.Thread(target=write)
    writer.start()
    lines = []
    try:
        with httpx.stream("GET", f"{live_server}{API}/export", timeout=60) as answer:
            for line in answer.iter_lines():  # slowly: the writers commit in between
                lines.append(json.loads(line))
                time.sleep(0.002)
    finally:
        stop.set()
        writer.join(timeout=30)
    next_after = lines[-1]["next_after"]
    records = lines[:-1]
    exported = {(r["collection"], r["record"]["id"]): r["record"]["version"] for r in records}
    assert exported == _replayed(_feed(client, next_after)), "exactly what the feed leaves"
    later = client.get(f"{API}/changes", params={"after": next_after}).json()["items"]
    assert later, "the writers committed while the export ran"
    ids = {r["record"]["id"] for r in records}
    for r in records:
        for field, value in r["record"].items():
            if field.endswith("_id") and value is not None:
                assert value in ids, f"{r['collection']}.{field} resolves within the file"


def test_an_import_names_every_bad_line(client: TestClient, engine: Engine) -> None:
    source = payload_for(client, "sources")
    maker_id = "3d1c1a9e-0000-4000-8000-000000000001"
    lines = [
        {"collection": "sources", "record": source},  # 1 fine
        {"collection": "sources", "record": {**source, "slug": "x", "kind": "gossip"}},  # 2 rules
        {"collection": "automakers",
         "record": {"id": maker_id, "slug": "nio", "name": "NIO", "country": "CN"}},  # 3 fine
        {"collection": "batteries", "record": {"slug": "cell", "name": "Cell",
         "battery_partner_id": "nobody", "technology": "liquid"}},  # 4 reference
        {"collection": "sources", "record": {**source, "title": "Again"}},  # 5 duplicate slug
        {"collection": "automakers",
         "record": {"id": maker_id, "slug": "nio-2", "name": "NIO", "country": "CN"}},  # 6 id
    ]  # fmt: skip
    parsed, bad = read_jsonl(json.dumps(line) for line in lines)
    result = import_lines(engine, parsed, CLI, unreadable=bad)
    named = dict(result.rejected)
    assert sorted(named) == [2, 4, 5, 6], result.rejected
    assert named[2].startswith("body.kind")
    assert named[4].startswith("body.battery_partner_id")
    assert named[5].startswith("body.slug")
    assert "line 3" in named[6]
    assert client.get(f"{API}/sources?count=true").json()["total"] == 0, "nothing changed"
    assert client.get(f"{API}/automakers?count=true").json()["total"] == 0


@pytest.fixture
def restored_url(tmp_path: Path) -> Iterator[str]:
    yield from fresh_database(tmp_path, "restored")


def test_restore_keeps_ids_versions_and_times(
    client: TestClient, engine: Engine, restored_url: str, tmp_path: Path
) -> None:
    seed(engine)
    nio = client.get(f"{API}/automakers/nio").json()
    for n in range(3):  # versions above 1, updated_at after created_at
        client.patch(f"{API}/automakers/nio", json={"description": f"Edit {n}"})
    from app.sync.export import export_lines

    backup = tmp_path / "export.jsonl"
    backup.write_text("".join(export_lines(engine)), encoding="utf-8")
    upgrade(restored_url)
    cli(restored_url, "import", "--restore", str(backup))
    again = cli(restored_url, "export")
    assert sorted(again.splitlines()[:-1]) == sorted(backup.read_text().splitlines()[:-1])
    server = Server(restored_url)
    try:
        answer = httpx.get(f"{server.base}{API}/automakers/nio")
        record = answer.json()
        assert (record["id"], record["version"], record["created_at"]) == (
            nio["id"], 4, nio["created_at"])  # fmt: skip
        old_tag = client.get(f"{API}/automakers/nio").headers["etag"]
        assert answer.headers["etag"] == old_tag
        unchanged = httpx.get(
            f"{server.base}{API}/automakers/nio", headers={"If-None-Match": old_tag}
        )
        assert unchanged.status_code == 304, "a client's ETag still matches after the restore"
        history = httpx.get(f"{server.base}{API}/automakers/nio/history").json()["items"]
        assert [(h["op"], h["version"]) for h in history] == [("create", 4)]
    finally:
        server.stop()
    # A second restore finds records there and refuses, changing nothing.
    refused = subprocess.run([sys.executable, "-m", "app.cli", "import", "--restore", str(backup)],
                             env={"DATABASE_URL": restored_url, "PATH": ""}, cwd=ROOT,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert refused.returncode != 0
    assert "already holds" in refused.stderr
    assert cli(restored_url, "export") == again
    get_engine(restored_url).dispose()


def test_backup_copies_a_live_sqlite_database_consistently(
    migrated: tuple[str, str], tmp_path: Path
) -> None:
    url, key = migrated
    if POSTGRES_URL:
        done = subprocess.run([sys.executable, "-m", "app.cli", "backup", str(tmp_path / "x")],
                              env={"DATABASE_URL": url, "PATH": ""}, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode != 0
        assert "pg_dump" in done.stderr
        return
    server = Server(url)
    stop = threading.Event()

    def write() -> None:
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.base, headers=auth, timeout=30) as http:
            n = 0
            while not stop.is_set():
                n += 1
                http.post(f"{API}/sources", json={"slug": f"s-{n}", "title": "S", "kind": "report"})
                if n % 3 == 0:
                    http.delete(f"{API}/sources/s-{n - 1}")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.5)
        copies = [tmp_path / f"copy-{n}.db" for n in range(3)]
        for copy in copies:  # while the writer writes
            cli(url, "backup", str(copy))
            time.sleep(0.2)
    finally:
        stop.set()
        writer.join(timeout=30)
        server.stop()
    for copy in copies:
        with sqlite3.connect(copy) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            head = db.execute("SELECT seq FROM change_head").fetchone()[0]
            ops = db.execute("SELECT record_id, op FROM changes ORDER BY seq").fetchall()
            live: set[str] = set()
            for record_id, op in ops:
                (live.discard if op == "delete" else live.add)(record_id)
            stored = {row[0] for row in db.execute("SELECT id FROM sources")}
            assert head == len(ops) > 0
            assert stored == live, "the copy's records are what its own change log leaves"
