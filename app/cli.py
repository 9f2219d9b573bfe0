"""The `battery-intel` command: serve, migrate, seed, export, import, backup, keys and
mark-stored."""

import contextlib
import os
import sys
import tempfile
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.exc import OperationalError

from app.access.keys import Scope, create_key, list_keys, revoke
from app.actor import CLI
from app.db import backup_sqlite, get_engine, is_sqlite, read_session, write_session
from app.market.demo import seed as seed_demo
from app.market.registry import SPECS
from app.ops.observe import configure_logging
from app.ops.workers import serve_uvicorn
from app.resources import stored
from app.schema import upgrade
from app.settings import get_settings
from app.sync.export import export_lines
from app.sync.imports import import_lines, read_csv, read_jsonl, restore_lines

GRACE_S = 30  # in-flight requests get this long after SIGTERM

cli = typer.Typer(
    help="Battery Intelligence API: run the service and manage its data.",
    no_args_is_help=True,
    add_completion=False,
)


class Server(StrEnum):
    uvicorn = "uvicorn"
    granian = "granian"


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    server: Annotated[
        Server, typer.Option(help="The ASGI server (bench/RESULTS.md compares them).")
    ] = Server.uvicorn,
) -> None:
    """Serve the API. Never migrates: run `migrate` first (until then /readyz says 503)."""
    settings = get_settings()
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker writes its metrics here; /metrics in any worker adds them up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="battery-intel-metrics-")
    if server is Server.granian:
        _granian(host or settings.host, port or settings.port, workers)
        return
    config = uvicorn.Config(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level,
        log_config=None,  # the app's own logging: one line a request, JSON or text
        timeout_graceful_shutdown=GRACE_S,
    )
    serve_uvicorn(config)  # with several workers, a listening socket each


def _granian(host: str, port: int, workers: int) -> None:
    from granian import Granian  # only when chosen: a dependency of this option alone
    from granian.constants import Interfaces, Loops

    Granian(
        "app.main:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        log_enabled=False,  # the app's own logging, as under uvicorn
        workers_kill_timeout=GRACE_S,
    ).serve()


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


@cli.command("mark-stored")
def mark_stored() -> None:
    """Let list pages send the stored JSON of records written before this version: marks
    each record's current change log entry whose JSON is the record today's code makes
    (compared one by one). Only speed depends on it; safe to run at any time, again."""
    engine = get_engine(get_settings().database_url)
    with engine.connect() as connection:
        typer.echo(f"mark-stored: {stored.mark(connection)} records' JSON marked")


@cli.command("export")
def export_data(
    file: Annotated[
        Path | None, typer.Argument(help="Write here instead of standard output.")
    ] = None,
) -> None:
    """Write every record as JSON lines, then `{"next_after": <seq>}` (as GET /export)."""
    engine = get_engine(get_settings().database_url)
    with file.open("w", encoding="utf-8") if file else contextlib.nullcontext(sys.stdout) as out:
        for line in export_lines(engine):
            out.write(line)


@cli.command("import")
def import_data(
    file: Annotated[Path, typer.Argument(help="JSON lines as `export` writes them, or a CSV.")],
    collection: Annotated[
        str | None, typer.Option(help="For a CSV: the collection its rows belong to.")
    ] = None,
    restore: Annotated[
        bool,
        typer.Option(
            "--restore",
            help="Into an empty database: keep every record's id, version and times.",
        ),
    ] = False,
) -> None:
    """Import records through the API's validation, all or nothing, naming every bad line
    (existing ids are replaced; with --restore, an export goes back exactly as it was)."""
    text = file.read_text(encoding="utf-8")
    if collection is not None:
        if collection not in {spec.path for spec in SPECS}:
            names = ", ".join(spec.path for spec in SPECS)
            raise typer.BadParameter(f"unknown collection; use one of {names}")
        lines, bad = read_csv(text, collection), list[tuple[int, str]]()
    else:
        lines, bad = read_jsonl(text.splitlines())
    engine = get_engine(get_settings().database_url)
    if restore:
        result = restore_lines(engine, lines, CLI, bad)
    else:
        with typer.progressbar(
            length=len(lines), label="importing", file=sys.stderr, hidden=not sys.stderr.isatty()
        ) as bar:
            result = import_lines(engine, lines, CLI, lambda: bar.update(1), unreadable=bad)
    if result.refused:
        typer.echo(f"import: refused: {result.refused}; nothing was changed", err=True)
        raise typer.Exit(1)
    for number, problem in result.rejected:
        typer.echo(f"line {number}: {problem}", err=True)
    counts = result.counts
    summary = (
        ", ".join(f"{counts.get(k, 0)} {k}" for k in ("created", "updated", "unchanged"))
        + f", {len(result.rejected)} rejected"
    )
    typer.echo(f"import: {summary}" + ("; nothing was changed" if result.rejected else ""))
    if result.rejected:
        raise typer.Exit(1)


@cli.command()
def backup(file: Annotated[Path, typer.Argument(help="Where the copy goes (replaced).")]) -> None:
    """Copy the live SQLite database consistently, while it serves. (Postgres: pg_dump.)"""
    url = get_settings().database_url
    if not is_sqlite(url):
        typer.echo(
            "backup: this is a Postgres database; back it up with pg_dump --format=custom "
            "and restore it with pg_restore (README, Operations).",
            err=True,
        )
        raise typer.Exit(2)
    backup_sqlite(url, file)
    typer.echo(f"backup: {file}")


keys_cli = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A unique name; the actor of this key's writes.")],
    scope: Annotated[Scope, typer.Option(help="read, write (includes read) or admin.")],
) -> None:
    """Create a key. It is printed once, alone on the last line, and stored only hashed."""
    with write_session(get_engine(get_settings().database_url)) as session:
        record, key = create_key(session, name, scope)
    typer.echo(f"created {record.scope} key '{record.name}' (prefix {record.prefix}); keep it now:")
    typer.echo(key)


@keys_cli.command("list")
def keys_list() -> None:
    """One line per key, name first: prefix, scope, created, last used, revoked. No secrets."""
    with read_session(get_engine(get_settings().database_url)) as session:
        for key in list_keys(session):
            times = (key.created_at, key.last_used_at, key.revoked_at)
            when = ["-" if t is None else t.isoformat(timespec="seconds") for t in times]
            typer.echo("\t".join([key.name, key.prefix, key.scope, *when]))


@keys_cli.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key: it stops working at once."""
    with write_session(get_engine(get_settings().database_url)) as session:
        revoke(session, name)
    typer.echo(f"revoked '{name}'")


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    cli()


if __name__ == "__main__":
    main()
