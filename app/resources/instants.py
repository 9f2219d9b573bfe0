"""Instants in queries (API.md §10): `known_at`, a diff's `from` and `to`, a digest's `since`.

A date or a UTC time, nothing else: `2026-03-01`, `2026-03-01T08:00:00Z`,
`2026-03-01T08:00:00.123456Z`. A date means the end of that UTC day (or now, when it is
today), except where it is a beginning (`since`). Instants after now are refused.
"""

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, WithJsonSchema

from app.columns import utcnow

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
FORMS = "a date (2026-03-01) or a UTC time (2026-03-01T08:00:00Z)"


def instant(raw: object, *, a_date_is: Literal["end", "start"] = "end") -> dt.datetime:
    """The instant `raw` names; ValueError (a 400 naming the parameter) for anything else."""
    if isinstance(raw, str) and DATE.fullmatch(raw):
        return _date(raw, a_date_is)
    if isinstance(raw, str) and TIME.fullmatch(raw):
        return _time(raw)
    raise ValueError(f"expected {FORMS}, not {raw!r}")


def _date(raw: str, a_date_is: Literal["end", "start"]) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw} is not a real date") from None
    now = utcnow()
    if day > now.date():
        raise ValueError(f"{raw} is after today")
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    if a_date_is == "start":
        return start
    return min(now, start + dt.timedelta(days=1, microseconds=-1))


def _time(raw: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(raw.removesuffix("Z") + "+00:00")
    except ValueError:
        raise ValueError(f"{raw} is not a real time") from None
    if at > utcnow():
        raise ValueError(f"{raw} is in the future")
    return at


def _end(raw: object) -> dt.datetime:
    return instant(raw)


def _start(raw: object) -> dt.datetime:
    return instant(raw, a_date_is="start")


_SCHEMA = WithJsonSchema({
    "type": "string",
    "examples": ["2026-03-01", "2026-03-01T08:00:00Z"],
    "description": f"{FORMS[0].upper()}{FORMS[1:]}.",
})  # fmt: skip
# A query field's type: the instant, a date meaning the end of its day (or now, today).
Instant = Annotated[dt.datetime, BeforeValidator(_end), _SCHEMA]
# The same, a date meaning the start of its day (a digest's `since`).
StartInstant = Annotated[dt.datetime, BeforeValidator(_start), _SCHEMA]
