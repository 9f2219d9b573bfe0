"""Turn a run's figures into the tables of bench/RESULTS.md, ratios and targets included.

Only the part between the markers is rewritten: the analysis around it is prose.
"""

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


METRICS = {
    "csv export": "rows_per_s",
    "feed catch-up": "changes_per_s",
    "feed catch-up, httpx client": "changes_per_s",
}


def _cell(case: str, r: Row) -> str:
    if case == "csv export":
        return f"{r['rows_per_s']:,.0f} rows/s, peak {r['peak_rss_mb']:.0f} MB"
    if case.startswith("feed catch-up"):
        served = f" ({r['served_per_s']:,.0f} served)" if "served_per_s" in r else ""
        return f"{r['changes_per_s']:,.0f} changes/s{served}"
    if case.startswith("view: "):
        return f"p50 {r['p50_ms']:.1f} ms, worst {r['max_ms']:.1f} ms"
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
        if r["case"].startswith("view: "):
            ratio, base = "—", "—"
        elif r["case"] in METRICS:
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
    """Issue 19's targets, each computed from the figures of this run."""
    lines = ["| target | measured | met |", "|---|---|---|"]

    def app_rows(case: str) -> list[Row]:
        return [r for r in rows if r["case"] == case and r["target"] == "app"]

    def key(r: Row) -> dict[str, Any]:
        return {k: r[k] for k in ("db", "size", "workers", "case")}

    def where(r: Row) -> str:
        return f"({r['size']}, {r['workers']} w)"

    # 1. The contract's cost: the API against bare FastAPI on the same SQL and driver.
    for case in ("get one", "list page", "list page, 20 deep", "list + include"):
        for r in app_rows(case):
            bare = _find(rows, **key(r), target="framework")
            if bare and bare.get("rps"):
                ratio = r["rps"] / bare["rps"]
                lines.append(
                    f"| {r['db']} {case} ≥ 0.6× bare FastAPI {where(r)} | {ratio:.2f}× | "
                    f"{_yes(ratio >= 0.6)} |"
                )
    for case in ("get one", "list page"):  # reported; 0.7× on Postgres is the goal beyond
        for r in app_rows(case):
            floor = _find(rows, **key(r), target="floor")
            if r["db"] == "postgres" and floor and floor.get("rps"):
                ratio = r["rps"] / floor["rps"]
                lines.append(
                    f"| {r['db']} {case} ≥ 0.7× floor, beyond this issue {where(r)} | "
                    f"{ratio:.2f}× | {_yes(ratio >= 0.7)} |"
                )
    # 2. Views at any size: one client at L; completing under load; the landscape's speed.
    for r in rows:
        if r["case"].startswith("view: ") and r["size"] == "L":
            limit = 100 if r["case"].startswith("view: stats") else 50
            lines.append(
                f"| {r['db']} {r['case'][6:]}, one client: p50 ≤ {limit} ms {where(r)} | "
                f"{r['p50_ms']:.1f} ms | {_yes(r['p50_ms'] <= limit)} |"
            )
    for case in ("landscape", "stats", "search q="):
        for r in app_rows(case):
            done = min(m.get("requests", 0) for m in r.get("rounds", [r]))
            lines.append(
                f"| {r['db']} {case} completes requests under load {where(r)} | "
                f"{done} in the slowest round | {_yes(done > 0)} |"
            )
    for r in app_rows("landscape"):
        page = _find(rows, **{**key(r), "case": "list page"}, target="app")
        if r["size"] == "S" and page and page.get("rps"):
            ratio = r["rps"] / page["rps"]
            lines.append(
                f"| {r['db']} landscape first page ≥ 0.5× the list page's req/s {where(r)} | "
                f"{ratio:.2f}× | {_yes(ratio >= 0.5)} |"
            )
    # 3. The feed, and 4. batches at S.
    for r in app_rows("feed catch-up"):
        value = r["changes_per_s"]
        lines.append(
            f"| {r['db']} feed catch-up ≥ 50,000 changes/s, orjson client {where(r)} | "
            f"{value:,.0f}/s | {_yes(value >= 50_000)} |"
        )
    for r in app_rows("batch 1000 PUTs"):
        if r["size"] == "S":
            ratio = r["batch_records_per_s"] / r["core_records_per_s"]
            lines.append(
                f"| {r['db']} batch 1000 PUTs ≥ 0.3× Core {where(r)} | {ratio:.2f}× | "
                f"{_yes(ratio >= 0.3)} |"
            )
    # 5. The server, by measurement: Granian ÷ uvicorn (≥ 1.2× on both cases switches).
    for case in ("get one", "list page"):
        for r in app_rows(case):
            other = _find(rows, **key(r), target="granian")
            if other and r.get("rps"):
                ratio = other["rps"] / r["rps"]
                verdict = "switch to Granian" if ratio >= 1.2 else "uvicorn stays"
                lines.append(
                    f"| {r['db']} {case}: Granian ÷ uvicorn, ≥ 1.2× to switch {where(r)} | "
                    f"{ratio:.2f}× | {verdict} |"
                )
    # 6. Flat list pages: p50 at L ≤ 1.5× S in every round.
    for r in app_rows("list page"):
        small = _find(rows, **{**key(r), "size": "S"}, target="app")
        if r["size"] != "L" or small is None:
            continue
        ratios = [m["p50_ms"] / small["p50_ms"] for m in r.get("rounds", [r])]
        shown = " / ".join(f"{x:.2f}×" for x in ratios)
        lines.append(
            f"| {r['db']} list page ({r['workers']} w): p50 at L ≤ 1.5× S, every round | "
            f"{shown} | {_yes(all(x <= 1.5 for x in ratios))} |"
        )
    for r in app_rows("csv export"):
        small = _find(rows, **{**key(r), "size": "S"}, target="app")
        if r["size"] == "L" and small:
            grown = r["peak_rss_mb"] - small["peak_rss_mb"]
            lines.append(
                f"| {r['db']} csv export ({r['workers']} w): peak memory L − S ≤ 50 MB | "
                f"{grown:+.0f} MB | {_yes(grown <= 50)} |"
            )
    for r in app_rows("list page, known_at"):  # issue 15: at most 3× the current page
        current = _find(rows, **{**key(r), "case": "list page"}, target="app")
        if current and r["rps"]:
            cost = current["rps"] / r["rps"]
            lines.append(
                f"| {r['db']} list page known_at ≤ 3× the current page's cost {where(r)} | "
                f"{cost:.2f}× | {_yes(cost <= 3)} |"
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
