"""SPECS: the one list of collections that the app, migrations, CLI and tests loop over."""

from app.market.companies import AUTOMAKERS, BATTERY_PARTNERS
from app.market.products import BATTERIES, ENERGY_DENSITIES
from app.market.programmes import MILESTONES, PARTNERSHIPS
from app.market.sources import SOURCES
from app.resources.spec import ResourceSpec

# In dependency order: a record only references collections listed before it
# (automakers' parent_id references their own collection).
SPECS: tuple[ResourceSpec, ...] = (
    SOURCES,
    AUTOMAKERS,
    BATTERY_PARTNERS,
    BATTERIES,
    PARTNERSHIPS,
    ENERGY_DENSITIES,
    MILESTONES,
)
BY_PATH = {spec.path: spec for spec in SPECS}
BY_TABLE = {spec.table_name: spec for spec in SPECS}


def referencing(target: ResourceSpec) -> list[tuple[ResourceSpec, str]]:
    """Every (collection, field) that points at `target`: what blocks a delete."""
    return [
        (spec, field)
        for spec in SPECS
        for field, table in spec.refs.items()
        if table == target.table_name
    ]
