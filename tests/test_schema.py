"""The database itself enforces what it can: enums, bounds, references, uniqueness."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError

from app.market.registry import SPECS
from app.resources.catalog import catalog
from app.resources.records import enum_fields
from tests.builders import create

ENUM_COLUMNS = [(spec.path, name) for spec in SPECS for name, _ in enum_fields(spec.models.create)]
BAD_VALUES = [
    ("energy-densities", {"value_min": 0}),
    ("energy-densities", {"value_min": 300, "value_max": 200}),
    ("energy-densities", {"value_min": 2500, "value_max": 2500}),
    ("batteries", {"pack_capacity_kwh": -1}),
    ("battery-partners", {"founded_year": 1500}),
    ("milestones", {"battery_partner_id": None, "automaker_id": None}),
    ("automakers", {"parent_id": "self"}),
    ("batteries", {"battery_partner_id": uuid.uuid4()}),
]


def _raw_update(engine: Engine, path: str, record_id: str, values: dict[str, object]) -> None:
    table = catalog.by_path(path).sa_table
    values = {k: uuid.UUID(record_id) if v == "self" else v for k, v in values.items()}
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == uuid.UUID(record_id)).values(values))


def test_every_enum_field_is_checked() -> None:
    assert len(ENUM_COLUMNS) == 11


@pytest.mark.parametrize(("path", "column"), ENUM_COLUMNS)
def test_database_refuses_a_value_outside_the_enum(
    client: TestClient, engine: Engine, path: str, column: str
) -> None:
    record = create(client, path)
    with pytest.raises(IntegrityError):
        _raw_update(engine, path, record["id"], {column: "nope"})


@pytest.mark.parametrize(("path", "values"), BAD_VALUES)
def test_database_refuses_broken_rules(
    client: TestClient, engine: Engine, path: str, values: dict[str, object]
) -> None:
    record = create(client, path)
    with pytest.raises(IntegrityError):
        _raw_update(engine, path, record["id"], values)


def test_database_refuses_a_duplicate_slug(client: TestClient, engine: Engine) -> None:
    first, second = create(client, "sources"), create(client, "sources")
    with pytest.raises(IntegrityError):
        _raw_update(engine, "sources", second["id"], {"slug": first["slug"]})
