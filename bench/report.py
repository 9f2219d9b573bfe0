"""Turn a run's figures into the tables of bench/RESULTS.md, ratios and targets included.

Only the part between the markers is rewritten: the analysis around it is prose.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

START, END = "<!-- results:start -->", "<!-- results:end -->"
Row = dict[str, Any]


def problems(rows: list[Row]) -> list[str]:
    """What makes a run wrong rather than slow: failed requests, short exports."""
    found = [
        f"{r['db']} {r['size']} w{r['workers']} {r['case']} {r['target']}: "
        f"{r['errors']} failed requests"
        for r in rows
        if r.get("errors")
    ]
    exports = {
        (r["db"], r["size"], r["workers"], r["target"]): r["rows"]
        for r in rows
        if r["case"] == "csv export"
    }
    for (db, size, workers, target), count in exports.items():
        if target == "app" and count != exports.get((db, size, workers, "floor"), count):
            found.append(
                f"{db} {size} w{workers} csv: {target} sent {count} rows, the floor "
                f"{exports[(db, size, workers, 'floor')]}"
            )
    found += [
        f"{r['db']} {r['size']} feed: no changes"
        for r in rows
        if r["case"] == "feed catch-up" and not r["changes"]
    ]
    return found


def _find(rows: list[Row], **match: Any) -> Row | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "—"


def _load_table(rows: list[Row], db: str) -> list[str]:
    lines = [
        "| case | size | workers | API req/s | p50 / p95 / p99 ms | floor req/s | "
        "API ÷ floor | Datasette req/s | API ÷ Datasette |",
        "|---|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["db"] != db or r["target"] != "app" or "rps" not in r:
            continue
        key = {"db": db, "size": r["size"], "workers": r["workers"], "case": r["case"]}
        floor, ds = _find(rows, **key, target="floor"), _find(rows, **key, target="datasette")
        floor_cells = f"{floor['rps']:.0f} | {_ratio(r['rps'], floor['rps'])}" if floor else "— | —"
        ds_cells = f"{ds['rps']:.0f} | {_ratio(r['rps'], ds['rps'])}" if ds else "— | —"
        latency = f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f} / {r['p99_ms']:.1f}"
        if not r.get("requests"):  # wrk reports zeros when no request finished in time
            latency = "none finished in the run"
        lines.append(
            f"| {r['case']} | {r['size']} | {r['workers']} | {r['rps']:.0f} | {latency} | "
            f"{floor_cells} | {ds_cells} |"
        )
    return lines


def _framework_table(rows: list[Row], db: str) -> list[str]:
    """Where the gap to the floor goes: FastAPI itself, then the service's contract."""
    lines = [
        "| case | size | workers | floor req/s | bare FastAPI req/s | bare ÷ floor | "
        "API req/s | API ÷ bare FastAPI |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["db"] != db or r["target"] != "framework":
            continue
        key = {"db": db, "size": r["size"], "workers": r["workers"], "case": r["case"]}
        floor, api = _find(rows, **key, target="floor"), _find(rows, **key, target="app")
        if not floor or not api:
            continue
        lines.append(
            f"| {r['case']} | {r['size']} | {r['workers']} | {floor['rps']:.0f} | "
            f"{r['rps']:.0f} | {_ratio(r['rps'], floor['rps'])} | {api['rps']:.0f} | "
            f"{_ratio(api['rps'], r['rps'])} |"
        )
    return lines if len(lines) > 2 else []


METRICS = {"csv export": "rows_per_s", "feed catch-up": "changes_per_s"}


def _cell(case: str, r: Row) -> str:
    if case == "csv export":
        return f"{r['rows_per_s']:,.0f} rows/s, peak {r['peak_rss_mb']:.0f} MB"
    if case == "feed catch-up":
        return f"{r['changes_per_s']:,.0f} changes/s"
    return f"{r['batch_records_per_s']:,.0f} records/s"


def _single_table(rows: list[Row], db: str) -> list[str]:
    lines = [
        "| case | size | workers | API | floor (Core for batch) | Datasette | API ÷ baseline |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["db"] != db or r["target"] != "app" or "rps" in r:
            continue
        key = {"db": db, "size": r["size"], "workers": r["workers"], "case": r["case"]}
        floor, ds = _find(rows, **key, target="floor"), _find(rows, **key, target="datasette")
        if r["case"] in METRICS:
            metric = METRICS[r["case"]]
            ratio = _ratio(r[metric], floor[metric] if floor else None)
            base = _cell(r["case"], floor) if floor else "—"
        else:
            ratio = _ratio(r["batch_records_per_s"], r["core_records_per_s"]) + " of Core"
            base = f"{r['core_records_per_s']:,.0f} records/s"
        lines.append(
            f"| {r['case']} | {r['size']} | {r['workers']} | {_cell(r['case'], r)} | {base} | "
            f"{_cell(r['case'], ds) if ds else '—'} | {ratio} |"
        )
    return lines


def _targets(rows: list[Row]) -> list[str]:
    lines = ["| target | measured | met |", "|---|---|---|"]

    def each(case: str, db: str, versus: str, floor_at: float, metric: str = "rps") -> None:
        for r in rows:
            if (r["db"], r["case"], r["target"]) != (db, case, "app"):
                continue
            key = {k: r[k] for k in ("db", "size", "workers", "case")}
            base = _find(rows, **key, target=versus)
            if base and base.get(metric):
                ratio = r[metric] / base[metric]
                lines.append(
                    f"| {db} {case} ≥ {floor_at}× {versus} ({r['size']}, "
                    f"{r['workers']} w) | {ratio:.2f}× | {_yes(ratio >= floor_at)} |"
                )

    each("get one", "postgres", "floor", 0.7)
    each("list page", "postgres", "floor", 0.7)
    each("get one", "sqlite", "floor", 0.4)
    each("get one", "sqlite", "datasette", 3.0)
    each("list page", "sqlite", "floor", 0.8)
    each("list page", "sqlite", "datasette", 1.2)
    for r in rows:
        if r["size"] != "L" or r["target"] != "app":
            continue
        small = _find(
            rows, db=r["db"], size="S", workers=r["workers"], case=r["case"], target="app"
        )
        if small is None:
            continue
        label = f"{r['db']} {r['case']} ({r['workers']} w)"
        if r["case"].startswith("list page"):
            ratio = r["p50_ms"] / small["p50_ms"]
            lines.append(f"| {label}: p50 at L ≤ 1.5× S | {ratio:.2f}× | {_yes(ratio <= 1.5)} |")
        if r["case"] == "csv export":
            grown = r["peak_rss_mb"] - small["peak_rss_mb"]
            lines.append(
                f"| {label}: peak memory L − S ≤ 50 MB | {grown:+.0f} MB | {_yes(grown <= 50)} |"
            )
    for r in rows:  # API.md §10: a page as of an instant costs at most 3× the current one
        if r["case"] != "list page, known_at" or r["target"] != "app":
            continue
        key = {k: r[k] for k in ("db", "size", "workers")}
        current = _find(rows, **key, case="list page", target="app")
        if current and r["rps"]:
            cost = current["rps"] / r["rps"]
            lines.append(
                f"| {r['db']} list page known_at ≤ 3× the current page's cost ({r['size']}, "
                f"{r['workers']} w) | {cost:.2f}× | {_yes(cost <= 3)} |"
            )
    checks: list[tuple[str, str, Callable[[Row], float], float]] = [
        (
            "batch 1000 PUTs",
            "≥ 0.3× Core",
            lambda r: r["batch_records_per_s"] / r["core_records_per_s"],
            0.3,
        ),
        ("feed catch-up", "≥ 50,000 changes/s", lambda r: r["changes_per_s"], 50_000),
    ]
    for case, goal, measure, floor_at in checks:
        for r in rows:
            if r["case"] == case and r["target"] == "app":
                value = measure(r)
                shown = f"{value:.2f}×" if value < 100 else f"{value:,.0f}/s"
                lines.append(
                    f"| {r['db']} {case} {goal} ({r['size']}, {r['workers']} w) | "
                    f"{shown} | {_yes(value >= floor_at)} |"
                )
    return lines


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render(info: dict[str, str], rows: list[Row], results: str) -> str:
    parts = [START, "", "| | |", "|---|---|"]
    parts += [f"| {k} | {v} |" for k, v in info.items()]
    parts += ["", f"Raw figures: `bench/results/{results}`.", ""]
    for db in dict.fromkeys(r["db"] for r in rows):
        parts += [f"### {db}: load cases", "", *_load_table(rows, db), ""]
        if framework := _framework_table(rows, db):
            parts += [f"### {db}: the framework's share", "", *framework, ""]
        parts += [f"### {db}: one client, end to end", "", *_single_table(rows, db), ""]
    parts += ["### Targets", "", *_targets(rows), "", END]
    return "\n".join(parts)


def rewrite(path: Path, info: dict[str, str], rows: list[Row], results: str) -> None:
    old = path.read_text() if path.exists() else f"# Benchmark results\n\n{START}\n{END}\n"
    head, rest = old.split(START, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(head + render(info, rows, results) + tail)
