"""`GET /api/v1/landscape/diff`: what changed in the landscape between two instants."""

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine

from app.db import read_session
from app.market.landscape import COLUMNS
from app.resources.rows import json_ready
from app.resources.versions import at
from app.views import landscape

COMPARED = [column for column in COLUMNS if column != "partnership_id"]
CSV_HEADER = ["change", "partnership_id", "automaker", "battery_partner", "field", "from", "to"]
PAGE = 500


def rows_at(
    engine: Engine, where: Sequence[ColumnElement[bool]], instant: dt.datetime
) -> dict[str, dict[str, Any]]:
    """Every landscape row at `instant`, filtered there, by partnership id, in its order."""
    rows: dict[str, dict[str, Any]] = {}
    after: str | None = None
    with read_session(at(engine, instant)) as session:
        while True:
            page, after = landscape.page(session, where, limit=PAGE, after=after, scope="diff")
            rows.update((row["partnership_id"], row) for row in page)
            if after is None:
                return rows


def diff(
    engine: Engine, where: Sequence[ColumnElement[bool]], since: dt.datetime, until: dt.datetime
) -> dict[str, Any]:
    """Rows added, removed and changed from `since` to `until` (API.md §10); a changed row
    lists each differing column in the landscape's order, with names as at `until`."""
    before, after = rows_at(engine, where, since), rows_at(engine, where, until)
    changed = []
    for key, row in after.items():
        if key not in before:
            continue
        changes = [
            {"field": column, "from": before[key][column], "to": row[column]}
            for column in COMPARED
            if before[key][column] != row[column]
        ]
        if changes:
            names = {k: row[k] for k in ("automaker", "battery_partner")}
            changed.append({"partnership_id": key, **names, "changes": changes})
    return {
        "from": json_ready(since),
        "to": json_ready(until),
        "added": [row for key, row in after.items() if key not in before],
        "removed": [row for key, row in before.items() if key not in after],
        "changed": changed,
    }


def csv_rows(answer: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The diff as CSV lines: a line for each added and removed row, then one for each
    changed field."""
    for change in ("added", "removed"):
        for row in answer[change]:
            yield {"change": change, **{k: row[k] for k in CSV_HEADER[1:4]}}
    for row in answer["changed"]:
        for field in row["changes"]:
            yield {"change": "changed", **{k: row[k] for k in CSV_HEADER[1:4]}, **field}
