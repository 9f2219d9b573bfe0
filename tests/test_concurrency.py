"""Concurrent writers over real HTTP: they wait for each other, and no update is lost."""

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient

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
