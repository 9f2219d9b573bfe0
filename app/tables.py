"""Every table on the metadata: import this before building or comparing the schema."""

from sqlmodel import SQLModel

import app.access.keys
import app.market.registry
import app.sync.changelog
import app.sync.idempotency
import app.views.search_index  # noqa: F401 - each registers its tables

metadata = SQLModel.metadata
