"""Rate limits (API.md §9, Keys and limits): counted per key however `Bearer` is spelled,
per address without a valid key, reads included; with Redis, across workers."""

import json
import threading
from collections import defaultdict
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.builders import API, payload_for
from tests.conftest import REDIS_URL
from tests.live import Server, cli
from tests.test_errors import assert_problem


def _limited(settings: Settings, rule: str) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={"rate_limit": rule})))


@pytest.mark.usefixtures("client")
def test_a_key_counts_however_the_scheme_is_spelled(settings: Settings, admin_key: str) -> None:
    with _limited(settings, "3/minute") as app:
        answers = [
            app.get(f"{API}/sources", headers={"Authorization": f"{scheme} {admin_key}"})
            for scheme in ("Bearer", "bearer", "BEARER", "BeArEr")
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        problem = assert_problem(answers[3], 429)
        assert 0 < int(answers[3].headers["retry-after"]) <= 60, problem
        assert app.get(f"{API}/sources").status_code == 200, "anonymous: the address's own count"


def test_writes_and_reads_of_a_key_share_its_count(client: TestClient, settings: Settings) -> None:
    body = payload_for(client, "sources")
    with _limited(settings, "2/minute") as app:
        app.headers.update(client.headers)
        assert app.post(f"{API}/sources", json=body).status_code == 201
        assert app.get(f"{API}/sources").status_code == 200
        assert app.get(f"{API}/sources").status_code == 429, "a read with a key counts"
        assert app.delete(f"{API}/sources/{body['slug']}").status_code == 429


@pytest.mark.usefixtures("client")
def test_a_wrong_key_counts_against_the_address(settings: Settings) -> None:
    with _limited(settings, "2/minute") as app:
        wrong = {"Authorization": "Bearer bik_000000000000nothingnothingnothing"}
        assert app.get(f"{API}/sources", headers=wrong).status_code == 401
        assert app.get(f"{API}/sources").status_code == 200
        assert app.get(f"{API}/sources", headers=wrong).status_code == 429


def test_a_bad_rule_or_storage_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="rate limit"):
        Settings(_env_file=None, rate_limit="lots")
    with pytest.raises(ValueError, match="redis://"):
        Settings(_env_file=None, rate_limit_storage="postgres://x")


@pytest.mark.redis
def test_with_redis_the_limit_holds_across_two_workers(migrated: tuple[str, str]) -> None:
    url, _ = migrated
    env = {"RATE_LIMIT": "10/minute", "RATE_LIMIT_STORAGE": str(REDIS_URL)}
    server = Server(url, "--workers", "2", env=env)
    rounds: dict[str, list[int | str]] = {}
    try:
        # Which worker accepts a connection is the kernel's choice: several rounds, each with
        # a fresh key, so that some key is served by both (every count must be exact).
        for n in range(6):
            name = f"limited-{n}"
            key = cli(url, "keys", "create", "--name", name, "--scope", "read").splitlines()[-1]
            rounds[name] = _concurrently(server.base, key)
    finally:
        log = server.stop()
    for name, statuses in rounds.items():
        assert sorted(map(str, statuses)) == ["200"] * 10 + ["429"] * 30, (name, statuses)
    lines: list[dict[str, Any]] = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    answered = defaultdict(set)
    for line in lines:
        if line.get("route") == "/api/v1/automakers":
            answered[line["actor"]].add(line["pid"])
    assert any(len(pids) == 2 for pids in answered.values()), "both workers counted one key"


def _concurrently(base: str, key: str) -> list[int | str]:
    """40 requests with one key from 8 connections at once, `Bearer` spelled three ways."""
    statuses: list[int | str] = []

    def client(n: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(5):
                scheme = ("Bearer", "bearer", "BEARER")[n % 3]
                try:
                    answer = http.get(
                        f"{API}/automakers", headers={"Authorization": f"{scheme} {key}"}
                    )
                    statuses.append(answer.status_code)
                except httpx.HTTPError as exc:
                    statuses.append(repr(exc))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses
