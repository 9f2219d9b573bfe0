"""Alembic environment: the URL from the app's settings, the metadata from the app's models."""

from logging.config import fileConfig
from typing import Any

from alembic import context

from app.columns import UTCDateTime
from app.db import get_engine, is_sqlite
from app.settings import get_settings
from app.tables import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def _url() -> str:
    url: str = config.attributes.get("url") or get_settings().database_url
    return url


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:  # noqa: ARG001  # noqa: ARG001
    # Migrations stay plain SQLAlchemy: the UTC wrapper only changes Python values.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


# Made by migrations for one database only, outside the models: SQLite's FTS5 tables
# (and their shadow tables) and name indexes (0011), and Postgres's trigram and pattern
# indexes on the text index's entries (0007, 0011, 0013).
DIALECT_ONLY = (
    "search_fts",
    "search_names_fts",
    "ix_search_names_",
    "ix_search_entries_text_trgm",
    "ix_search_entry_versions_text_trgm",
)


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:  # noqa: ARG001
    return not (name or "").startswith(DIALECT_ONLY)


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(_url()),  # SQLite alters tables by copying them
        render_item=_render_item,
        include_name=_include_name,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with get_engine(_url()).connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
