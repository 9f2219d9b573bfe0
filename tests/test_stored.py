"""List pages splice each record's JSON as its current version's write stored it in the
change log (app.resources.stored), only where it was written in today's shape, and make
the others from the columns."""

from typing import Any
from uuid import UUID, uuid4

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from app.market.registry import SPECS
from app.resources import stored
from app.resources.catalog import catalog
from app.resources.changelog import CHANGES
from app.resources.formats import _structure, record_shape
from tests.builders import API, CHANGE, create


def _listed(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"{API}/{path}", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _current_entry(engine: Engine, record_id: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            select(CHANGES.c.seq, CHANGES.c.record, CHANGES.c.shape)
            .where(CHANGES.c.record_id == UUID(record_id))
            .order_by(CHANGES.c.seq.desc())
            .limit(1)
        ).one()


def _set_entry(engine: Engine, seq: int, **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(update(CHANGES).where(CHANGES.c.seq == seq).values(**values))


def test_every_collections_list_is_its_records_json_created_and_changed(
    client: TestClient,
) -> None:
    made = {spec.path: create(client, spec.path) for spec in SPECS}
    for spec in SPECS:
        field, value = CHANGE[spec.path]
        record = made[spec.path]
        response = client.patch(f"{API}/{spec.path}/{record['id']}", json={field: value})
        assert response.status_code == 200, response.text
        made[spec.path] = response.json()
    for spec in SPECS:
        listed = {item["id"]: item for item in _listed(client, spec.path)}
        record = made[spec.path]
        assert listed[record["id"]] == client.get(f"{API}/{spec.path}/{record['id']}").json()
        assert list(listed[record["id"]]) == list(record), "the same key order"
        assert listed[record["id"]]["version"] == 2


def test_only_a_stored_json_of_todays_shape_is_sent(client: TestClient, engine: Engine) -> None:
    source = create(client, "sources", title="Ｓｏｕｒｃｅ 電池")
    seq, record, shape = _current_entry(engine, source["id"])
    assert shape == record_shape(catalog.by_path("sources"))
    # The stored text is what the page sends: a tampered copy shows, while its shape holds.
    _set_entry(engine, seq, record={**record, "title": "as stored"})
    assert [item["title"] for item in _listed(client, "sources")] == ["as stored"]
    for other in (shape + 1, None):  # another code's shape, or an entry before 0015
        _set_entry(engine, seq, shape=other)
        assert _listed(client, "sources") == [source]
    assert client.get(f"{API}/sources/{source['id']}").json() == source


def test_a_page_of_stored_and_made_records_keeps_its_order_and_cursor(
    client: TestClient, engine: Engine
) -> None:
    sources = [create(client, "sources", title=f"Source {n}") for n in range(5)]
    for source in sources[1::2]:
        seq, _, _ = _current_entry(engine, source["id"])
        _set_entry(engine, seq, shape=None)
    everything = _listed(client, "sources", sort="title")
    assert everything == sources
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"sort": "-title", "limit": 2}
    while True:
        body = client.get(f"{API}/sources", params=params).json()
        pages += body["items"]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert pages == sources[::-1]


def test_a_record_made_again_under_its_id_is_listed_as_it_is_now(client: TestClient) -> None:
    record_id = str(uuid4())
    body = {"slug": "again", "title": "The first", "kind": "report"}
    assert client.put(f"{API}/sources/{record_id}", json=body).status_code == 201
    assert client.delete(f"{API}/sources/{record_id}").status_code == 204
    made = client.put(f"{API}/sources/{record_id}", json={**body, "title": "The second"})
    assert made.status_code == 201, made.text
    assert _listed(client, "sources") == [made.json()]


def test_mark_gives_todays_shape_to_the_entries_that_match_their_records(
    client: TestClient, engine: Engine
) -> None:
    sources = [create(client, "sources") for _ in range(3)]
    partner = create(client, "battery-partners", name_local="蔚来")
    with engine.begin() as connection:
        connection.execute(update(CHANGES).values(shape=None))
    tampered, record, _ = _current_entry(engine, sources[1]["id"])
    _set_entry(engine, tampered, record={**record, "title": "not the record"})

    with engine.connect() as connection:
        marked = stored.mark(connection)
    with engine.connect() as connection:
        shapes = dict(connection.execute(select(CHANGES.c.seq, CHANGES.c.shape)).all())
    current = {_current_entry(engine, r["id"])[0] for r in [*sources, partner]}
    assert marked == len(current) - 1
    assert shapes[tampered] is None
    assert all(shapes[seq] is not None for seq in current - {tampered})
    assert _listed(client, "sources") == sources
    with engine.connect() as connection:
        assert stored.mark(connection) == 0, "nothing left to mark"


def test_a_records_shape_sees_its_fields_not_their_prose() -> None:
    """A field named like the schema's prose (`description`, `title`) is part of the shape;
    the words describing a field are not."""
    schema = {
        "title": "Source",
        "properties": {
            "title": {"type": "string", "title": "Title", "description": "What it is called"},
            "description": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    }
    assert _structure(schema) == {
        "properties": {
            "title": {"type": "string"},
            "description": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        }
    }
    sources = catalog.by_path("sources")
    assert record_shape(sources) != record_shape(catalog.by_path("automakers"))
