"""Concurrent writers over real HTTP: they wait for each other, and no update is lost."""

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from tests.builders import API, create, payload_for

WRITERS, WRITES_EACH = 8, 5


def test_concurrent_patches_are_all_applied(
    client: TestClient, live_server: str, auth: dict[str, str]
) -> None:
    record = create(client, "sources")
    url = f"{live_server}{API}/sources/{record['id']}"

    def writer(n: int) -> list[int]:
        with httpx.Client(timeout=60, headers=auth) as http:
            return [
                http.patch(url, json={"note": f"writer {n} write {i}"}).status_code
                for i in range(WRITES_EACH)
            ]

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = Counter(s for result in pool.map(writer, range(WRITERS)) for s in result)
    assert statuses == {200: WRITERS * WRITES_EACH}
    final = client.get(f"{API}/sources/{record['id']}").json()
    assert final["version"] == 1 + WRITERS * WRITES_EACH, "every update got its own version"


def test_concurrent_conditional_writers_exactly_one_wins(
    client: TestClient, live_server: str, auth: dict[str, str]
) -> None:
    record = create(client, "sources")
    url = f"{live_server}{API}/sources/{record['id']}"

    def writer(n: int) -> int:
        with httpx.Client(timeout=60, headers=auth) as http:
            return http.patch(url, json={"note": str(n)}, headers={"If-Match": '"1"'}).status_code

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = Counter(pool.map(writer, range(WRITERS)))
    assert statuses == {200: 1, 412: WRITERS - 1}


def test_concurrent_puts_to_a_new_id_create_once_and_replace_after(
    client: TestClient, live_server: str, auth: dict[str, str]
) -> None:
    body = payload_for(client, "sources")
    url = f"{live_server}{API}/sources/{uuid.uuid4()}"

    def writer(_: int) -> int:
        with httpx.Client(timeout=60, headers=auth) as http:
            return http.put(url, json=body).status_code

    for _round in range(3):
        url = f"{live_server}{API}/sources/{uuid.uuid4()}"
        body = payload_for(client, "sources")
        with ThreadPoolExecutor(WRITERS) as pool:
            statuses = Counter(pool.map(writer, range(WRITERS)))
        assert statuses == {201: 1, 200: WRITERS - 1}


CLIENTS = 12  # more than the 6 connections a pool used to keep, fewer than POOL_SIZE


def test_concurrent_readers_reuse_the_connections_they_opened(
    client: TestClient, live_server: str, auth: dict[str, str], engine: Engine
) -> None:
    """A pool that kept 6 and opened 10 more under load closed each extra one as it came
    back and opened it again for the next request (app.db.POOL_SIZE). Reads in threads
    (`count=true`, on both databases): waves of clients open no more connections than
    are ever in use at once, the clients' and the app's own two (the feed's watcher, the
    webhook deliverer)."""
    create(client, "sources")
    opened: list[object] = []

    def count(*_: object) -> None:
        opened.append(None)

    def wave() -> None:
        def reader(_: int) -> None:
            with httpx.Client(timeout=60, headers=auth) as http:
                for _ in range(20):
                    http.get(f"{live_server}{API}/sources?count=true").raise_for_status()

        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(reader, range(CLIENTS)))

    event.listen(engine, "connect", count)
    try:
        for _ in range(3):
            wave()
    finally:
        event.remove(engine, "connect", count)
    assert len(opened) <= CLIENTS + 2, f"{len(opened)} connections opened for {CLIENTS} clients"
