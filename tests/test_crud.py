"""CRUD for every collection through the one generic machine."""

import uuid

import pytest
from fastapi.testclient import TestClient

from app.market.registry import SPECS
from tests.builders import API, CHANGE, create, payload_for

PATHS = [spec.path for spec in SPECS]
SLUGGED = [spec.path for spec in SPECS if spec.has_slug]


@pytest.mark.parametrize("path", PATHS)
def test_create_then_read_back(client: TestClient, path: str) -> None:
    body = payload_for(client, path)
    response = client.post(f"{API}/{path}", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"{API}/{path}/{created['id']}"
    assert response.headers["etag"] == '"1"'
    assert created["version"] == 1
    assert created["created_at"].endswith("Z")
    assert (
        created["created_at"] == created["updated_at"]
        or created["updated_at"] > created["created_at"]
    )
    got = client.get(response.headers["location"])
    assert got.status_code == 200
    assert got.json() == created
    for field, value in body.items():
        if not field.endswith("_id"):
            assert created[field] == value, field


@pytest.mark.parametrize("path", PATHS)
def test_list_pages_walk_every_record_once(client: TestClient, path: str) -> None:
    made = {create(client, path)["id"] for _ in range(3)}
    seen: list[str] = []
    url: str | None = f"{API}/{path}?limit=2"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        link = response.headers.get("link")
        assert (link is not None) == (page["next_cursor"] is not None)
        url = link.split(">")[0].lstrip("<") if link else None
        pages += 1
    assert made <= set(seen)
    assert len(seen) == len(set(seen))
    assert pages >= 2


def test_cursor_is_stable_while_rows_are_added(client: TestClient) -> None:
    first = [create(client, "sources")["id"] for _ in range(4)]
    page1 = client.get(f"{API}/sources?limit=2").json()
    added = create(client, "sources")["id"]
    page2 = client.get(f"{API}/sources?limit=2&cursor={page1['next_cursor']}").json()
    page3 = client.get(f"{API}/sources?limit=2&cursor={page2['next_cursor']}").json()
    walked = [i["id"] for p in (page1, page2, page3) for i in p["items"]]
    assert walked == [*first, added]


@pytest.mark.parametrize("path", PATHS)
def test_patch_changes_one_field_and_bumps_version(client: TestClient, path: str) -> None:
    record = create(client, path)
    field, value = CHANGE[path]
    response = client.patch(
        f"{API}/{path}/{record['id']}",
        json={field: value},
        headers={"content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched[field] == value
    assert patched["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert patched["updated_at"] > record["updated_at"]
    assert {k: v for k, v in patched.items() if k not in (field, "version", "updated_at")} == {
        k: v for k, v in record.items() if k not in (field, "version", "updated_at")
    }


@pytest.mark.parametrize("path", PATHS)
def test_put_creates_at_client_id_then_replaces(client: TestClient, path: str) -> None:
    record_id = str(uuid.uuid4())
    body = payload_for(client, path)
    created = client.put(f"{API}/{path}/{record_id}", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["id"] == record_id
    assert created.headers["location"] == f"{API}/{path}/{record_id}"
    field, value = CHANGE[path]
    replaced = client.put(f"{API}/{path}/{record_id}", json={**body, field: value})
    assert replaced.status_code == 200
    assert replaced.json()[field] == value
    assert replaced.json()["version"] == 2
    same = client.put(f"{API}/{path}/{record_id}", json=replaced.json())
    assert same.status_code == 200
    assert same.json()["version"] == 2, "an identical PUT (a record read back) changes nothing"


@pytest.mark.parametrize("path", PATHS)
def test_delete_then_404(client: TestClient, path: str) -> None:
    record = create(client, path)
    assert client.delete(f"{API}/{path}/{record['id']}").status_code == 204
    gone = client.get(f"{API}/{path}/{record['id']}")
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    again = client.delete(f"{API}/{path}/{record['id']}")
    assert again.status_code == 404
    assert client.patch(f"{API}/{path}/{record['id']}", json={}).status_code == 404


@pytest.mark.parametrize("path", SLUGGED)
def test_slug_addresses_the_record(client: TestClient, path: str) -> None:
    record = create(client, path)
    assert client.get(f"{API}/{path}/{record['slug']}").json()["id"] == record["id"]
    field, value = CHANGE[path]
    patched = client.patch(f"{API}/{path}/{record['slug']}", json={field: value})
    assert patched.status_code == 200
    assert client.delete(f"{API}/{path}/{record['slug']}").status_code == 204


@pytest.mark.parametrize("path", SLUGGED)
def test_duplicate_slug_is_409(client: TestClient, path: str) -> None:
    record = create(client, path)
    duplicate = client.post(f"{API}/{path}", json=payload_for(client, path, slug=record["slug"]))
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    assert client.get(f"{API}/{path}?limit=500").json()["items"].count(record) == 1


def test_references_accept_slugs_and_answer_ids(client: TestClient) -> None:
    partner = create(client, "battery-partners", slug="welion")
    battery = create(client, "batteries", battery_partner_id="welion", slug="welion-cell")
    assert battery["battery_partner_id"] == partner["id"]
    density = create(
        client, "energy-densities", battery_partner_id="welion", battery_id="welion-cell"
    )
    assert (density["battery_partner_id"], density["battery_id"]) == (partner["id"], battery["id"])


def test_reference_to_missing_record_is_422_naming_the_field(client: TestClient) -> None:
    response = client.post(
        f"{API}/batteries", json=payload_for(client, "batteries", battery_partner_id="nobody")
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "body.battery_partner_id",
            "message": "no battery partner with id or slug 'nobody'",
        }
    ]
    missing = str(uuid.uuid4())
    response = client.post(
        f"{API}/energy-densities",
        json=payload_for(client, "energy-densities", partnership_id=missing),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.partnership_id"


def test_delete_of_referenced_record_is_409_naming_collection_and_count(
    client: TestClient,
) -> None:
    partner = create(client, "battery-partners")
    create(client, "batteries", battery_partner_id=partner["id"])
    create(client, "batteries", battery_partner_id=partner["id"])
    create(client, "energy-densities", battery_partner_id=partner["id"])
    response = client.delete(f"{API}/battery-partners/{partner['id']}")
    assert response.status_code == 409
    problem = response.json()
    assert {"collection": "batteries", "field": "battery_partner_id", "count": 2} in problem[
        "references"
    ]
    assert "2 batteries" in problem["detail"]
    assert "energy-densities" in problem["detail"]
    assert client.get(f"{API}/battery-partners/{partner['id']}").status_code == 200


def test_duplicate_partnership_is_409_also_without_battery(client: TestClient) -> None:
    automaker = create(client, "automakers")["id"]
    partner = create(client, "battery-partners")["id"]
    pair = {"automaker_id": automaker, "battery_partner_id": partner}
    create(client, "partnerships", **pair)
    again = client.post(f"{API}/partnerships", json=payload_for(client, "partnerships", **pair))
    assert again.status_code == 409
    battery = create(client, "batteries", battery_partner_id=partner)["id"]
    create(client, "partnerships", **pair, battery_id=battery)
    with_battery = payload_for(client, "partnerships", **pair, battery_id=battery)
    assert client.post(f"{API}/partnerships", json=with_battery).status_code == 409


def test_automaker_cannot_be_its_own_parent(client: TestClient) -> None:
    maker = create(client, "automakers")
    response = client.patch(f"{API}/automakers/{maker['id']}", json={"parent_id": maker["slug"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.parent_id"


def test_chinese_names_round_trip(client: TestClient) -> None:
    maker = create(client, "automakers", name_local="蔚来汽车", description="换电 🔋 ñ")
    got = client.get(f"{API}/automakers/{maker['id']}")
    assert got.json()["name_local"] == "蔚来汽车"
    assert "蔚来汽车".encode() in got.content, "UTF-8 in the body, not \\u escapes"
    assert got.json()["description"] == "换电 🔋 ñ"
