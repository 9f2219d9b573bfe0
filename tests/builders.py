"""payload_for(): a valid body for any collection, creating what it references on the way."""

import itertools
from typing import Any

from fastapi.testclient import TestClient

API = "/api/v1"
_serial = itertools.count(1)

# A field of each collection that a PATCH can change, with a new value.
CHANGE = {
    "sources": ("title", "A changed title"),
    "automakers": ("name", "A changed name"),
    "battery-partners": ("headquarters", "Hefei"),
    "batteries": ("technology", "all_solid_state"),
    "partnerships": ("vehicle_models", ["ET7", "ES6"]),
    "energy-densities": ("status", "measured"),
    "milestones": ("status", "achieved"),
}


def create(client: TestClient, path: str, **overrides: Any) -> dict[str, Any]:
    response = client.post(f"{API}/{path}", json=payload_for(client, path, **overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _ref(client: TestClient, overrides: dict[str, Any], field: str, path: str) -> Any:
    return overrides[field] if field in overrides else create(client, path)["id"]


def payload_for(client: TestClient, path: str, **overrides: Any) -> dict[str, Any]:
    n = next(_serial)
    body: dict[str, Any]
    if path == "sources":
        body = {"slug": f"source-{n}", "title": f"Source {n}", "kind": "report"}
    elif path in ("automakers", "battery-partners"):
        body = {"slug": f"{path[:7]}-{n}", "name": f"Company {n}", "country": "CN"}
    elif path == "batteries":
        partner = _ref(client, overrides, "battery_partner_id", "battery-partners")
        body = {
            "slug": f"battery-{n}",
            "name": f"Battery {n}",
            "battery_partner_id": partner,
            "technology": "semi_solid",
        }
    elif path == "partnerships":
        body = {
            "automaker_id": _ref(client, overrides, "automaker_id", "automakers"),
            "battery_partner_id": _ref(client, overrides, "battery_partner_id", "battery-partners"),
            "status": "active",
        }
    elif path == "energy-densities":
        body = {
            "battery_partner_id": _ref(client, overrides, "battery_partner_id", "battery-partners"),
            "value_min": 300,
            "value_max": 300,
            "unit": "Wh/kg",
            "level": "cell",
            "status": "claimed",
        }
    elif path == "milestones":
        subject = (
            {}
            if any(k.endswith("_id") for k in overrides)
            else {"automaker_id": create(client, "automakers")["id"]}
        )
        body = {
            **subject,
            "stage": "announced",
            "status": "planned",
            "date": "2027-01-01",
            "date_precision": "year",
            "title": f"Milestone {n}",
        }
    else:
        raise ValueError(path)
    return {**body, **overrides}
