"""Run in a process of its own (tests/test_recipe.py): register the throwaway collection
beside the seven, give it its table, and use every part of the API through it.

    python -m tests.recipe.check DATABASE_URL ADMIN_KEY
"""

import datetime as dt
import sys
import time
from typing import Any

from fastapi.testclient import TestClient

import app.tables  # noqa: F401 - the seven collections, as the app has them
from app.db import get_engine
from app.main import create_app
from app.resources.catalog import catalog
from app.resources.versions import versions_of
from app.settings import Settings
from tests.recipe.gadgets import GADGETS, Gadget

API = "/api/v1"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else None


def main(url: str, key: str) -> None:
    catalog.register(GADGETS)  # the one line a new collection adds to app/market/registry.py
    table = Gadget.__table__  # type: ignore[attr-defined]
    for made in (table, versions_of(table)):  # what its migration makes: it and its history
        made.create(get_engine(url))
    app = create_app(Settings(database_url=url, _env_file=None))
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        exercise(client)
    print("the machine served the eighth collection")


def exercise(client: TestClient) -> None:
    maker = {"slug": "nio", "name": "NIO", "country": "CN"}
    nio = ok(client.post(f"{API}/automakers", json=maker), 201)
    other = ok(client.post(f"{API}/automakers", json={**maker, "slug": "vw", "country": "DE"}), 201)
    body = {"slug": "roof-box", "name": "Roof box", "maker_id": "nio", "colour": "red"}
    gadget = ok(client.post(f"{API}/gadgets", json=body), 201)
    assert (gadget["maker_id"], gadget["version"]) == (nio["id"], 1), gadget
    ok(client.post(f"{API}/gadgets", json={**body, "slug": "mug", "name": "Mug", "maker_id": "vw",
                                           "colour": "blue", "weight_kg": 0.4}), 201)  # fmt: skip

    # Reads: by slug, ETag, filters derived from its fields, its own join, sort, CSV, include.
    assert ok(client.get(f"{API}/gadgets/roof-box"))["id"] == gadget["id"]
    tag = client.get(f"{API}/gadgets/{gadget['id']}").headers["etag"]
    assert client.get(f"{API}/gadgets/roof-box", headers={"If-None-Match": tag}).status_code == 304

    def names(**query: str) -> list[str]:
        return [g["name"] for g in ok(client.get(f"{API}/gadgets", params=query))["items"]]

    assert names(colour="blue") == ["Mug"]
    assert names(country="cn") == ["Roof box"], "the join the spec declares"
    assert names(weight_kg__isnull="true") == ["Roof box"]
    assert names(sort="-name") == ["Roof box", "Mug"]
    assert names(maker_id="vw") == ["Mug"], "a reference filter takes a slug"
    assert names(q="roof") == ["Roof box"], "its text index"
    assert client.get(f"{API}/gadgets", params={"colour": "pink"}).status_code == 400
    csv = client.get(f"{API}/gadgets", params={"format": "csv"}).text.splitlines()
    assert csv[0].startswith("id,version,created_at,updated_at,slug,name,maker_id"), csv[0]
    included = ok(client.get(f"{API}/gadgets/mug", params={"include": "maker"}))
    assert included["maker"]["id"] == other["id"]

    # Search across collections labels it by name and finds it by its maker's name.
    found = ok(client.get(f"{API}/search", params={"q": "nio"}))["items"]
    assert {(i["collection"], i["label"]) for i in found} >= {("gadgets", "Roof box")}, found

    # Writes: PUT at a client id, merge patch with If-Match, a rule broken, history, feed.
    put_id = "6a1e0f3c-0000-4000-8000-00000000a001"
    ok(client.put(f"{API}/gadgets/{put_id}", json={**body, "slug": "pen", "name": "Pen"}), 201)
    time.sleep(0.01)
    before = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.01)
    patched = ok(client.patch(f"{API}/gadgets/pen", json={"colour": "green"},
                              headers={"If-Match": '"1"'}))  # fmt: skip
    assert patched["version"] == 2
    bad = client.post(f"{API}/gadgets", json={**body, "slug": "x", "maker_id": "nobody"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.maker_id"
    assert [h["version"] for h in ok(client.get(f"{API}/gadgets/pen/history"))["items"]] == [1, 2]
    feed = ok(client.get(f"{API}/changes", params={"collections": "gadgets"}))["items"]
    assert [c["op"] for c in feed] == ["create", "create", "create", "update"], feed

    # A batch, set-based for its run of PUTs, referencing the maker by slug.
    operations = [
        {"method": "PUT", "collection": "gadgets", "id": f"6a1e0f3c-0000-4000-8000-00000000b00{n}",
         "body": {**body, "slug": f"box-{n}", "name": f"Box {n}"}}
        for n in range(3)
    ]  # fmt: skip
    results = ok(client.post(f"{API}/batch", json={"operations": operations}))["results"]
    assert [r["status"] for r in results] == [201] * 3

    # The machine knows who references whom: the maker cannot go while gadgets point at it.
    blocked = client.delete(f"{API}/automakers/vw")
    assert blocked.status_code == 409
    assert blocked.json()["references"][0]["collection"] == "gadgets"
    assert client.delete(f"{API}/gadgets/mug").status_code == 204
    assert client.delete(f"{API}/automakers/vw").status_code == 204

    # Its history is kept: read as of an instant before the PATCH, the pen was red.
    assert ok(client.get(f"{API}/gadgets/pen", params={"known_at": before}))["colour"] == "red"

    # Export carries it, and the OpenAPI documents its own concrete paths.
    exported = client.get(f"{API}/export").text
    assert exported.count('"collection":"gadgets"') == 5, exported
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/gadgets", "/api/v1/gadgets/{id}", "/api/v1/gadgets/{id}/history"} <= set(paths)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
