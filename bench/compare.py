"""The API at another commit beside this checkout, on one dataset, in one run: is a change
slower? Rounds alternate between the two servers so that the machine's drift hits both.

    .venv/bin/python bench/compare.py --base 31528e7                 # GET one, list page
    .venv/bin/python bench/compare.py --base HEAD~3 --db postgres --cases "list page, 20 deep"
    .venv/bin/python bench/compare.py --base HEAD --patch idea.diff --db postgres --cases "get one"
    .venv/bin/python bench/compare.py --base HEAD~1 --cases batch    # /batch's records/s

`batch` is the run's `/batch` case (1000 PUTs, each round two batches a server, after the
Core upserts of the same rows); its figures are records/s, and CPU per record. Like the
run's batch case it writes to the dataset: each batch adds a version of 1000 records.

The other commit is checked out as a git worktree in the temporary folder and served from
there by this virtualenv, so both sides run with the same libraries. With `--patch`, "this"
is not the checkout but the base commit with the patch applied (a prototype kept as a diff),
in a second worktree. Only 127.0.0.1 is loaded. Prints the medians and the ratio this ÷ base.
"""

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine

from bench import cases, load, servers
from bench.run import dataset_url, ensure_dataset, write_key

BENCH = Path(__file__).resolve().parent
PORTS = {"this": 18500, "base": 18600}
BATCH = "batch"
BATCHES_A_ROUND = 2


def worktree(rev: str, name: str = "base", patch: Path | None = None) -> Path:
    """`rev` checked out beside the project (made once, reset to `rev` every time), with
    `patch` applied on top when given."""
    path = Path(tempfile.gettempdir()) / f"battery-intel-compare-{name}"
    # Resolved here: inside the worktree, HEAD would be the worktree's own, an older run's.
    rev = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=BENCH.parent, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    if not (path / ".git").exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], check=True)
    git = ["git", "-C", str(path)]
    subprocess.run([*git, "checkout", "--detach", "-q", "--force", rev], check=True)
    subprocess.run([*git, "reset", "--hard", "-q", rev], check=True)
    if patch is not None:
        subprocess.run([*git, "apply", str(patch.resolve())], check=True)
    return path


@contextlib.contextmanager
def server(name: str, tree: Path, url: str, workers: int) -> Iterator[servers.Server]:
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(PORTS[name])]
    # Logging at info, a line a request into the log file, as bench/run.py serves the API.
    env = {"DATABASE_URL": url, "PYTHONPATH": str(tree), "LOG_LEVEL": "info"}
    command += ["--workers", str(workers)]
    log = BENCH / "out" / f"compare-{name}.log"
    with servers.running(name, command, PORTS[name], env, log, "/readyz", cwd=tree) as up:
        yield up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="The commit to compare against.")
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--size", default="S")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--cases",
        default="get one; list page",
        help="case names separated by semicolons (a name may hold a comma: 'list page, 20 deep')",
    )
    parser.add_argument(
        "--patch", type=Path, help="serve the base with this diff applied as 'this'"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    opts = parser.parse_args()
    warnings.simplefilter("ignore")
    url = dataset_url(opts.db, opts.size, opts.pg)
    ensure_dataset(url, opts.size)
    this_tree = worktree(opts.base, "patched", opts.patch) if opts.patch else BENCH.parent
    trees = {"this": this_tree, "base": worktree(opts.base)}
    wanted = [name.strip() for name in opts.cases.split(";")]
    figures: dict[tuple[str, str], list[float]] = {}
    engine = create_engine(url)
    with contextlib.ExitStack() as stack:
        up = {
            name: stack.enter_context(server(name, tree, url, opts.workers))
            for name, tree in trees.items()
        }
        known = cases.loads(up["this"].base, None, "", engine)
        if unknown := set(wanted) - {c.name for c in known} - {BATCH}:
            names = [c.name for c in known] + [BATCH]
            parser.error(f"no case {sorted(unknown)}; the cases: {names}")
        chosen = [c for c in known if c.name in wanted]
        key = write_key(url) if BATCH in wanted else ""
        for case in chosen:  # warm both, then alternate
            for target in up.values():
                load.run(target.base, case.app, seconds=1, connections=case.connections)
        for round_ in range(opts.rounds):
            order = list(up) if round_ % 2 == 0 else list(up)[::-1]
            if key:
                for name in order:
                    before = up[name].cpu_seconds()
                    done = cases.batch_upserts(up[name].base, key, engine, BATCHES_A_ROUND)
                    cpu_us = (up[name].cpu_seconds() - before) / done["records"] * 1e6
                    figures.setdefault((BATCH, name), []).append(done["batch_records_per_s"])
                    figures.setdefault((BATCH, f"{name} cpu"), []).append(cpu_us)
            for case in chosen:
                for name in order:
                    before = up[name].cpu_seconds()
                    result = load.run(
                        up[name].base, case.app, seconds=opts.seconds, connections=case.connections
                    )
                    assert result["errors"] == 0, (name, case.name, result)
                    cpu_us = (up[name].cpu_seconds() - before) / result["requests"] * 1e6
                    figures.setdefault((case.name, name), []).append(result["rps"])
                    figures.setdefault((case.name, f"{name} cpu"), []).append(cpu_us)
    engine.dispose()
    rounds = f"{opts.rounds} rounds of {opts.seconds} s"
    print(f"compare: {opts.db} {opts.size} w{opts.workers}, {rounds}")
    # Requests/s and the server's own CPU time per request (user + system, all its
    # processes): on a busy machine one can move where the other does not.
    for unit, suffix in (("rps", ""), ("µs CPU/req", " cpu")):
        print(f"{'case':<22}{'this':>10}{'base':>10}{'this ÷ base':>13}   each round  ({unit})")
        for case in wanted:
            this, base = figures[(case, "this" + suffix)], figures[(case, "base" + suffix)]
            ratio = statistics.median(this) / statistics.median(base)
            rounds = " ".join(f"{a / b:.2f}" for a, b in zip(this, base, strict=True))
            print(
                f"{case:<22}{statistics.median(this):>10.0f}{statistics.median(base):>10.0f}"
                f"{ratio:>12.2f}×   {rounds}"
            )


if __name__ == "__main__":
    main()
