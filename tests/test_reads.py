"""The read paths that skip the ORM (app.resources.rows) answer what the models would, and
deep keyset pages seek an index instead of scanning."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.market.registry import SPECS
from app.resources.formats import record_json
from app.resources.rows import shape
from tests.builders import API, create
from tests.test_queries import counting


def test_rows_are_the_public_models_json(client: TestClient, engine: Engine) -> None:
    partner = create(client, "battery-partners", founded_year=2016, name_local="蔚来")
    create(client, "energy-densities", battery_partner_id=partner["id"], value_min=811.6,
           value_max=None, unit="Wh/L", as_of="2025-06-30")  # fmt: skip
    create(client, "energy-densities", battery_partner_id=partner["id"], value_min=360,
           value_max=360)  # fmt: skip
    with Session(engine) as session:
        for spec in SPECS:
            table: Any = spec.table
            for record in session.scalars(select(table)):
                via_api = client.get(f"{API}/{spec.path}/{record.id}").json()
                assert via_api == record_json(spec, record)
                assert list(via_api) == list(record_json(spec, record)), "same order"
                row = session.execute(
                    select(*shape(spec).columns).where(table.id == record.id)
                ).one()
                assert shape(spec).record(row).keys() == record_json(spec, record).keys()


def test_a_deep_page_is_a_row_value_seek(client: TestClient) -> None:
    partner = create(client, "battery-partners")["id"]
    for value in (300, 310, 310, 320):
        create(client, "energy-densities", battery_partner_id=partner, value_min=value,
               value_max=value)  # fmt: skip
    url = f"{API}/energy-densities?sort=-value_min&limit=1"
    seen = []
    with counting(client.app.state.engine) as statements:  # type: ignore[attr-defined]
        while url:
            page = client.get(url)
            seen += [item["value_min"] for item in page.json()["items"]]
            link = page.headers.get("link")
            url = link[1 : link.index(">")] if link else ""
    assert seen == [320, 310, 310, 300]
    assert any("(energy_densities.value_min, energy_densities.id) <" in s for s in statements), (
        statements
    )
