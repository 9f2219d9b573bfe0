"""What a search page costs, in process, query by query (issue 19's second target: search
p50 ≤ 50 ms at L with one client).

    .venv/bin/python bench/search_costs.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_l

Medians of interleaved rounds, ms for the rows of a first page of 20 (not the records and
snippets shown with them), for the load case's five searches (and any `--query`):

1. today's page, tier by tier (`app.views.search_tiers.tiered`);
2. the one ranked query the tiers replace (`search._ranked`: every match scored, a top-N
   sort), which the service still uses for `known_at` and queries under three characters.

On Postgres it also prints how many hits of each tier the page's window of the newest
entries held: a tier with fewer than the page is read through its index instead.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import functools
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

import app.tables  # noqa: F401 - every table on the metadata
from app.db import get_engine, read_session
from app.resources.text_index import normalize
from app.views import search
from app.views.search_tiers import SCORES, WINDOW, _PostgresTiers, tiered
from bench.cases import SEARCHES
from bench.list_costs import medians, options

LIMIT = 20


def _more(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--query", action="append", default=[], help="another query")


def _tiers(session: Session, norm: str, _: int) -> Any:
    return tiered(session, norm, [], LIMIT, None)


def _ranked(session: Session, q: str, _: int) -> Any:
    return search._ranked(session, q, [], LIMIT, None, "")


def main() -> None:
    opts = options(__doc__ or "", rounds=5, calls=3, more=_more)
    engine = get_engine(opts.database_url)
    postgres = engine.dialect.name == "postgresql"
    print(f"{opts.database_url}: ms a first page of {LIMIT}, medians of {opts.rounds} rounds")
    header = "| query | tiers | one ranked query |" + (
        f" hits in the {WINDOW} newest |" if postgres else ""
    )
    print(header)
    print("|---|---:|---:|" + ("---|" if postgres else ""))
    for q in SEARCHES + opts.query:
        with read_session(engine) as session:
            norm = normalize(q)
            steps: dict[str, Callable[[int], Any]] = {
                "tiers": functools.partial(_tiers, session, norm),
                "ranked": functools.partial(_ranked, session, q),
            }
            spent = medians(steps, opts.rounds, opts.calls)
            line = f"| {q} | {spent['tiers'] / 1000:.1f} | {spent['ranked'] / 1000:.1f} |"
            if postgres:
                hits = _PostgresTiers(session, norm)._walk([], None)
                counts = [sum(hit.score == score for hit in hits) for score in SCORES]
                line += (
                    " " + ", ".join(f"{s}: {n}" for s, n in zip(SCORES, counts, strict=True)) + " |"
                )
        print(line)
    engine.dispose()


if __name__ == "__main__":
    main()
