"""Hostile and odd input: every rejection a problem naming the field, never a 500."""

import base64
import uuid

import pytest
from fastapi.testclient import TestClient

from tests.builders import API, create, payload_for
from tests.test_errors import assert_problem, fields


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _b64(b'{"s":"created_at,id","v":["2026-01-01T00:00:00+00:00","' + b"0" * 32 + b'"]}'),
        _b64(b"\x00" * 8 + b'{"s":"created_at,id","v":["0001-01-01T00:00:00+14:00","x"]}'),
        _b64(b"[" * 5000 + b"]" * 5000),
        "%%%",
        "",
    ],
)
def test_forged_or_broken_cursors_are_400(client: TestClient, cursor: str) -> None:
    problem = assert_problem(client.get(f"{API}/automakers", params={"cursor": cursor}), 400)
    assert fields(problem) == {"query.cursor"}


def test_a_cursor_from_another_sort_is_400(client: TestClient) -> None:
    for _ in range(3):
        create(client, "sources")
    cursor = client.get(f"{API}/sources?limit=1&sort=title").json()["next_cursor"]
    problem = assert_problem(client.get(f"{API}/sources?cursor={cursor}&sort=-title"), 400)
    assert fields(problem) == {"query.cursor"}


def test_nul_characters_are_refused_everywhere(client: TestClient) -> None:
    body = payload_for(client, "automakers", name="a\u0000b")
    assert fields(assert_problem(client.post(f"{API}/automakers", json=body), 422)) == {"body.name"}
    assert_problem(client.get(f"{API}/automakers/a%00b"), 404)
    assert fields(assert_problem(client.get(f"{API}/automakers?slug=a%00b"), 400)) == {"query.slug"}


def test_a_reference_that_is_neither_uuid_nor_slug_names_only_its_field(
    client: TestClient,
) -> None:
    body = payload_for(client, "automakers", parent_id="Bad Slug")
    problem = assert_problem(client.post(f"{API}/automakers", json=body), 422)
    assert problem["errors"] == [
        {"field": "body.parent_id", "message": "must be the target's UUID or slug"}
    ]


def test_malformed_json_names_the_body(client: TestClient) -> None:
    response = client.post(
        f"{API}/sources", content=b'{"slug": ', headers={"content-type": "application/json"}
    )
    assert fields(assert_problem(response, 422)) == {"body"}


def test_patch_ignores_read_only_fields_but_not_another_id(client: TestClient) -> None:
    record = create(client, "automakers")
    url = f"{API}/automakers/{record['id']}"
    echoed = {k: record[k] for k in ("id", "version", "created_at", "updated_at")}
    response = client.patch(url, json={**echoed, "name": "Renamed"})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    other = client.patch(url, json={"id": str(uuid.uuid4()), "name": "x"})
    assert fields(assert_problem(other, 422)) == {"body.id"}


def test_merge_patch_null_resets_a_list_and_clears_an_optional_field(client: TestClient) -> None:
    partnership = create(client, "partnerships", vehicle_models=["ET7"], description="d")
    url = f"{API}/partnerships/{partnership['id']}"
    patched = client.patch(url, json={"vehicle_models": None, "description": None})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["vehicle_models"], patched.json()["description"]) == ([], None)
    required = client.patch(url, json={"status": None})
    assert fields(assert_problem(required, 422)) == {"body.status"}


def test_weak_tags_never_satisfy_if_match_but_do_if_none_match(client: TestClient) -> None:
    record = create(client, "sources")
    url = f"{API}/sources/{record['id']}"
    assert client.get(url, headers={"If-None-Match": 'W/"1"'}).status_code == 304
    weak = client.patch(url, json={"title": "x"}, headers={"If-Match": 'W/"1"'})
    assert_problem(weak, 412)
    broken = client.patch(url, json={"title": "x"}, headers={"If-Match": '"a"b"'})
    assert fields(assert_problem(broken, 400)) == {"header.If-Match"}


def test_brand_groups_cannot_form_a_cycle(client: TestClient) -> None:
    group = create(client, "automakers")
    brand = create(client, "automakers", parent_id=group["slug"])
    response = client.patch(f"{API}/automakers/{group['id']}", json={"parent_id": brand["id"]})
    assert fields(assert_problem(response, 422)) == {"body.parent_id"}


def test_duplicate_slug_names_the_field_and_the_rule(client: TestClient) -> None:
    first = create(client, "battery-partners")
    body = payload_for(client, "battery-partners", slug=first["slug"])
    problem = assert_problem(client.post(f"{API}/battery-partners", json=body), 409)
    assert fields(problem) == {"body.slug"}
    assert problem["constraint"] == "uq_battery_partners_slug"


def test_duplicate_pair_without_battery_names_the_same_rule_on_both_databases(
    client: TestClient,
) -> None:
    pair = {
        "automaker_id": create(client, "automakers")["id"],
        "battery_partner_id": create(client, "battery-partners")["id"],
    }
    create(client, "partnerships", **pair)
    again = client.post(f"{API}/partnerships", json=payload_for(client, "partnerships", **pair))
    problem = assert_problem(again, 409)
    assert problem["constraint"] == "uq_partnerships_automaker_id_battery_partner_id_no_battery"
    assert fields(problem) == {"body.automaker_id", "body.battery_partner_id"}


def test_tiny_figures_display_without_an_exponent(client: TestClient) -> None:
    record = create(client, "energy-densities", value_min=1e-7, value_max=1e-7)
    assert record["display"] == "0.0000001 Wh/kg"


def test_long_unknown_keys_are_not_echoed_in_full(client: TestClient) -> None:
    response = client.get(f"{API}/automakers/{'x' * 20_000}")
    assert_problem(response, 404)
    assert len(response.text) < 1_000


def test_unicode_and_sql_look_alikes_are_just_text(client: TestClient) -> None:
    tricky = "Robert'); DROP TABLE automakers;-- 🔋 ñ 蔚来"
    record = create(client, "automakers", description=tricky)
    assert client.get(f"{API}/automakers/{record['id']}").json()["description"] == tricky
    assert client.get(f"{API}/automakers?name={tricky}").json()["items"] == []
