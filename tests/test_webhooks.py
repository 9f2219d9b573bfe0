"""Webhooks (API.md §11) against a real receiver on 127.0.0.1 (examples/webhook_receiver.py):
CRUD and its rules, deliveries in order through failures and outages, replay, the address
rules, a disabled webhook, two processes delivering each change once."""

import asyncio
import datetime as dt
import importlib.util
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from app.db import get_engine
from app.main import create_app
from app.schema import upgrade
from app.settings import Settings
from app.sync.deliveries import IDLE_POLL_S, Deliverer
from app.sync.webhooks import Webhook
from tests.builders import API, create
from tests.conftest import _clean, fresh_database
from tests.live import ROOT, Server, free_port, until
from tests.test_errors import assert_problem


def _receiver_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "webhook_receiver", ROOT / "examples" / "webhook_receiver.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


receiver = _receiver_module()


class Receiver:
    """The example receiver in a thread; `refusals` answers the first requests with 500s,
    `down()` and `up()` stop and restart it on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.store = receiver.Store()
        self.secret = ""
        self.refusals = 0
        self.requests = 0
        self.slow_s = 0.0  # the next request waits this long before it is answered
        self._server: Any = None

    def _refuse(self) -> int | None:
        self.requests += 1
        if self.slow_s:
            slow, self.slow_s = self.slow_s, 0.0
            time.sleep(slow)
        if self.refusals > 0:
            self.refusals -= 1
            return 500
        return None

    def up(self) -> None:
        self._server = receiver.serve(
            self.secret, "127.0.0.1", self.port, self.store, refuse=self._refuse
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def seqs(self) -> list[int]:
        return [change["seq"] for change in self.store.changes()]


@pytest.fixture
def hooked(
    engine: Engine, settings: Settings, admin_key: str
) -> Iterator[tuple[TestClient, Receiver]]:
    """The app with private addresses allowed and quick retries, and a receiver. (Not the
    `client` fixture: its app would deliver too, without private addresses allowed.)"""
    app = create_app(
        settings.model_copy(update={"webhook_allow_private": True, "webhook_backoff_scale": 0.01})
    )
    got = Receiver()
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {admin_key}"
        yield client, got
        if got._server is not None:
            got.down()
    _clean(engine)


def _subscribe(client: TestClient, got: Receiver, **extra: Any) -> dict[str, Any]:
    answer = client.post(f"{API}/webhooks", json={"url": got.url, **extra})
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    got.secret = made["secret"]
    got.up()
    return made


def _until(check: Callable[[], bool], seconds: float = 20) -> None:
    until(check, seconds, "not delivered in time", every=0.05)


def _head(client: TestClient) -> int:
    after = 0
    while True:
        page = client.get(f"{API}/changes", params={"after": after, "limit": 1000}).json()
        if not page["items"]:
            return int(page["next_after"])
        after = page["next_after"]


@pytest.mark.usefixtures("engine")
def test_webhook_crud_and_its_rules(client: TestClient, settings: Settings) -> None:
    # A public address, as an IP: names would need a resolver this machine may not have.
    body = {"url": "https://93.184.215.14/hook", "collections": ["sources", "partnerships"]}
    refused = client.post(f"{API}/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    assert assert_problem(refused, 422)["errors"][0]["field"] == "body.url"
    for url in ("ftp://partner.example/", "http://10.0.0.8/", "http://[::ffff:127.0.0.1]/",
                "http://100.64.0.1/", "http://224.0.0.1/",
                "http://no-such-host.invalid/"):  # fmt: skip
        answer = client.post(f"{API}/webhooks", json={"url": url})
        assert assert_problem(answer, 422)["errors"][0]["field"] == "body.url", url
    unknown = client.post(f"{API}/webhooks", json={**body, "collections": ["gossip"]})
    assert assert_problem(unknown, 422)["errors"][0]["field"] == "body.collections"
    beyond = client.post(f"{API}/webhooks", json={**body, "after": _head(client) + 5})
    assert assert_problem(beyond, 422)["errors"][0]["field"] == "body.after"
    app = create_app(settings.model_copy(update={"webhook_allow_private": True}))
    with TestClient(app, headers=dict(client.headers)) as private:
        made = private.post(f"{API}/webhooks", json={**body, "url": "http://127.0.0.1:9/hook"})
        assert made.status_code == 201
    answer = client.post(f"{API}/webhooks", json={**body, "description": "Acme"})
    assert answer.status_code == 201
    hook = answer.json()
    assert len(hook["secret"]) >= 32
    assert " " not in hook["secret"]
    assert (hook["collections"], hook["active"], hook["after"], hook["disabled_reason"]) == (
        ["sources", "partnerships"], True, _head(client), None)  # fmt: skip
    one = client.get(f"{API}/webhooks/{hook['id']}").json()
    assert "secret" not in one
    assert one == {k: v for k, v in hook.items() if k != "secret"}
    listed = client.get(f"{API}/webhooks", params={"limit": 1}).json()
    assert len(listed["items"]) == 1
    assert listed["next_cursor"]
    changed = client.patch(f"{API}/webhooks/{hook['id']}", json={"collections": [],
                                                                 "active": False})  # fmt: skip
    assert (changed.json()["collections"], changed.json()["active"]) == ([], False)
    assert changed.json()["updated_at"] > hook["updated_at"]
    private_url = client.patch(f"{API}/webhooks/{hook['id']}", json={"url": "http://127.0.0.1/"})
    assert assert_problem(private_url, 422)["errors"][0]["field"] == "body.url"
    assert client.delete(f"{API}/webhooks/{hook['id']}").status_code == 204
    for method in ("get", "patch", "delete"):
        gone = client.request(
            method, f"{API}/webhooks/{hook['id']}", json={} if method == "patch" else None
        )
        assert_problem(gone, 404)
    assert_problem(client.post(f"{API}/webhooks/{uuid.uuid4()}/replay", json={"after": 0}), 404)
    assert_problem(client.get(f"{API}/webhooks/not-an-id/deliveries"), 404)
    assert "webhooks" not in {c["collection"] for c in client.get(f"{API}/changes").json()["items"]}


def test_every_change_arrives_in_order_through_failures_and_an_outage(
    hooked: tuple[TestClient, Receiver],
) -> None:
    client, got = hooked
    hook = _subscribe(client, got)
    got.refusals = 2  # the first two attempts answer 500
    made = [create(client, "sources") for _ in range(3)]
    _until(lambda: len(got.seqs()) == 3)
    got.down()  # a week offline, in short
    made += [create(client, "sources") for _ in range(150)]
    time.sleep(0.5)
    assert len(got.seqs()) == 3
    got.up()
    _until(lambda: len(got.seqs()) == 153)
    seqs = got.seqs()
    assert seqs == sorted(seqs) == list(range(seqs[0], seqs[0] + 153)), "in order, no gaps"
    assert [c["id"] for c in got.store.changes()] == [m["id"] for m in made]
    attempts = client.get(f"{API}/webhooks/{hook['id']}/deliveries", params={"limit": 500}).json()
    oldest = list(reversed(attempts["items"]))
    assert [(a["attempt"], a["status"], a["response_status"]) for a in oldest[:3]] == [
        (1, "failed", 500), (2, "failed", 500), (3, "succeeded", 204)]  # fmt: skip
    assert len({a["id"] for a in oldest[:3]}) == 1, "a retry is the same delivery"
    refused = [a for a in oldest if a["status"] == "failed" and a["response_status"] is None]
    assert refused, "attempts while it was down"
    assert all(a["error"] for a in refused)
    assert all(a["last_seq"] - a["first_seq"] < 100 for a in oldest)
    assert client.get(f"{API}/webhooks/{hook['id']}").json()["after"] == seqs[-1]
    metrics = client.get("/metrics").text
    assert 'webhook_deliveries_total{outcome="failed"}' in metrics
    assert "webhook_lag{" in metrics


def test_collections_filter_and_replay_resends_from_a_position(
    hooked: tuple[TestClient, Receiver],
) -> None:
    client, got = hooked
    hook = _subscribe(client, got, collections=["automakers"])
    create(client, "sources")
    maker = create(client, "automakers")
    _until(lambda: len(got.seqs()) == 1)
    assert got.store.changes()[0]["id"] == maker["id"]
    first = got.seqs()[0]
    replayed = client.post(f"{API}/webhooks/{hook['id']}/replay", json={"after": first - 1})
    assert replayed.status_code == 200
    assert replayed.json()["after"] == first - 1
    _until(lambda: got.seqs() == [first, first])  # sent again, as a new delivery
    assert_problem(client.post(f"{API}/webhooks/{hook['id']}/replay",
                               json={"after": _head(client) + 1}), 422)  # fmt: skip


def test_a_webhook_failing_for_72_hours_is_disabled_and_says_why(
    hooked: tuple[TestClient, Receiver], engine: Engine
) -> None:
    client, got = hooked
    hook = _subscribe(client, got)
    got.refusals = 10**6
    create(client, "sources")
    _until(lambda: got.requests >= 1)
    with engine.begin() as connection:  # as if its first failure were three days old
        connection.execute(
            update(Webhook.__table__)  # type: ignore[attr-defined]
            .where(Webhook.__table__.c.id == uuid.UUID(hook["id"]))  # type: ignore[attr-defined]
            .values(first_failed_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=73))
        )
    _until(lambda: not client.get(f"{API}/webhooks/{hook['id']}").json()["active"])
    stopped = client.get(f"{API}/webhooks/{hook['id']}").json()
    assert "72 hours" in stopped["disabled_reason"]
    assert "500" in stopped["disabled_reason"]
    got.refusals = 0
    resumed = client.patch(f"{API}/webhooks/{hook['id']}", json={"active": True}).json()
    assert (resumed["active"], resumed["disabled_reason"]) == (True, None)
    _until(lambda: len(got.seqs()) == 1)


def test_two_processes_on_one_database_deliver_each_change_once(
    migrated: tuple[str, str],
) -> None:
    url, key = migrated
    env = {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_BACKOFF_SCALE": "0.01",
           "WEBHOOK_SECRET_KEY": "k" * 40}  # fmt: skip
    servers = [Server(url, env=env), Server(url, env=env)]
    got = Receiver()
    auth = {"Authorization": f"Bearer {key}"}
    try:
        made = httpx.post(f"{servers[0].base}{API}/webhooks", json={"url": got.url}, headers=auth)
        got.secret = made.json()["secret"]  # both processes sign with it: one key
        got.up()
        for n in range(120):
            target = servers[n % 2].base
            source = {"slug": f"s-{n}", "title": f"S {n}", "kind": "report"}
            assert (
                httpx.post(f"{target}{API}/sources", json=source, headers=auth).status_code == 201
            )
        _until(lambda: len(got.seqs()) >= 120, 30)
        time.sleep(1)  # anything sent twice would have come by now
    finally:
        for server in servers:
            server.stop()
        got.down()
    seqs = got.seqs()
    assert seqs == sorted(set(seqs)), "each change once, in order"
    assert len(seqs) == 120


def test_sigterm_mid_delivery_keeps_its_position_and_its_id(migrated: tuple[str, str]) -> None:
    url, key = migrated
    env = {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_BACKOFF_SCALE": "0.01",
           "WEBHOOK_SECRET_KEY": "s" * 40}  # fmt: skip
    auth = {"Authorization": f"Bearer {key}"}
    got = Receiver()
    server = Server(url, env=env)
    try:
        made = httpx.post(f"{server.base}{API}/webhooks", json={"url": got.url}, headers=auth)
        hook = made.json()
        got.secret, got.slow_s = hook["secret"], 3.0
        got.up()
        source = {"slug": "in-flight", "title": "In flight", "kind": "report"}
        assert (
            httpx.post(f"{server.base}{API}/sources", json=source, headers=auth).status_code == 201
        )
        _until(lambda: got.requests == 1)
        server.stop()  # SIGTERM while the receiver holds the attempt
        server = Server(url, env=env)
        one = f"{server.base}{API}/webhooks/{hook['id']}"
        _until(lambda: httpx.get(one, headers=auth).json()["after"] > hook["after"])
        attempts = httpx.get(f"{one}/deliveries", headers=auth).json()["items"]
    finally:
        server.stop()
        got.down()
    # The receiver applies a delivery id once: a retry under a new id would show twice.
    assert len(got.store.changes()) == 1, "received once, however often it was sent"
    assert attempts[0]["status"] == "succeeded"
    assert len({a["id"] for a in attempts}) == 1, "the abandoned delivery kept its id"


def test_the_example_receiver_verifies_and_deduplicates() -> None:
    store = receiver.Store()
    body = b'{"webhook_id": "x", "items": [{"seq": 1}], "next_after": 1}'
    from app.sync.signing import signature

    now = int(time.time())
    signed = signature("whsec_test", body, now)
    assert receiver.verify("whsec_test", signed, body, now)
    assert not receiver.verify("whsec_test", signed, body.replace(b"1}", b"2}"), now), "tampered"
    assert not receiver.verify("whsec_other", signed, body, now), "another secret"
    assert not receiver.verify("whsec_test", signed, body, now + 301), "too old"
    assert not receiver.verify("whsec_test", "v1=abc", body, now)
    assert store.apply("d-1", [{"seq": 1}]) is True
    assert store.apply("d-1", [{"seq": 1}]) is False, "the same delivery is applied once"
    assert [c["seq"] for c in store.changes()] == [1]


def test_the_secret_is_not_in_the_database(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    app = create_app(settings.model_copy(update={"webhook_allow_private": True}))
    with TestClient(app, headers=dict(client.headers)) as private:
        made = private.post(f"{API}/webhooks", json={"url": "http://127.0.0.1:9/"}).json()
    with engine.connect() as connection:
        row = connection.execute(Webhook.__table__.select()).one()  # type: ignore[attr-defined]
    assert made["secret"] not in str(tuple(row))


def test_before_migrate_the_failure_is_logged_once_then_its_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server started before `migrate` looks for webhook work every second and fails each
    time: one traceback, not one a second, and a line when the look works again."""
    for url in fresh_database(tmp_path, "early"):
        with caplog.at_level(logging.INFO, logger="app.sync.deliveries"):
            failed = asyncio.run(_started_before_migrate(url, caplog))
        assert len(failed) == 1, [r.message for r in failed]
        assert failed[0].exc_info is not None, "the first failure keeps its traceback"


async def _started_before_migrate(
    url: str, caplog: pytest.LogCaptureFixture
) -> list[logging.LogRecord]:
    """The failures logged over four looks before `migrate`; returns once a look works."""
    engine = get_engine(url)
    deliverer = Deliverer(engine, b"k" * 32, allow_private=True, scale=1.0)
    deliverer.start()
    try:
        await asyncio.sleep(IDLE_POLL_S * 3.5)
        failed = [r for r in caplog.records if "looking for work failed" in r.message]
        await asyncio.to_thread(upgrade, url)
        deadline = time.monotonic() + 30
        while not any("looking for work again" in r.message for r in caplog.records):
            assert time.monotonic() < deadline, "no line said the look works again"
            await asyncio.sleep(0.1)
    finally:
        await deliverer.stop()
        engine.dispose()
    return failed
