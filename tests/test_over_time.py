"""Market intelligence over time (API.md §10): reads known_at an instant, the landscape's diff,
a battery's claims and the claim gap, the Atom digest."""

import csv
import datetime as dt
import io
import sys
import time
from typing import Any

import feedparser
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from app.db import read_session
from app.market.demo import seed
from app.market.registry import SPECS
from app.resources.rows import dumps, shape
from app.resources.versions import at
from tests.builders import API, create
from tests.test_errors import assert_problem
from tests.test_queries import counting


def _now() -> str:
    """An instant between two writes: after the one before, before the one after."""
    time.sleep(0.01)
    instant = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    time.sleep(0.01)
    return instant


def _get(client: TestClient, path: str, **params: Any) -> Any:
    answer = client.get(f"{API}/{path}", params=params)
    assert answer.status_code == 200, answer.text
    return answer


def test_a_record_edited_three_times_and_deleted_read_at_each_instant(client: TestClient) -> None:
    before = _now()
    partner = create(client, "battery-partners", name="Partner one")
    other = create(client, "batteries", battery_partner_id=partner["id"], slug="other-cell")
    battery = create(client, "batteries", battery_partner_id=partner["id"], name="Cell v1")
    instants = [_now()]
    for n in (2, 3, 4):
        client.patch(f"{API}/batteries/{battery['id']}", json={"name": f"Cell v{n}"})
        client.patch(f"{API}/battery-partners/{partner['id']}", json={"name": f"Partner {n}"})
        instants.append(_now())
    assert client.delete(f"{API}/batteries/{battery['id']}").status_code == 204
    gone = _now()
    one = f"batteries/{battery['id']}"
    for n, instant in enumerate(instants, start=1):
        read = _get(client, one, known_at=instant, include="battery_partner")
        record = read.json()
        assert (record["version"], record["name"]) == (n, f"Cell v{n}")
        assert read.headers["etag"].startswith(f'"{n}-'), "the tag of the version shown"
        assert _get(client, one, known_at=instant).headers["etag"] == f'"{n}"'
        assert record["battery_partner"]["name"] == ("Partner one" if n == 1 else f"Partner {n}")
        listed = _get(client, "batteries", known_at=instant, name=f"Cell v{n}", count="true")
        assert [i["id"] for i in listed.json()["items"]] == [battery["id"]]
        assert listed.json()["total"] == 1
        rows = list(csv.DictReader(io.StringIO(_get(
            client, "batteries", known_at=instant, format="csv", sort="name").text)))  # fmt: skip
        assert [row["name"] for row in rows] == sorted([f"Cell v{n}", other["name"]])
        by_slug = _get(client, f"batteries/{battery['slug']}", known_at=instant).json()
        assert by_slug["version"] == n, "{id_or_slug} resolved as of then"
        by_partner = _get(client, "batteries", known_at=instant, battery_partner_id=partner["slug"])
        assert len(by_partner.json()["items"]) == 2, "reference filters as of then"
    assert_problem(client.get(f"{API}/{one}", params={"known_at": gone}), 404)
    assert [i["id"] for i in _get(client, "batteries", known_at=gone).json()["items"]] == [
        other["id"]
    ]
    assert _get(client, "batteries", known_at=before).json() == {"items": [], "next_cursor": None}
    assert_problem(client.get(f"{API}/{one}", params={"known_at": before}), 404)
    # A cursor is bound to its instant: with another (or none) it is refused.
    page = _get(client, "batteries", known_at=instants[1], limit=1).json()
    assert page["next_cursor"]
    link = client.get(f"{API}/batteries", params={"known_at": instants[1], "limit": 1}).headers
    assert "known_at=" in link["link"], "the next page keeps the instant"
    for elsewhere in ({"known_at": instants[2]}, {}):
        refused = client.get(
            f"{API}/batteries", params={"cursor": page["next_cursor"], **elsewhere}
        )
        assert assert_problem(refused, 400)["errors"][0]["field"] == "query.cursor"
    same = _get(client, "batteries", known_at=instants[1], limit=1, cursor=page["next_cursor"])
    assert len(same.json()["items"]) == 1


def test_instants_a_date_is_the_end_of_its_day_and_the_future_is_refused(
    client: TestClient,
) -> None:
    create(client, "sources")
    today = dt.datetime.now(dt.UTC).date()
    assert len(_get(client, "sources", known_at=today.isoformat()).json()["items"]) == 1
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert _get(client, "sources", known_at=yesterday).json()["items"] == []
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    for bad in (soon, tomorrow, "2026-02-30", "2026-03-01T08:00:00+01:00", "2026-03-01T08:00:00",
                "1767225600", "yesterday", "2026-3-1"):  # fmt: skip
        for path, more in (("sources", {}), ("landscape", {}), ("search", {"q": "x"}),
                           ("stats/energy-density", {"group_by": "level"})):  # fmt: skip
            answer = client.get(f"{API}/{path}", params={"known_at": bad, **more})
            assert assert_problem(answer, 400)["errors"][0]["field"] == "query.known_at", bad


def _demo(client: TestClient, engine: Engine) -> dict[str, Any]:
    seed(engine)
    nio: dict[str, Any] = _get(client, "landscape", automaker="nio").json()["items"][0]
    return nio


def test_the_landscape_diff_around_a_stage_change_and_a_new_figure(
    client: TestClient, engine: Engine
) -> None:
    nio = _demo(client, engine)
    start = _now()
    partnership = nio["partnership_id"]
    client.patch(f"{API}/partnerships/{partnership}", json={"stage": "fleet_deployment"})
    battery = _get(client, f"partnerships/{partnership}").json()["battery_id"]
    create(client, "energy-densities", battery_partner_id="welion", battery_id=battery,
           partnership_id=partnership, value_min=380, value_max=380, status="measured",
           as_of="2026-06-30")  # fmt: skip
    added = create(client, "partnerships", automaker_id="changan", battery_partner_id="welion")
    answer = _get(client, "landscape/diff", **{"from": start}).json()
    assert answer["from"] == start
    assert [row["partnership_id"] for row in answer["added"]] == [added["id"]]
    assert answer["removed"] == []
    (changed,) = answer["changed"]
    assert (changed["partnership_id"], changed["automaker"]) == (partnership, "NIO")
    assert changed["changes"] == [
        {"field": "energy_density", "from": "360 Wh/kg", "to": "380 Wh/kg"},
        {"field": "energy_density_min", "from": 360, "to": 380},
        {"field": "energy_density_max", "from": 360, "to": 380},
        {"field": "energy_density_status", "from": "claimed", "to": "measured"},
        {"field": "stage", "from": "mass_production", "to": "fleet_deployment"},
    ]
    lines = list(csv.reader(io.StringIO(_get(client, "landscape/diff", format="csv",
                                             **{"from": start}).text)))  # fmt: skip
    assert lines[0] == ["change", "partnership_id", "automaker", "battery_partner", "field",
                        "from", "to"]  # fmt: skip
    assert [line[0] for line in lines[1:]] == ["added"] + ["changed"] * 5
    assert lines[2][4:] == ["energy_density", "360 Wh/kg", "380 Wh/kg"]
    filtered = _get(client, "landscape/diff", automaker="changan", **{"from": start}).json()
    assert (len(filtered["added"]), filtered["changed"]) == (1, []), "filtered at each instant"
    nothing = _get(client, "landscape/diff", **{"from": _now()}).json()
    assert (nothing["added"], nothing["removed"], nothing["changed"]) == ([], [], [])
    backwards = client.get(f"{API}/landscape/diff", params={"from": _now(), "to": start})
    assert assert_problem(backwards, 400)["errors"][0]["field"] == "query.from"


def test_claims_and_the_claim_gap(client: TestClient, engine: Engine) -> None:
    _demo(client, engine)  # QingTao's battery: a 400+ Wh/kg cell target
    battery = "qingtao-semi-solid"
    figure = {"battery_partner_id": "qingtao-energy", "battery_id": battery, "unit": "Wh/kg",
              "level": "cell"}  # fmt: skip
    create(client, "energy-densities", **figure, value_min=380, value_max=380, status="claimed",
           as_of="2026-04-01")  # fmt: skip
    before = _now()
    measured = create(client, "energy-densities", **figure, value_min=360, value_max=360,
                      status="measured", as_of="2026-05-01")  # fmt: skip
    claims = _get(client, f"batteries/{battery}/claims").json()
    assert claims["target"]["display"] == "400+ Wh/kg"
    assert claims["best_claimed"]["value_min"] == 380
    assert claims["best_measured"]["id"] == measured["id"]
    assert claims["gap"] == {"value": 40, "percent": 10.0}
    assert [r["display"] for r in claims["timeline"]] == ["380 Wh/kg", "360 Wh/kg", "400+ Wh/kg"]
    assert _get(client, f"batteries/{battery}/claims", known_at=before).json()["gap"] is None
    assert _get(client, f"batteries/{battery}/claims", unit="Wh/L").json()["timeline"] == []
    assert_problem(client.get(f"{API}/batteries/no-such-cell/claims"), 404)
    gap = _get(client, "stats/claim-gap", group_by="technology").json()
    assert gap == {"unit": "Wh/kg", "level": "cell", "group_by": "technology", "groups": [
        {"key": "semi_solid", "label": "semi_solid", "batteries": 1, "mean_gap": 40,
         "mean_percent": 10.0, "max_gap": 40}]}  # fmt: skip
    by_partner = _get(client, "stats/claim-gap", group_by="battery_partner").json()["groups"]
    assert [(g["key"], g["label"]) for g in by_partner] == [("qingtao-energy", "QingTao Energy")]
    assert_problem(client.get(f"{API}/stats/claim-gap", params={"group_by": "year"}), 400)


def test_a_target_near_zero_gives_a_percent_not_an_error(
    client: TestClient, engine: Engine
) -> None:
    """value_min need only be above 0: 5e-324 Wh/kg against 360 is a percent beyond a double,
    given as the largest one; 1e-30 one too many digits to round to a tenth (both were 500s)."""
    _demo(client, engine)
    figure = {"battery_partner_id": "qingtao-energy", "battery_id": "qingtao-semi-solid",
              "unit": "Wh/kg", "level": "cell", "value_max": None}  # fmt: skip
    create(client, "energy-densities", **figure, value_min=360, status="measured")
    create(client, "energy-densities", **figure, value_min=1e-30, status="targeted",
           as_of="2040-01-01")  # fmt: skip
    gap = _get(client, "batteries/qingtao-semi-solid/claims").json()["gap"]
    assert gap == {"value": -360, "percent": -3.6e34}
    create(client, "energy-densities", **figure, value_min=5e-324, status="targeted",
           as_of="2041-01-01")  # fmt: skip
    gap = _get(client, "batteries/qingtao-semi-solid/claims").json()["gap"]
    assert gap == {"value": -360, "percent": -sys.float_info.max}
    groups = _get(client, "stats/claim-gap", group_by="technology").json()["groups"]
    assert groups[0]["mean_percent"] == -sys.float_info.max


def test_the_digest_is_atom_with_titles_for_people(client: TestClient, engine: Engine) -> None:
    nio = _demo(client, engine)
    client.patch(f"{API}/partnerships/{nio['partnership_id']}", json={"status": "ended"})
    source = create(client, "sources", url="https://example.com/welion-test")
    tied = {"partnership_id": nio["partnership_id"], "source_id": source["id"]}
    figure = create(client, "energy-densities", battery_partner_id="welion", value_min=370,
                    value_max=370, **tied)  # fmt: skip
    client.delete(f"{API}/energy-densities/{figure['id']}")
    answer = client.get(f"{API}/digest.atom")
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.get("bozo_exception")
    titles = [entry.title for entry in feed.entries]
    assert titles[:3] == [
        "NIO × WeLion: energy density 370 Wh/kg (claimed) (deleted)",
        "NIO × WeLion: energy density 370 Wh/kg (claimed)",
        "NIO × WeLion: status ended",
    ]
    assert "Deepal: milestone mass_production planned" in titles
    newest = feed.entries[1]
    assert newest.id.startswith("urn:battery-intel:change:")
    assert newest.author == "test-admin"
    links = {link.rel: link.href for link in newest.links}
    assert links["alternate"].endswith(f"/api/v1/energy-densities/{figure['id']}")
    assert links["related"] == "https://example.com/welion-test"
    assert len(feed.entries) <= 200
    liquid = feedparser.parse(
        client.get(f"{API}/digest.atom", params={"technology": "liquid"}).content
    )
    assert liquid.entries == [], "filters reach energy densities through their partnership"
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    for bad in (tomorrow, "last week"):
        answer = client.get(f"{API}/digest.atom", params={"since": bad})
        assert assert_problem(answer, 400)["errors"][0]["field"] == "query.since"
    later = client.get(f"{API}/digest.atom", params={"since": _now()})
    assert feedparser.parse(later.content).entries == []


@pytest.mark.parametrize(
    ("path", "more", "found"),
    [("landscape", {}, "items"), ("stats/energy-density", {"group_by": "technology"}, "groups")],
)
def test_views_read_as_of_an_instant(
    client: TestClient, engine: Engine, path: str, more: dict[str, str], found: str
) -> None:
    before = _now()
    _demo(client, engine)
    assert _get(client, path, known_at=before, **more).json()[found] == []
    assert _get(client, path, **more).json()[found]


def test_a_page_as_of_an_instant_is_planned_as_the_engine_event_rewrites_it(
    client: TestClient,
) -> None:
    """A past page's statement is compiled once for its shape (app.resources.plans) with the
    versions read in place of each table it names, as the engine's event would read them:
    the pages, filtered and walked by cursor, answer as that event's do."""
    partner = create(client, "battery-partners", name="Partner")
    made = [
        create(client, "batteries", battery_partner_id=partner["id"], technology="all_solid_state")
        for _ in range(3)
    ]
    create(client, "batteries", battery_partner_id=partner["id"], technology="semi_solid")
    instant = _now()
    client.patch(f"{API}/batteries/{made[0]['id']}", json={"name": "Renamed later"})
    client.delete(f"{API}/batteries/{made[1]['id']}")
    create(client, "batteries", battery_partner_id=partner["id"], technology="all_solid_state")
    engine = client.app.state.engine  # type: ignore[attr-defined]
    asked = {"known_at": instant, "limit": 2, "sort": "name", "technology": "all_solid_state"}
    with counting(engine) as seen:
        first = _get(client, "batteries", **asked).json()
        second = _get(client, "batteries", **asked, cursor=first["next_cursor"]).json()
    assert first["items"] + second["items"] == sorted(made, key=lambda b: (b["name"], b["id"]))
    pages = [s for s in seen if "FROM batteries" in s and "ORDER BY" in s]
    assert len(pages) == 2
    assert all("batteries_versions" in s for s in pages), seen
    spec = next(s for s in SPECS if s.path == "batteries")
    table = spec.sa_table
    with read_session(at(engine, dt.datetime.fromisoformat(instant))) as session:
        rows = session.execute(
            select(*shape(spec).columns)
            .where(table.c.technology == "all_solid_state")
            .order_by(table.c.name, table.c.id)
        ).all()  # through the engine's event
    assert orjson.loads(dumps(shape(spec).records(rows))) == first["items"] + second["items"]
