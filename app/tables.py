"""Every table on the metadata and every collection in the catalog: import this before
building the app or the schema (app.main, migrations/env.py and the tests do)."""

import app.access.keys
import app.market.registry
import app.resources.changelog
import app.resources.idempotency
import app.resources.text_index
import app.sync.webhooks  # noqa: F401 - each registers its tables
from app.columns import metadata

__all__ = ["metadata"]
