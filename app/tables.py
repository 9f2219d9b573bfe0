"""Every table on the metadata: import this before building or comparing the schema."""

from sqlmodel import SQLModel

import app.market.registry
import app.views.search_index  # noqa: F401 - registers search_entries

metadata = SQLModel.metadata
