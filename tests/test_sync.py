"""Partner sync: idempotency keys, batches, history, the change feed, export and import."""

import json
import threading
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.actor import CLI
from app.market.demo import seed
from app.sync.export import export_lines
from app.sync.imports import import_lines, read_csv, read_jsonl
from tests.builders import API, create, payload_for
from tests.test_errors import assert_problem, fields


def _count(client: TestClient, path: str) -> int:
    total: int = client.get(f"{API}/{path}?count=true&limit=1").json()["total"]
    return total


def test_idempotent_post_replays_the_first_answer(client: TestClient) -> None:
    body = payload_for(client, "sources")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post(f"{API}/sources", json=body, headers=key)
    spaced = json.dumps(body, indent=2)  # the same JSON, written differently
    again = client.post(
        f"{API}/sources", content=spaced, headers={**key, "content-type": "application/json"}
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert _count(client, "sources") == 1
    other = client.post(f"{API}/sources", json={**body, "title": "other"}, headers=key)
    assert fields(assert_problem(other, 422)) == {"header.Idempotency-Key"}
    fresh = client.post(
        f"{API}/sources", json={**body, "slug": "another"}, headers={"Idempotency-Key": "k2"}
    )
    assert fresh.status_code == 201
    assert _count(client, "sources") == 2


def test_a_failed_post_is_not_remembered(client: TestClient) -> None:
    key = {"Idempotency-Key": "retry-me"}
    bad = payload_for(client, "sources", kind="rumour")
    assert client.post(f"{API}/sources", json=bad, headers=key).status_code == 422
    assert (
        client.post(f"{API}/sources", json={**bad, "kind": "report"}, headers=key).status_code
        == 201
    )


def _op(
    method: str, collection: str, body: dict[str, Any] | None = None, id: str | None = None
) -> dict[str, Any]:
    return {"method": method, "collection": collection, "body": body, "id": id}


def test_batch_applies_in_order_with_references_to_earlier_operations(client: TestClient) -> None:
    partner_id = str(uuid.uuid4())
    operations = [
        _op("PUT", "battery-partners", {"slug": "welion", "name": "WeLion", "country": "CN"},
            partner_id),
        _op("POST", "batteries", {"slug": "wl-cell", "name": "Cell", "battery_partner_id": "welion",
                                  "technology": "semi_solid"}),
        _op("PATCH", "battery-partners", {"headquarters": "Beijing"}, "welion"),
        _op("POST", "energy-densities", {"battery_partner_id": partner_id, "battery_id": "wl-cell",
                                         "value_min": 360, "value_max": 360, "unit": "Wh/kg",
                                         "level": "cell", "status": "claimed"}),
    ]  # fmt: skip
    response = client.post(f"{API}/batch", json={"operations": operations})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 201, 200, 201]
    assert results[3]["body"]["display"] == "360 Wh/kg"
    assert client.get(f"{API}/battery-partners/welion").json()["version"] == 2
    deleted = client.post(
        f"{API}/batch",
        json={"operations": [_op("DELETE", "energy-densities", id=results[3]["body"]["id"])]},
    )
    assert deleted.json()["results"] == [{"status": 204}]


def test_atomic_batch_with_one_bad_operation_leaves_nothing(client: TestClient) -> None:
    before = client.get(f"{API}/changes").json()["next_after"]
    operations = [
        _op("POST", "sources", payload_for(client, "sources")),
        _op("POST", "automakers", payload_for(client, "automakers", country="XX")),
        _op("POST", "sources", payload_for(client, "sources")),
    ]
    response = client.post(f"{API}/batch", json={"atomic": True, "operations": operations})
    problem = assert_problem(response, 422)
    assert [r["status"] for r in problem["results"]] == [201, 422, 424]
    assert problem["results"][1]["problem"]["errors"][0]["field"] == "body.country"
    assert _count(client, "sources") == 0
    assert client.get(f"{API}/changes?after={before}").json()["items"] == []


def test_non_atomic_batch_applies_what_it_can(client: TestClient) -> None:
    operations = [
        _op("POST", "sources", payload_for(client, "sources")),
        _op("PATCH", "sources", {"title": "x"}, "no-such-source"),
        _op("POST", "sources", payload_for(client, "sources")),
    ]
    response = client.post(f"{API}/batch", json={"atomic": False, "operations": operations})
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == [201, 404, 201]
    assert _count(client, "sources") == 2


def test_dry_run_validates_and_applies_nothing(client: TestClient) -> None:
    operations = [_op("POST", "sources", payload_for(client, "sources")) for _ in range(2)]
    response = client.post(f"{API}/batch?dry_run=true", json={"operations": operations})
    assert response.status_code == 200
    assert response.json()["dry_run"] is True
    assert [r["status"] for r in response.json()["results"]] == [201, 201]
    assert _count(client, "sources") == 0


def test_batch_limits_and_shape(client: TestClient) -> None:
    too_many = [_op("DELETE", "sources", id=str(uuid.uuid4()))] * 1001
    assert_problem(client.post(f"{API}/batch", json={"operations": too_many}), 413)
    unknown = client.post(f"{API}/batch", json={"operations": [_op("POST", "people", {})]})
    assert "body.operations.0.collection" in fields(assert_problem(unknown, 422))


def test_idempotent_batch_replays(client: TestClient) -> None:
    request = {"operations": [_op("POST", "sources", payload_for(client, "sources"))]}
    key = {"Idempotency-Key": "batch-1"}
    first = client.post(f"{API}/batch", json=request, headers=key)
    again = client.post(f"{API}/batch", json=request, headers=key)
    assert again.json() == first.json()
    assert _count(client, "sources") == 1


def test_history_of_a_record_updated_three_times_and_deleted(client: TestClient) -> None:
    record = create(client, "sources")
    url = f"{API}/sources/{record['id']}"
    for title in ("two", "three", "four"):
        assert client.patch(url, json={"title": title}).status_code == 200
    assert client.delete(url).status_code == 204
    history = client.get(f"{url}/history").json()["items"]
    assert [(h["version"], h["op"]) for h in history] == [
        (1, "create"),
        (2, "update"),
        (3, "update"),
        (4, "update"),
        (5, "delete"),
    ]
    assert [h["record"]["title"] if h["record"] else None for h in history] == [
        record["title"],
        "two",
        "three",
        "four",
        None,
    ]
    assert {h["actor"] for h in history} == {"test-admin"}, "the key's name"
    assert all(h["changed_at"].endswith("Z") for h in history)
    page = client.get(f"{url}/history?limit=2").json()
    rest = client.get(f"{url}/history?limit=2&cursor={page['next_cursor']}").json()
    assert [h["version"] for h in page["items"] + rest["items"]] == [1, 2, 3, 4]
    assert_problem(client.get(f"{API}/sources/{uuid.uuid4()}/history"), 404)


def test_changes_feed_follows_next_after(client: TestClient) -> None:
    start = client.get(f"{API}/changes").json()["next_after"]
    source = create(client, "sources")
    maker = create(client, "automakers")
    client.delete(f"{API}/sources/{source['id']}")
    page = client.get(f"{API}/changes?after={start}").json()
    assert [(c["collection"], c["op"]) for c in page["items"]] == [
        ("sources", "create"),
        ("automakers", "create"),
        ("sources", "delete"),
    ]
    seqs = [c["seq"] for c in page["items"]]
    assert seqs == list(range(start + 1, start + 4))
    assert page["next_after"] == seqs[-1]
    assert page["items"][2]["record"] is None
    assert page["items"][2]["version"] == 2
    assert page["items"][1]["record"] == maker
    only = client.get(f"{API}/changes?after={start}&collections=automakers").json()
    assert [c["id"] for c in only["items"]] == [maker["id"]]
    assert only["next_after"] == seqs[-1], "skips past other collections"
    limited = client.get(f"{API}/changes?after={start}&limit=2").json()
    assert limited["next_after"] == seqs[1]
    assert client.get(f"{API}/changes?after={seqs[-1]}").json() == {
        "items": [],
        "next_after": seqs[-1],
    }


@pytest.mark.parametrize(
    "query", ["after=-1", "limit=0", "limit=1001", "wait=61", "collections=people", "after=x"]
)
def test_changes_parameters_are_checked(client: TestClient, query: str) -> None:
    assert fields(assert_problem(client.get(f"{API}/changes?{query}"), 400)) == {
        f"query.{query.split('=')[0]}"
    }


def test_a_long_poll_answers_when_a_change_arrives(client: TestClient) -> None:
    after = client.get(f"{API}/changes").json()["next_after"]
    timer = threading.Timer(0.5, lambda: create(client, "sources"))
    timer.start()
    started = time.monotonic()
    page = client.get(f"{API}/changes?after={after}&wait=20").json()
    elapsed = time.monotonic() - started
    timer.join()
    assert [c["op"] for c in page["items"]] == ["create"]
    assert elapsed < 10, "answered when the change came, not at the end of the wait"
    quiet = time.monotonic()
    assert client.get(f"{API}/changes?after={page['next_after']}&wait=1").json()["items"] == []
    assert time.monotonic() - quiet >= 0.9


def test_seed_and_cli_writes_name_their_actor(client: TestClient, engine: Engine) -> None:
    after = client.get(f"{API}/changes").json()["next_after"]
    seed(engine)
    actors = {
        c["actor"] for c in client.get(f"{API}/changes?after={after}&limit=1000").json()["items"]
    }
    assert actors == {"system"}


def _contents(lines: list[dict[str, Any]]) -> list[str]:
    """The exported records, without the times an import sets anew, in a stable order."""
    return sorted(
        json.dumps({**line, "record": {k: v for k, v in line["record"].items()
                                       if k not in ("created_at", "updated_at")}}, sort_keys=True)
        for line in lines
        if "record" in line
    )  # fmt: skip


def _exported(engine: Engine) -> list[dict[str, Any]]:
    return [json.loads(line) for line in export_lines(engine)]


def test_export_then_import_into_an_empty_database_reproduces_it(
    client: TestClient, engine: Engine, tmp_path: Any
) -> None:
    from tests.conftest import fresh_database

    seed(engine)
    create(client, "partnerships", automaker_id="saic", battery_partner_id="welion",
           vehicle_models=["L6", "LS6"], description="多车型")  # fmt: skip
    exported = _exported(engine)
    assert exported[-1] == {"next_after": client.get(f"{API}/changes").json()["next_after"]}
    assert len(exported) == 24
    from app.db import get_engine
    from app.schema import upgrade

    for url in fresh_database(tmp_path, "import"):
        upgrade(url)
        lines, bad = read_jsonl(json.dumps(item, ensure_ascii=False) for item in exported)
        result = import_lines(get_engine(url), lines, CLI)
        assert (bad, result.rejected, result.counts) == ([], [], {"created": 23})
        again = _exported(get_engine(url))
        assert _contents(again) == _contents(exported)
        get_engine(url).dispose()


@pytest.mark.usefixtures("client")  # which empties the database after
def test_an_export_read_a_few_records_a_page_holds_every_record_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.sync import export

    seed(engine)
    whole = _exported(engine)
    monkeypatch.setattr(export, "PAGE", 2)  # the demo's five automakers take three pages
    paged = _exported(engine)
    ids = [(item["collection"], item["record"]["id"]) for item in paged[:-1]]
    assert len(ids) == len(set(ids)) == len(whole) - 1
    assert paged == whole


def test_an_import_with_one_bad_line_changes_nothing_and_names_it(
    client: TestClient, engine: Engine
) -> None:
    lines = [
        json.dumps({"collection": "sources", "record": payload_for(client, "sources")}),
        json.dumps(
            {"collection": "sources", "record": payload_for(client, "sources", kind="gossip")}
        ),
        "not json",
        json.dumps({"collection": "sources", "record": payload_for(client, "sources")}),
    ]
    parsed, bad = read_jsonl(lines)
    assert [n for n, _ in bad] == [3]
    result = import_lines(engine, parsed, CLI)
    assert [(n, p.split(":")[0]) for n, p in result.rejected] == [(2, "body.kind")]
    assert _count(client, "sources") == 0
    missing_ref = [json.dumps({"collection": "batteries", "record": payload_for(
        client, "batteries", battery_partner_id="nobody")})]  # fmt: skip
    result = import_lines(engine, read_jsonl(missing_ref)[0], CLI)
    assert [(n, p.split(":")[0]) for n, p in result.rejected] == [(1, "body.battery_partner_id")]


def test_csv_import_round_trips_a_lists_csv(client: TestClient, engine: Engine) -> None:
    create(client, "partnerships", vehicle_models=["ET7", "ES6"])
    exported = client.get(f"{API}/partnerships?format=csv").text
    record = client.get(f"{API}/partnerships").json()["items"][0]
    client.delete(f"{API}/partnerships/{record['id']}")
    result = import_lines(engine, read_csv(exported, "partnerships"), CLI)
    assert result.counts == {"created": 1}
    restored = client.get(f"{API}/partnerships/{record['id']}").json()
    assert restored["vehicle_models"] == ["ET7", "ES6"]
    assert restored["automaker_id"] == record["automaker_id"]


def test_non_atomic_dry_run_answers_as_the_real_run_would(client: TestClient) -> None:
    operations = [
        _op("POST", "battery-partners", payload_for(client, "battery-partners", slug="s")),
        _op("PATCH", "automakers", {"name": "x"}, "nope"),
        _op("POST", "batteries", payload_for(client, "batteries", battery_partner_id="s")),
    ]
    request = {"atomic": False, "operations": operations}
    dry = client.post(f"{API}/batch?dry_run=true", json=request).json()["results"]
    assert _count(client, "battery-partners") == 0
    real = client.post(f"{API}/batch", json=request).json()["results"]
    assert [r["status"] for r in dry] == [r["status"] for r in real] == [201, 404, 201]


def test_changes_after_beyond_64_bits_is_400(client: TestClient) -> None:
    assert fields(assert_problem(client.get(f"{API}/changes?after={2**63}"), 400)) == {
        "query.after"
    }


def test_one_uuid_in_two_collections_keeps_both_searchable(client: TestClient) -> None:
    shared = str(uuid.uuid4())
    client.put(f"{API}/sources/{shared}", json=payload_for(client, "sources", title="Zebra report"))
    client.put(
        f"{API}/automakers/{shared}", json=payload_for(client, "automakers", name="Yak Motors")
    )
    found = {
        i["collection"]: i["label"] for i in client.get(f"{API}/search?q=zebra").json()["items"]
    }
    assert found == {"sources": "Zebra report"}
    client.delete(f"{API}/automakers/{shared}")
    assert [i["label"] for i in client.get(f"{API}/search?q=zebra").json()["items"]] == [
        "Zebra report"
    ]


def test_concurrent_requests_with_one_key_write_once(
    client: TestClient, live_server: str, auth: dict[str, str]
) -> None:
    body = payload_for(client, "milestones", date_precision="day")
    headers = {"Idempotency-Key": f"same-{uuid.uuid4()}"}

    def post(_: int) -> tuple[int, str]:
        import httpx

        with httpx.Client(base_url=live_server, timeout=60, headers=auth) as http:
            response = http.post(f"{API}/milestones", json=body, headers=headers)
            return response.status_code, response.json()["id"]

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(post, range(4)))
    assert {status for status, _ in answers} == {201}
    assert len({record_id for _, record_id in answers}) == 1
    assert _count(client, "milestones") == 1
