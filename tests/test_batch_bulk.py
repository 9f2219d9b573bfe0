"""The set-based path of atomic batches (app.resources.bulk) answers exactly as op by op.

Each scenario runs twice from the same starting records: once as it comes (runs of
POST/PUT go set-based) and once with the set-based path switched off; the answers,
the change log and the search index must be the same, up to server-made ids and times.
"""

import itertools
import re
import uuid
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from app.columns import utcnow
from app.resources.catalog import catalog
from app.resources.changelog import CHANGES
from app.resources.formats import record_shape
from app.resources.rows import dumps, shape
from app.resources.text_index import ENTRIES, SearchEntryVersion
from app.resources.versions import versions_of
from app.sync import batch
from app.sync.imports import Line, import_lines
from tests.builders import API
from tests.conftest import _clean

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMES = {"created_at", "updated_at", "changed_at"}


def _id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


NIO, SAIC, WELION, QINGTAO, SOURCE, KEPT, CHANGED = (_id(n) for n in range(1, 8))


def _op(method: str, collection: str, body: Any = None, id: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"method": method, "collection": collection, "body": body}
    return {**op, "id": id} if id else op


def _company(slug: str, name: str, **more: Any) -> dict[str, Any]:
    return {"slug": slug, "name": name, "country": "CN", **more}


def _density(partner: str, value: float, **more: Any) -> dict[str, Any]:
    return {"battery_partner_id": partner, "value_min": value, "value_max": value,
            "unit": "Wh/kg", "level": "cell", "status": "claimed", **more}  # fmt: skip


def _setup(client: TestClient) -> None:
    """The records every scenario starts from, at fixed ids."""
    for op in [
        _op("PUT", "automakers", _company("saic", "SAIC"), SAIC),
        _op("PUT", "automakers", _company("nio", "NIO", name_local="蔚来"), NIO),
        _op("PUT", "battery-partners", _company("welion", "WeLion"), WELION),
        _op("PUT", "battery-partners", _company("qingtao", "QingTao Energy"), QINGTAO),
        _op("PUT", "sources", {"slug": "report", "title": "Report", "kind": "report"}, SOURCE),
        _op("PUT", "energy-densities", _density("welion", 360), KEPT),
        _op("PUT", "energy-densities", _density("welion", 300), CHANGED),
    ]:
        response = client.put(f"{API}/{op['collection']}/{op['id']}", json=op["body"])
        assert response.status_code == 201, response.text


class Canonical:
    """Server-made ids become `id-1`, `id-2`... in order of appearance; times become marks."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def __call__(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self(v, k) for k, v in value.items() if k != "seq"}
        if isinstance(value, list):
            return [self(v) for v in value]
        if key in TIMES:
            return "<time>"
        if isinstance(value, str) and UUID_RE.match(value) and not value.startswith("00000000"):
            return self.names.setdefault(value, f"id-{len(self.names) + 1}")
        return value


def _apply(
    client: TestClient,
    engine: Engine,
    operations: list[dict[str, Any]],
    *,
    atomic: bool = True,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Start from the setup, send the batch, and read back everything it left."""
    _setup(client)
    before = client.get(f"{API}/changes").json()["next_after"]
    response = client.post(
        f"{API}/batch",
        params={"dry_run": "true"} if dry_run else {},
        json={"atomic": atomic, "operations": operations},
    )
    changes = client.get(f"{API}/changes", params={"after": before, "limit": 1000}).json()
    with Session(engine) as session:
        entries = [
            {"collection": e.collection, "id": str(e.record_id), "label": e.label,
             "label_norm": e.label_norm, "local_norm": e.local_norm, "text": e.text}
            for e in session.execute(select(ENTRIES).order_by(ENTRIES.c.seq))
        ]  # fmt: skip
    canonical = Canonical()
    seen = {
        "status": response.status_code,
        "answer": canonical(response.json()),
        "changes": canonical(changes["items"]),
        "entries": sorted(canonical(entries), key=repr),
    }
    seqs = [item["seq"] for item in changes["items"]]
    assert seqs == list(range(before + 1, before + 1 + len(seqs))), "in order, no gaps"
    _versions_in_step(engine)
    _clean(engine)
    return seen


def _versions_in_step(engine: Engine) -> None:
    """Every record's open version is the record as it is now, numbered by its last change,
    and its versions follow each other without a gap: whether they were copied from the live
    rows (a table's changes consecutive, each record once) or sent as staged; and its last
    change holds its JSON, of today's shape, as the columns make it (list pages send it)."""
    key = (CHANGES.c.collection, CHANGES.c.record_id)
    with engine.connect() as connection:
        last_changes = select(*key, func.max(CHANGES.c.seq)).group_by(*key)
        last = {(path, record_id): seq for path, record_id, seq in connection.execute(last_changes)}
        for spec in catalog:
            live, versions = spec.sa_table, versions_of(spec.sa_table)
            now = {row.id: row._asdict() for row in connection.execute(select(live))}
            history: dict[Any, list[Any]] = {}
            for version in connection.execute(select(versions).order_by(versions.c.seq)):
                history.setdefault(version.id, []).append(version)
            for record_id, row in now.items():
                *closed, current = history[record_id]
                assert current.valid_to is None
                assert {name: getattr(current, name) for name in row} == row, spec.path
                assert current.seq == last[(spec.path, record_id)]
                times = [(v.valid_from, v.valid_to) for v in [*closed, current]]
                assert all(a[1] == b[0] for a, b in itertools.pairwise(times)), "no gap, no overlap"
            made = shape(spec)
            for values in connection.execute(select(*made.columns)):
                record = orjson.loads(dumps(made.record(values)))
                seq = last[(spec.path, uuid.UUID(record["id"]))]
                entry = select(CHANGES.c.record, CHANGES.c.shape).where(CHANGES.c.seq == seq)
                assert tuple(connection.execute(entry).one()) == (record, record_shape(spec))


@pytest.fixture
def set_based(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many operations went set-based (a run answered rather than declined)."""
    applied: list[int] = []
    real = batch._apply_run

    def counting(session: Session, operations: list[Any], actor: str) -> Any:
        written = real(session, operations, actor)
        applied.append(0 if written is None else len(written))
        return written

    monkeypatch.setattr(batch, "_apply_run", counting)
    return applied


def _both_ways(
    client: TestClient,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    operations: list[dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    fast = _apply(client, engine, operations)
    with monkeypatch.context() as off:
        off.setattr(batch, "MIN_RUN", 10**9)
        slow = _apply(client, engine, operations)
    assert fast == slow
    return fast, slow


def test_mixed_runs_answer_as_op_by_op(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch, set_based: list[int]
) -> None:
    new_density, new_partnership = str(uuid.uuid4()), str(uuid.uuid4())
    operations = [
        # energy densities: unchanged, updated, created by PUT (partner by slug), by POST
        _op("PUT", "energy-densities", _density("welion", 360), KEPT),
        _op("PUT", "energy-densities", _density(WELION, 310, source_id="report"), CHANGED),
        _op("PUT", "energy-densities", _density("qingtao", 350, note="Pack"), new_density),
        _op("POST", "energy-densities", _density(QINGTAO, 400, source_id=SOURCE)),
        _op("PATCH", "battery-partners", {"headquarters": "Beijing"}, "welion"),
        # partnerships: names of both companies go into their label and text
        _op("POST", "partnerships", {"automaker_id": "nio", "battery_partner_id": "welion",
                                     "status": "active", "vehicle_models": ["ET7"]}),
        _op("PUT", "partnerships", {"automaker_id": SAIC, "battery_partner_id": "qingtao",
                                    "status": "active"}, new_partnership),
        # a rename relabels the densities and partnerships that embed the name
        _op("PUT", "battery-partners", _company("welion", "WeLion New Energy"), WELION),
        _op("PUT", "battery-partners", _company("qingtao", "QingTao Energy"), QINGTAO),
        _op("POST", "battery-partners", _company("ganfeng", "Ganfeng", founded_year=2011,
                                                 owner_automaker_id="saic")),
    ]  # fmt: skip
    fast, _ = _both_ways(client, engine, monkeypatch, operations)
    assert set_based == [4, 2, 3], "three runs went set-based"
    assert fast["status"] == 200
    results = fast["answer"]["results"]
    assert [r["status"] for r in results] == [200, 200, 201, 201, 200, 201, 201, 200, 200, 201]
    assert results[0]["body"]["version"] == 1, "an identical PUT keeps the version"
    assert results[1]["body"]["version"] == 2
    assert [c["op"] for c in fast["changes"]] == [
        "update", "create", "create", "update", "create", "create", "update", "create"
    ]  # fmt: skip
    labels = {e["label"] for e in fast["entries"]}
    assert {"NIO × WeLion New Energy", "SAIC × QingTao Energy", "360 Wh/kg", "Ganfeng"} <= labels
    densities = [e for e in fast["entries"] if e["collection"] == "energy-densities"]
    assert sum("welion new energy" in e["text"] for e in densities) == 2


def test_partners_are_searchable_by_name_after_a_set_based_batch(
    client: TestClient, set_based: list[int]
) -> None:
    _setup(client)
    operations = [_op("POST", "energy-densities", _density("welion", 200 + n)) for n in range(30)]
    operations += [_op("POST", "partnerships", {"automaker_id": "nio",
                                                "battery_partner_id": "qingtao",
                                                "status": "active"}),
                   _op("POST", "partnerships", {"automaker_id": "saic",
                                                "battery_partner_id": "welion",
                                                "status": "active"})]  # fmt: skip
    assert client.post(f"{API}/batch", json={"operations": operations}).status_code == 200
    assert set_based == [30, 2]
    found = client.get(f"{API}/search", params={"q": "welion", "limit": 100}).json()["items"]
    collections = [item["collection"] for item in found]
    assert collections.count("energy-densities") == 32, "30 new and the 2 of the setup"
    assert collections.count("partnerships") == 1
    by_name = client.get(f"{API}/search", params={"q": "nio"}).json()["items"]
    assert {item["label"] for item in by_name} == {"NIO", "NIO × QingTao Energy"}
    listed = client.get(f"{API}/partnerships", params={"q": "qingtao"}).json()["items"]
    assert len(listed) == 1


@pytest.mark.parametrize(
    ("bad", "status", "field"),
    [
        (_op("POST", "energy-densities", _density("no-such-maker", 300)), 422,
         "body.battery_partner_id"),
        (_op("POST", "energy-densities", _density("welion", 9000)), 422, "body.value_min"),
        (_op("PUT", "energy-densities", _density("welion", 300), "not-a-uuid"), 400, "id"),
        (_op("POST", "batteries", {"slug": "cell-7", "name": "Again",
                                   "battery_partner_id": "welion", "technology": "liquid"}),
         409, "body.slug"),
    ],
)  # fmt: skip
def test_a_failure_in_a_long_run_is_reported_at_its_index_and_nothing_stays(
    client: TestClient,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    set_based: list[int],
    bad: dict[str, Any],
    status: int,
    field: str,
) -> None:
    collection = bad["collection"]
    if collection == "batteries":
        good = [
            _op("POST", "batteries", {"slug": f"cell-{n}", "name": f"Cell {n}",
                                      "battery_partner_id": "welion", "technology": "liquid"})
            for n in range(300)
        ]  # fmt: skip
    else:
        good = [_op("POST", collection, _density("welion", 200 + n % 100)) for n in range(300)]
    operations = [*good[:150], bad, *good[150:]]
    fast, _ = _both_ways(client, engine, monkeypatch, operations)
    assert fast["status"] == (409 if status == 409 else 422)
    results = fast["answer"]["results"]
    assert [r["status"] for r in results] == [201] * 150 + [status] + [424] * 150
    assert field in {e["field"] for e in results[150]["problem"].get("errors", [])}
    assert fast["changes"] == []
    assert {e["collection"] for e in fast["entries"]} >= {"energy-densities"}
    assert not any(e["collection"] == collection and e["id"].startswith("id-")
                   for e in fast["entries"]), "nothing of the batch is indexed"  # fmt: skip
    # The set-based path declined (validation) or rolled back (a constraint) each time.
    assert set_based[0] == 0


def test_irregular_runs_fall_back_and_answer_the_same(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch, set_based: list[int]
) -> None:
    brand = str(uuid.uuid4())
    operations = [
        # a brand whose group is created earlier in the same run (a self-reference)
        _op("PUT", "automakers", _company("byd", "BYD"), _id(20)),
        _op("POST", "automakers", _company("denza", "Denza", parent_id="byd")),
        # the same id twice in a run: created, then updated
        _op("PUT", "automakers", _company("im", "IM Motors", parent_id="saic"), brand),
        _op("PUT", "automakers", _company("im", "IM", parent_id=SAIC), brand),
    ]
    _both_ways(client, engine, monkeypatch, operations)
    assert set_based == [0]
    set_based.clear()
    # If-Match needs the version each earlier operation left: it ends a run
    guarded = {**_op("PUT", "energy-densities", _density("welion", 365), KEPT), "if_match": '"1"'}
    fast, _ = _both_ways(
        client,
        engine,
        monkeypatch,
        [_op("PUT", "energy-densities", _density("welion", 361), KEPT), guarded],
    )
    assert [r["status"] for r in fast["answer"]["results"]] == [200, 412]
    assert set_based == []


def test_a_cycle_through_the_run_is_refused_as_op_by_op(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch, set_based: list[int]
) -> None:
    operations = [
        # NIO under SAIC, then SAIC under NIO: the second would make SAIC its own ancestor
        _op("PUT", "automakers", _company("nio", "NIO", parent_id="saic"), NIO),
        _op("PUT", "automakers", _company("saic", "SAIC", parent_id="nio"), SAIC),
    ]
    fast, _ = _both_ways(client, engine, monkeypatch, operations)
    assert [r["status"] for r in fast["answer"]["results"]] == [200, 422]
    assert set_based == [0]
    set_based.clear()
    # A group outside the run is fine set-based.
    brands = [_op("POST", "automakers", _company(f"brand-{n}", f"Brand {n}", parent_id="saic"))
              for n in range(3)]  # fmt: skip
    fast, _ = _both_ways(client, engine, monkeypatch, brands)
    assert set_based == [3]
    assert all(r["body"]["parent_id"] == SAIC for r in fast["answer"]["results"])


def test_a_unique_value_freed_earlier_in_the_run_is_taken_as_op_by_op(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    operations = [
        _op("PUT", "battery-partners", _company("welion-old", "WeLion"), WELION),
        _op("POST", "battery-partners", _company("welion", "WeLion 2")),
        # and the reverse: taken before it is freed, which fails op by op too
        _op("POST", "battery-partners", _company("qingtao", "QingTao 2")),
        _op("PUT", "battery-partners", _company("qingtao-old", "QingTao"), QINGTAO),
    ]
    fast, _ = _both_ways(client, engine, monkeypatch, operations)
    assert [r["status"] for r in fast["answer"]["results"]] == [200, 201, 409, 424]
    # Updates too, in operation order: a slug is taken before its holder lets it go.
    swap = [
        _op("PUT", "battery-partners", _company("qingtao", "WeLion"), WELION),
        _op("PUT", "battery-partners", _company("qingtao-old", "QingTao"), QINGTAO),
    ]
    fast, _ = _both_ways(client, engine, monkeypatch, swap)
    assert [r["status"] for r in fast["answer"]["results"]] == [409, 424]


def test_dry_runs_and_non_atomic_batches_answer_as_the_real_run(
    client: TestClient, engine: Engine
) -> None:
    operations = [_op("POST", "energy-densities", _density("welion", 200 + n)) for n in range(5)]
    operations.append(_op("PUT", "energy-densities", _density("welion", 360), KEPT))
    real = _apply(client, engine, operations)
    lone = _apply(client, engine, operations, atomic=False)
    assert real["answer"] == lone["answer"]
    assert real["changes"] == lone["changes"]
    assert real["entries"] == lone["entries"]
    dry = _apply(client, engine, operations, dry_run=True)
    assert dry["answer"] == {**real["answer"], "dry_run": True}
    assert dry["changes"] == []
    assert len(dry["entries"]) == len(real["entries"]) - 5, "nothing of the batch kept"


def test_import_goes_set_based(client: TestClient, engine: Engine, set_based: list[int]) -> None:
    _setup(client)
    lines = [
        Line(number=n + 1, collection="energy-densities", record=_density("welion", 200 + n))
        for n in range(50)
    ]
    result = import_lines(engine, lines, "cli")
    assert result.rejected == []
    assert result.counts == {"created": 50}
    assert set_based == [50]
    changes = client.get(f"{API}/changes", params={"limit": 1000}).json()["items"]
    assert [c["actor"] for c in changes[-50:]] == ["cli"] * 50


def test_a_left_over_search_entry_is_replaced_as_op_by_op(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch, set_based: list[int]
) -> None:
    """An entry left over for a new record is replaced, set-based as op by op."""
    ghost = str(uuid.uuid4())
    real_setup = _setup

    def with_ghost(client: TestClient) -> None:
        real_setup(client)
        with Session(engine) as session:
            session.add(SearchEntryVersion(record_id=uuid.UUID(ghost), collection="sources",
                                           label="Ghost", label_norm="ghost", local_norm="",
                                           text="ghost", valid_from=utcnow()))  # fmt: skip
            session.commit()

    monkeypatch.setattr(f"{__name__}._setup", with_ghost)
    operations = [
        _op("PUT", "sources", {"slug": "one", "title": "One", "kind": "report"}, ghost),
        _op("PUT", "sources", {"slug": "two", "title": "Two", "kind": "report"}, _id(30)),
    ]
    fast, _ = _both_ways(client, engine, monkeypatch, operations)
    assert set_based == [2]
    labels = {e["label"] for e in fast["entries"] if e["collection"] == "sources"}
    assert labels == {"Report", "One", "Two"}
