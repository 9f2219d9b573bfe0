"""Energy density: the display strings and the value rules of API.md §2."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.builders import API, create, payload_for


@pytest.mark.parametrize(
    ("value_min", "value_max", "unit", "display"),
    [
        (360, 360, "Wh/kg", "360 Wh/kg"),
        (260, 350, "Wh/kg", "260–350 Wh/kg"),
        (400, None, "Wh/kg", "400+ Wh/kg"),
        (811.6, 811.6, "Wh/L", "811.6 Wh/L"),
        (360.0, 360.50, "Wh/kg", "360–360.5 Wh/kg"),
        (2000, 2000, "Wh/kg", "2000 Wh/kg"),
        (3000, None, "Wh/L", "3000+ Wh/L"),
        (0.5, 1, "Wh/kg", "0.5–1 Wh/kg"),
    ],
)
def test_display(
    client: TestClient, value_min: float, value_max: float | None, unit: str, display: str
) -> None:
    record = create(client, "energy-densities", value_min=value_min, value_max=value_max, unit=unit)
    assert record["display"] == display
    assert client.get(f"{API}/energy-densities/{record['id']}").json()["display"] == display


def test_whole_numbers_come_back_as_given(client: TestClient) -> None:
    record = create(client, "energy-densities", value_min=360, value_max=360)
    assert (record["value_min"], record["value_max"]) == (360, 360)
    assert '"value_min":360,' in client.get(f"{API}/energy-densities/{record['id']}").text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"value_min": 0}, "body.value_min"),
        ({"value_min": -5}, "body.value_min"),
        ({"value_min": 350, "value_max": 260}, "body.value_max"),
        ({"value_min": 2001, "value_max": 2001}, "body.value_min"),
        ({"value_min": 1900, "value_max": 2100}, "body.value_max"),
        ({"value_min": 2500, "value_max": 3001, "unit": "Wh/L"}, "body.value_max"),
        ({"value_min": "lots"}, "body.value_min"),
        ({"unit": "kWh"}, "body.unit"),
        ({"level": "car"}, "body.level"),
        ({"status": "rumoured"}, "body.status"),
        ({"as_of": "yesterday"}, "body.as_of"),
    ],
)
def test_value_rules(client: TestClient, changes: dict[str, Any], field: str) -> None:
    body = payload_for(client, "energy-densities", **changes)
    response = client.post(f"{API}/energy-densities", json=body)
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}


def test_value_max_must_be_given(client: TestClient) -> None:
    body = payload_for(client, "energy-densities")
    del body["value_max"]
    response = client.post(f"{API}/energy-densities", json=body)
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"body.value_max"}


def test_non_finite_numbers_are_refused(client: TestClient) -> None:
    body = payload_for(client, "energy-densities")
    raw = (
        '{{"battery_partner_id": "{}", "value_min": NaN, "value_max": Infinity, '
        '"unit": "Wh/kg", "level": "cell", "status": "claimed"}}'.format(body["battery_partner_id"])
    )
    response = client.post(
        f"{API}/energy-densities", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_patch_is_checked_against_the_whole_record(client: TestClient) -> None:
    record = create(client, "energy-densities", value_min=260, value_max=350)
    response = client.patch(f"{API}/energy-densities/{record['id']}", json={"value_min": 400})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"body.value_max"}
    opened = client.patch(
        f"{API}/energy-densities/{record['id']}", json={"value_min": 400, "value_max": None}
    )
    assert opened.status_code == 200
    assert opened.json()["display"] == "400+ Wh/kg"
