"""ETags and conditional requests: 304, 412, create-only PUT; no lost updates."""

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.builders import API, create, payload_for


def test_get_with_current_etag_is_304(client: TestClient) -> None:
    record = create(client, "sources")
    url = f"{API}/sources/{record['id']}"
    etag = client.get(url).headers["etag"]
    assert etag == '"1"'
    not_modified = client.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert client.get(url, headers={"If-None-Match": '"7", W/"1"'}).status_code == 304
    client.patch(url, json={"title": "new"})
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_stale_if_match_is_412_and_changes_nothing(client: TestClient, method: str) -> None:
    record = create(client, "sources")
    url = f"{API}/sources/{record['id']}"
    client.patch(url, json={"title": "second"})
    kwargs = (
        {} if method == "delete" else {"json": {**payload_for(client, "sources"), "title": "x"}}
    )
    if method == "patch":
        kwargs = {"json": {"title": "third"}}
    response = getattr(client, method)(url, headers={"If-Match": '"1"'}, **kwargs)
    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    current = client.get(url).json()
    assert (current["version"], current["title"]) == (2, "second")


def test_matching_if_match_lets_the_write_through(client: TestClient) -> None:
    record = create(client, "sources")
    url = f"{API}/sources/{record['id']}"
    ok = client.patch(url, json={"title": "second"}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200
    assert client.delete(url, headers={"If-Match": ok.headers["etag"]}).status_code == 204


def test_if_none_match_star_on_put_creates_only(client: TestClient) -> None:
    url = f"{API}/sources/{uuid.uuid4()}"
    body = payload_for(client, "sources")
    assert client.put(url, json=body, headers={"If-None-Match": "*"}).status_code == 201
    again = client.put(url, json={**body, "title": "other"}, headers={"If-None-Match": "*"})
    assert again.status_code == 412
    assert client.get(url).json()["title"] == body["title"]


def test_if_match_on_put_to_missing_record_is_412(client: TestClient) -> None:
    url = f"{API}/sources/{uuid.uuid4()}"
    response = client.put(url, json=payload_for(client, "sources"), headers={"If-Match": '"1"'})
    assert response.status_code == 412
    assert client.get(url).status_code == 404


def test_malformed_etag_header_is_400(client: TestClient) -> None:
    record = create(client, "sources")
    response = client.patch(
        f"{API}/sources/{record['id']}", json={"title": "x"}, headers={"If-Match": "1"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "header.If-Match"


def test_two_writers_with_the_same_tag_one_wins(client: TestClient) -> None:
    record = create(client, "sources")
    url = f"{API}/sources/{record['id']}"
    first = client.patch(url, json={"title": "writer one"}, headers={"If-Match": '"1"'})
    second = client.patch(url, json={"title": "writer two"}, headers={"If-Match": '"1"'})
    assert (first.status_code, second.status_code) == (200, 412)
    assert client.get(url).json()["title"] == "writer one"


def test_a_read_with_include_is_tagged_by_what_it_embeds(client: TestClient) -> None:
    partner = create(client, "battery-partners")
    battery = create(client, "batteries", battery_partner_id=partner["id"])
    url = f"{API}/batteries/{battery['id']}"
    plain = client.get(url).headers["etag"]
    embedded = client.get(url, params={"include": "battery_partner"})
    tag = embedded.headers["etag"]
    assert plain == '"1"'
    assert tag not in (plain, "")
    fresh = client.get(url, params={"include": "battery_partner"}, headers={"If-None-Match": tag})
    assert fresh.status_code == 304
    assert fresh.headers["etag"] == tag
    # The partner changes, the battery does not: the embedded answer is stale now.
    changed = {"If-Match": f'"{partner["version"]}"'}
    assert client.patch(f"{API}/battery-partners/{partner['id']}", json={"headquarters": "Hefei"},
                        headers=changed).status_code == 200  # fmt: skip
    stale = client.get(url, params={"include": "battery_partner"}, headers={"If-None-Match": tag})
    assert stale.status_code == 200
    assert stale.json()["battery_partner"]["headquarters"] == "Hefei"
    assert stale.headers["etag"] != tag
    assert client.get(url, headers={"If-None-Match": plain}).status_code == 304, "own tag kept"
    assert client.get(url, params={"include": "battery_partner"},
                      headers={"If-None-Match": plain}).status_code == 200  # fmt: skip
