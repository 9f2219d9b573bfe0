"""The collections, registered with the machine: the one list the app, migrations, CLI and
tests loop over. A new collection is a module beside these and one line here."""

import app.market.landscape  # the landscape's rows, kept by each publish
import app.market.tallies  # noqa: F401 - the statistics' aggregates, kept by each publish
from app.market.companies import AUTOMAKERS, BATTERY_PARTNERS
from app.market.products import BATTERIES, ENERGY_DENSITIES
from app.market.programmes import MILESTONES, PARTNERSHIPS
from app.market.sources import SOURCES
from app.resources.catalog import catalog

# In dependency order: a record only references collections listed before it
# (automakers' parent_id references their own collection).
SPECS = catalog.register(
    SOURCES,
    AUTOMAKERS,
    BATTERY_PARTNERS,
    BATTERIES,
    PARTNERSHIPS,
    ENERGY_DENSITIES,
    MILESTONES,
)
