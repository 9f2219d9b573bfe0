"""The change feed under concurrent writers, and a real sync client following it."""

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.builders import API, create, payload_for
from tests.test_errors import assert_problem

WRITERS, WRITES_EACH = 8, 50
ROOT = Path(__file__).resolve().parent.parent


def _writer(base: str, payloads: list[dict[str, Any]], auth: dict[str, str]) -> int:
    """One create, then patches of it: 50 writes, each acknowledged."""
    with httpx.Client(base_url=base, timeout=60, headers=auth) as http:
        record = http.post(f"{API}/sources", json=payloads[0])
        assert record.status_code == 201, record.text
        url = f"{API}/sources/{record.json()['id']}"
        for n in range(1, WRITES_EACH):
            response = http.patch(url, json={"note": f"write {n}"})
            assert response.status_code == 200, response.text
    return WRITES_EACH


def test_a_follower_sees_every_change_once_while_eight_writers_commit(
    client: TestClient, live_server: str, auth: dict[str, str]
) -> None:
    start = client.get(f"{API}/changes").json()["next_after"]
    payloads = [[payload_for(client, "sources")] for _ in range(WRITERS)]
    seen: list[dict[str, Any]] = []
    writers_done = threading.Event()

    def follow() -> None:
        after = start
        with httpx.Client(base_url=live_server, timeout=60, headers=auth) as http:
            while True:
                page = http.get(f"{API}/changes", params={"after": after, "wait": 1}).json()
                seen.extend(page["items"])
                after = page["next_after"]
                if writers_done.is_set() and not page["items"]:
                    return

    reader = threading.Thread(target=follow)
    reader.start()
    with ThreadPoolExecutor(WRITERS) as pool:
        written = sum(pool.map(lambda p: _writer(live_server, p, auth), payloads))
    writers_done.set()
    reader.join(timeout=120)
    assert written == WRITERS * WRITES_EACH
    seqs = [c["seq"] for c in seen]
    assert seqs == list(range(start + 1, start + 1 + written)), "every change once, no gaps"
    versions = Counter((c["id"], c["version"]) for c in seen)
    assert max(versions.values()) == 1
    per_record: dict[str, list[int]] = {}
    for change in seen:
        per_record.setdefault(change["id"], []).append(change["version"])
    assert all(v == list(range(1, WRITES_EACH + 1)) for v in per_record.values())


def _mirror(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    with sqlite3.connect(path) as mirror:
        rows = mirror.execute("SELECT collection, id, record FROM records").fetchall()
    return {(c, i): json.loads(r) for c, i, r in rows}


def _export(base: str) -> dict[tuple[str, str], dict[str, Any]]:
    lines = httpx.get(f"{base}{API}/export").text.splitlines()
    items = [json.loads(line) for line in lines]
    return {(i["collection"], i["record"]["id"]): i["record"] for i in items if "record" in i}


def test_the_example_sync_client_keeps_an_equal_mirror(
    client: TestClient, live_server: str, auth: dict[str, str], tmp_path: Path
) -> None:
    early = [create(client, "batteries") for _ in range(3)]
    mirror = tmp_path / "mirror.db"
    command = [sys.executable, str(ROOT / "examples" / "sync_client.py"), "--api", live_server,
               "--mirror", str(mirror), "--wait", "1", "--until-idle", "3",
               "--key", auth["Authorization"].removeprefix("Bearer ")]  # fmt: skip
    sync = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        create(client, "milestones", title="蔚来 milestone")
        client.patch(f"{API}/batteries/{early[0]['id']}", json={"cathode": "NCM811"})
        client.delete(f"{API}/batteries/{early[1]['id']}")
        client.post(f"{API}/batch", json={"operations": [
            {"method": "POST", "collection": "sources", "body": payload_for(client, "sources")}
        ]})  # fmt: skip
        _, errors = sync.communicate(timeout=60)
    finally:
        sync.kill()
    assert sync.returncode == 0, errors
    assert _mirror(mirror) == _export(live_server)
    # 3 batteries and their 3 makers, one battery deleted, a milestone and its automaker,
    # and the batch's source.
    assert len(_mirror(mirror)) == 3 + 3 - 1 + 2 + 1


def test_a_position_beyond_the_head_is_a_400_at_once(client: TestClient) -> None:
    create(client, "sources")
    head = client.get(f"{API}/changes").json()["next_after"]
    started = time.monotonic()
    for params in ({"after": head + 1}, {"after": head + 1000, "wait": 30}):
        problem = assert_problem(client.get(f"{API}/changes", params=params), 400)
        assert problem["errors"][0]["field"] == "query.after"
        assert str(head) in problem["detail"]
        assert problem["head"] == head
    assert time.monotonic() - started < 5, "no waiting on a position that cannot come"
    assert client.get(f"{API}/changes", params={"after": head}).status_code == 200
