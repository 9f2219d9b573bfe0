"""Opaque keyset cursors, bound to the sort they continue, and the WHERE that continues them."""

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import ColumnElement, and_, bindparam, false, literal, or_, tuple_

from app.problems import BadRequest

# Cursors carry an HMAC so that a hand-made or edited one is a 400, not a silent jump. It
# guards against mistakes, not attackers: a cursor only ever selects rows a reader may see.
_KEY = b"battery-intel keyset cursor v1"
MAC_BYTES = 8


def _aware(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("cursor times carry their offset")
    return value.astimezone(dt.UTC)


_PARSERS: dict[type, Callable[[Any], Any]] = {
    dt.datetime: _aware,
    dt.date: dt.date.fromisoformat,
    UUID: UUID,
    float: float,
    int: int,
    str: str,
}


@dataclass(frozen=True)
class SortKey:
    """One key of a sort. Its `nullable` and `ordering` are worked out once (a key lives as
    long as its sort, app.resources.query caches those): through an ORM attribute's proxy
    they cost more than the rest of a page's statement."""

    column: Any  # an ORM column attribute
    descending: bool = False

    @cached_property
    def nullable(self) -> bool:
        return bool(self.column.nullable) if hasattr(self.column, "nullable") else True

    @cached_property
    def ordering(self) -> Any:
        """NULL counts as the highest value: last ascending, first descending. That is
        Postgres's own order (and PostgREST's), so a b-tree index serves both directions;
        SQLite is told explicitly. A column without NULLs gets a plain ASC/DESC, which
        SQLite can read off an index."""
        column = self.column
        if not self.nullable:
            return column.desc() if self.descending else column.asc()
        return column.desc().nulls_first() if self.descending else column.asc().nulls_last()

    @property
    def name(self) -> str:
        return str(self.column.key)

    @cached_property
    def parse(self) -> Callable[[Any], Any]:
        """A cursor's value of this key back to the column's type."""
        return _PARSERS[self.column.type.python_type]


def signature(keys: Sequence[SortKey]) -> str:
    return ",".join(("-" if key.descending else "") + key.name for key in keys)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | UUID):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return value


def _mac(raw: bytes) -> bytes:
    return hmac.digest(_KEY, raw, "sha256")[:MAC_BYTES]  # one call into OpenSSL: no HMAC object


def scope_of(*parts: Any) -> str:
    """What a cursor is for (collection, filters, query): a cursor is only good there."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(keys: Sequence[SortKey], row: Any, scope: str = "") -> str:
    """A cursor after `row`: a result row (its attributes) or a record (its keys)."""
    if isinstance(row, dict):
        values = [row[key.name] for key in keys]
    else:
        values = [getattr(row, key.name) for key in keys]
    payload = {"s": signature(keys), "q": scope, "v": [_plain(value) for value in values]}
    raw = orjson.dumps(payload)
    return base64.urlsafe_b64encode(_mac(raw) + raw).decode().rstrip("=")


def decode(token: str, keys: Sequence[SortKey], scope: str = "") -> list[Any]:
    """The row values a cursor points after; a 400 for anything not made by `encode`."""
    try:
        signed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        mac, raw = signed[:MAC_BYTES], signed[MAC_BYTES:]
        if not hmac.compare_digest(mac, _mac(raw)):
            raise ValueError("not signed by this API")
        payload = orjson.loads(raw)
        values = payload["v"]
        if payload["s"] != signature(keys) or len(values) != len(keys):
            raise BadRequest.on(
                "query.cursor",
                "cursor does not match the sort",
                "cursor: this cursor belongs to another sort order; start again without it.",
            )
        if payload.get("q", "") != scope:
            raise BadRequest.on(
                "query.cursor",
                "cursor does not match the query",
                "cursor: this cursor belongs to another list or other filters; start again "
                "without it.",
            )
        return [
            None if value is None else key.parse(value)
            for key, value in zip(keys, values, strict=True)
        ]
    except BadRequest:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
            RecursionError, binascii.Error):  # fmt: skip
        raise BadRequest.on(
            "query.cursor",
            "malformed cursor",
            "cursor: not a cursor this API made; use next_cursor from a previous page.",
        ) from None


def order_by(keys: Sequence[SortKey]) -> list[Any]:
    return [key.ordering for key in keys]


def seekable(keys: Sequence[SortKey], values: Sequence[Any]) -> bool:
    """Whether `after` is a row-value comparison for these values. A row comparison stops
    at the first pair that differs and is NULL (excluded) when that pair has a NULL. It
    matches the NULLs-highest order when every key runs one way, no cursor value is NULL,
    and either the keys hold no NULLs or they run descending (NULLs then come first, so a
    row with one is never after a cursor without)."""
    directions = {k.descending for k in keys}
    return (
        len(directions) == 1
        and all(v is not None for v in values)
        and (keys[0].descending or not any(k.nullable for k in keys))
    )


def _same(key: SortKey, value: Any) -> ColumnElement[bool]:
    same: ColumnElement[bool] = key.column.is_(None) if value is None else key.column == value
    return same


def _beyond(key: SortKey, value: Any) -> ColumnElement[bool] | None:
    """Rows past `value` on this key alone, NULL being the highest value."""
    if key.descending:
        if value is None:
            return key.column.is_not(None)  # type: ignore[no-any-return]
        return key.column < value  # type: ignore[no-any-return]
    if value is None:
        return None  # nothing is higher than NULL
    past = key.column > value
    return or_(past, key.column.is_(None)) if key.nullable else past


def after(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order of `keys` (the last key is unique).

    As a row-value comparison, `(a, id) > (:a, :id)`, where that means the same: then both
    databases seek straight to the spot in a `(a, id)` index, however deep the page.
    Otherwise an OR of "equal so far, then beyond", which NULLs need but no index serves."""
    if seekable(keys, values):
        typed = [literal(v, k.column.type) for k, v in zip(keys, values, strict=True)]
        return _compared(keys, typed)
    clauses = []
    for i, key in enumerate(keys):
        beyond = _beyond(key, values[i])
        if beyond is not None:
            clauses.append(and_(*(_same(keys[j], values[j]) for j in range(i)), beyond))
    rows_after: ColumnElement[bool] = or_(false(), *clauses)
    return rows_after


SEEK = "cursor_value_{}"


def seek(keys: Sequence[SortKey]) -> ColumnElement[bool]:
    """`after` for `seekable` values, each bound by name (`SEEK` and its position): one
    statement for every cursor of a sort (app.resources.plans)."""
    bound = [bindparam(SEEK.format(i), type_=k.column.type) for i, k in enumerate(keys)]
    return _compared(keys, bound)


def _compared(keys: Sequence[SortKey], bound: Sequence[Any]) -> ColumnElement[bool]:
    columns = tuple_(*(k.column for k in keys))
    compared: ColumnElement[bool] = (
        columns < tuple_(*bound) if keys[0].descending else columns > tuple_(*bound)
    )
    return compared
