"""Where a `/batch` of 1000 PUTs spends its time, in process, beside the Core upsert.

    .venv/bin/python bench/batch_costs.py --database-url sqlite:///bench/data/S.db

Issue 19's fourth target asks `/batch` at S for 0.3× the Core upsert of the same rows.
On a copy of the dataset (it writes), each round changes the same 1000 energy densities
as the benchmark's batch case does (`bench.cases`): first through Core's
`INSERT … ON CONFLICT DO UPDATE`, then as a batch of PUTs through the code behind
`POST /batch` (the request body validated, `app.sync.batch.run`, the commit), without
HTTP. The rates are the medians of plain rounds; then one more round runs under cProfile,
whose cumulative times give each part's share (cProfile inflates the parts that make many
Python calls, so the shares are a guide, the rates the measure).

`--drop-index NAME` (repeatable) drops an index on the copy first: what keeping that index
in the write's transaction costs a batch (a what-if bounding a design that would keep it
elsewhere, not a design).
"""

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

import app.tables  # noqa: F401 - every table on the metadata
from app.db import get_engine, write_session
from app.sync import batch
from app.sync.batch import BatchRequest
from bench import cases
from bench.list_costs import copy_of, options

# (label, module path suffix, function): cumulative time of each, nested parts after their
# whole; what a whole spends beyond its listed parts is printed as its own line.
PARTS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("bodies validated into the write model", "app/resources/bulk.py", "_plan", ()),
    ("references resolved", "app/resources/bulk.py", "_resolved", ()),
    ("replaced rows read as ORM objects", "app/resources/chunked.py", "scalars_in", ()),
    (
        "rows written",
        "app/resources/writes.py",
        "write_rows",
        ("record_json", "reindex_many", "stage"),
    ),
    ("  each record's JSON", "app/resources/formats.py", "record_json", ()),
    ("  search entries made", "app/resources/text_index.py", "reindex_many", ()),
    ("  changes staged", "app/resources/changelog.py", "stage", ()),
    (
        "published (change log, versions, tallies, search)",
        "app/resources/changelog.py",
        "publish",
        ("keep", "record", "flush"),
    ),
    ("  statistics' tallies kept", "app/market/tallies.py", "keep", ()),
    ("  versions recorded", "app/resources/versions.py", "record", ()),
    ("  search entries written", "app/resources/text_index.py", "flush", ()),
    ("COMMIT", "sqlalchemy/engine/default.py", "do_commit", ()),
]


def applied(engine: Any, operations: list[dict[str, Any]]) -> tuple[float, float]:
    """Seconds to parse the operations as `POST /batch` does, and to apply them."""
    started = time.perf_counter()
    request = BatchRequest.model_validate({"atomic": True, "operations": operations})
    parsed = time.perf_counter()
    with write_session(engine) as session:
        outcome = batch.run(session, request.operations, atomic=True, dry_run=False, actor="bench")
        assert outcome.failed is None, outcome.failed  # and committed, by `run`
    return parsed - started, time.perf_counter() - parsed


def main() -> None:
    opts = options(__doc__, rounds=5, calls=1000, more=_drop_index_option)
    engine = get_engine(copy_of(opts.database_url, "batch"))
    with engine.begin() as connection:
        for name in opts.drop_index:
            connection.execute(text(f'DROP INDEX "{name}"'))
    rows = cases.energy_rows(engine, 0, opts.calls)
    parse_s, batch_s, core_s = [], [], []

    def one_round(i: int, profiler: cProfile.Profile | None = None) -> None:
        started = time.perf_counter()
        cases.core_update(engine, rows, f"core {i}")
        core_s.append(time.perf_counter() - started)
        operations = cases.put_operations(rows, f"bench {i}")
        if profiler is not None:
            profiler.enable()
        parse, apply = applied(engine, operations)
        if profiler is not None:
            profiler.disable()
        parse_s.append(parse)
        batch_s.append(parse + apply)

    for i in range(opts.rounds):
        one_round(i)
    batch_rate = len(rows) / statistics.median(batch_s)
    core_rate = len(rows) / statistics.median(core_s)
    without = f"; without {', '.join(opts.drop_index)}" if opts.drop_index else ""
    print(f"{engine.dialect.name}, {len(rows)} PUTs a batch, medians of {opts.rounds} rounds: "
          f"batch {batch_rate:,.0f} records/s, Core {core_rate:,.0f} records/s, "
          f"{batch_rate / core_rate:.2f}× of Core; the body's parse "
          f"{statistics.median(parse_s) * 1e3:.1f} ms of it{without}\n")  # fmt: skip
    profiler = cProfile.Profile()
    one_round(opts.rounds, profiler)  # the batch alone profiled
    _shares(pstats.Stats(profiler))


def _drop_index_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--drop-index", action="append", default=[], metavar="NAME")


def _shares(stats: pstats.Stats) -> None:
    """Each part's share of the profiled batch, from cumulative times."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    cumulative = {
        (suffix, name): cumulative_of(table, suffix, name) for _, suffix, name, _ in PARTS
    }
    whole = cumulative_of(table, "app/sync/batch.py", "run")
    print("| part (cProfile, one batch, the body's parse excluded) | ms | share |")
    print("|---|---:|---:|")
    for label, suffix, name, nested in PARTS:
        spent = cumulative[(suffix, name)]
        print(f"| {label} | {spent * 1e3:.0f} | {spent / whole:.0%} |")
        if nested:
            inner = sum(v for (s, n), v in cumulative.items() if n in nested and s != suffix)
            rest = spent - inner
            print(f"|   the rest of it | {rest * 1e3:.0f} | {rest / whole:.0%} |")
    listed = sum(cumulative[(s, n)] for label, s, n, _ in PARTS if not label.startswith(" "))
    rest = whole - listed
    print(f"| the rest of `batch.run` | {rest * 1e3:.0f} | {rest / whole:.0%} |")
    print(f"| the whole (`batch.run`, its commit included) | {whole * 1e3:.0f} | 100% |")


def cumulative_of(table: dict[Any, Any], suffix: str, name: str) -> float:
    """Cumulative seconds of the functions `name` in files ending with `suffix`."""
    spent: float = sum(
        entry[3]
        for (filename, _, function), entry in table.items()
        if function == name and filename.endswith(suffix)
    )
    return spent


if __name__ == "__main__":
    main()
