"""The `battery-intel` command: serve, migrate, seed."""

import logging
import time
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.exc import OperationalError

from app.db import get_engine
from app.market.demo import seed as seed_demo
from app.schema import upgrade
from app.settings import get_settings

cli = typer.Typer(
    help="Battery Intelligence API: run the service and manage its data.",
    no_args_is_help=True,
    add_completion=False,
)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the API. Never migrates: run `migrate` first (until then /readyz says 503)."""
    settings = get_settings()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level,
    )


@cli.command()
def migrate(
    wait: Annotated[
        float, typer.Option(help="Seconds to keep retrying while the database is unreachable.")
    ] = 0,
) -> None:
    """Upgrade the database schema to the newest revision (Alembic head)."""
    url = get_settings().database_url
    deadline = time.monotonic() + wait
    while True:
        try:
            upgrade(url)
            break
        except OperationalError as exc:
            if time.monotonic() >= deadline:
                typer.echo(f"migrate: database unreachable: {exc.orig}", err=True)
                raise typer.Exit(1) from None
            time.sleep(1)
    typer.echo("migrate: schema is at head")


@cli.command()
def seed() -> None:
    """Load the demo data (the seed article's table). Idempotent: a second run changes nothing."""
    outcomes = seed_demo(get_engine(get_settings().database_url))
    summary = ", ".join(f"{outcomes[k]} {k}" for k in ("created", "updated", "unchanged"))
    typer.echo(f"seed: {summary}")


def main() -> None:
    logging.basicConfig(level=get_settings().log_level.upper())
    cli()


if __name__ == "__main__":
    main()
