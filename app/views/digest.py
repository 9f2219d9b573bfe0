"""`GET /api/v1/digest.atom`: the recent changes to partnerships, energy densities and
milestones as an Atom 1.0 feed (RFC 4287), titled for people, for any feed reader."""

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, select
from sqlmodel import col

from app.market.companies import Automaker, BatteryPartner
from app.market.products import Battery
from app.market.programmes import Partnership
from app.market.sources import Source
from app.resources.changelog import Change
from app.resources.chunked import rows_in
from app.resources.rows import json_ready

ATOM = "http://www.w3.org/2005/Atom"
MEDIA = "application/atom+xml"
WATCHED = ("partnerships", "energy-densities", "milestones")
MOST = 200
READ_AT_ONCE = 1000  # changes read a round, newest first, until MOST have passed the filters


@dataclass(frozen=True)
class Entry:
    seq: int
    collection: str
    record_id: str
    op: str
    changed_at: dt.datetime
    actor: str
    record: dict[str, Any]  # as it was after the change, or before a delete


def entries(
    connection: Connection, since: dt.datetime, where: Sequence[ColumnElement[bool]]
) -> list[Entry]:
    """The newest changes after `since` (at most MOST), filtered as the landscape is when
    `where` filters it: partnerships themselves, the rest through their partnership,
    battery or battery partner."""
    tied = _tied(connection, where) if where else None
    found: list[Entry] = []
    before: int | None = None
    while len(found) < MOST:
        query = select(Change).where(
            col(Change.collection).in_(WATCHED), col(Change.changed_at) > since
        )
        if before is not None:
            query = query.where(col(Change.seq) < before)
        rows = connection.execute(query.order_by(col(Change.seq).desc()).limit(READ_AT_ONCE)).all()
        if not rows:
            break
        made = _entries(connection, rows)
        found += [e for e in made if tied is None or _matches(e, tied)]
        before = rows[-1].seq
    return found[:MOST]


def _entries(connection: Connection, rows: Sequence[Any]) -> list[Entry]:
    """Changes with the record each is about (for a delete, its last version)."""
    deleted = [row for row in rows if row.record is None]
    last: dict[tuple[str, Any], dict[str, Any]] = {}
    if deleted:
        before = (
            select(col(Change.collection), col(Change.record_id), col(Change.record))
            .where(col(Change.op) != "delete")  # a tombstone's record is JSON null
            .order_by(col(Change.seq))
        )
        ids = list({row.record_id for row in deleted})
        for collection, record_id, record in rows_in(
            connection, before, col(Change.record_id), ids
        ):
            last[(collection, record_id)] = record
    return [
        Entry(row.seq, row.collection, str(row.record_id), row.op, row.changed_at, row.actor,
              row.record or last.get((row.collection, row.record_id), {}))
        for row in rows
    ]  # fmt: skip


@dataclass(frozen=True)
class Tied:
    partnerships: set[str]
    batteries: set[str]
    partners: set[str]


def _tied(connection: Connection, where: Sequence[ColumnElement[bool]]) -> Tied:
    """The partnerships the landscape's filters keep, and their batteries and partners."""
    table: Any = Partnership
    query = select(table.id, table.battery_id, table.battery_partner_id).where(*where)
    rows = connection.execute(query).all()
    return Tied(
        {str(r[0]) for r in rows}, {str(r[1]) for r in rows if r[1]}, {str(r[2]) for r in rows}
    )


def _matches(entry: Entry, tied: Tied) -> bool:
    record = entry.record
    if entry.collection == "partnerships":
        return entry.record_id in tied.partnerships
    return (
        str(record.get("partnership_id")) in tied.partnerships
        or str(record.get("battery_id")) in tied.batteries
        or str(record.get("battery_partner_id")) in tied.partners
    )


@dataclass(frozen=True)
class Names:
    """What the entries' titles and links name: companies, batteries, sources' URLs."""

    partnerships: dict[str, tuple[str, str]]  # id -> (automaker id, battery partner id)
    makers: dict[str, str]
    partners: dict[str, str]
    batteries: dict[str, str]
    urls: dict[str, str]  # source id -> its url

    @classmethod
    def of(cls, connection: Connection, found: list[Entry]) -> "Names":
        records = [entry.record for entry in found]
        pairs = {
            str(r["id"]): (str(r["automaker_id"]), str(r["battery_partner_id"]))
            for e, r in zip(found, records, strict=True)
            if e.collection == "partnerships" and r
        }
        missing = {str(r["partnership_id"]) for r in records if r.get("partnership_id")} - set(
            pairs
        )
        table: Any = Partnership
        query = select(table.id, table.automaker_id, table.battery_partner_id)
        for row in rows_in(connection, query, table.id, [uuid.UUID(i) for i in missing]):
            pairs[str(row[0])] = (str(row[1]), str(row[2]))

        def names(table: Any, label: Any, field: str, also: Iterable[str] = ()) -> dict[str, str]:
            wanted = {str(r[field]) for r in records if r.get(field)} | set(also)
            ids = [uuid.UUID(i) for i in wanted]
            rows = rows_in(connection, select(table.id, label), table.id, ids)
            return {str(row[0]): str(row[1]) for row in rows if row[1] is not None}

        return cls(
            partnerships=pairs,
            makers=names(Automaker, Automaker.name, "automaker_id", (a for a, _ in pairs.values())),
            partners=names(
                BatteryPartner,
                BatteryPartner.name,
                "battery_partner_id",
                (b for _, b in pairs.values()),
            ),
            batteries=names(Battery, Battery.name, "battery_id"),
            urls=names(Source, Source.url, "source_id"),
        )

    def subject(self, entry: Entry) -> str:
        """`Automaker × Battery partner` for a partnership or what is tied to one, else the
        battery's, the battery partner's or the automaker's name."""
        record = entry.record
        own = (
            entry.record_id if entry.collection == "partnerships" else record.get("partnership_id")
        )
        if str(own) in self.partnerships:
            maker, partner = self.partnerships[str(own)]
            return f"{self.makers.get(maker, '?')} × {self.partners.get(partner, '?')}"
        for names, field in (
            (self.batteries, "battery_id"),
            (self.partners, "battery_partner_id"),
            (self.makers, "automaker_id"),
        ):
            if str(record.get(field)) in names:
                return names[str(record[field])]
        return entry.collection


def render(
    found: list[Entry], names: Names, *, base: str, self_url: str, since: dt.datetime
) -> bytes:
    """The feed, made with ElementTree (never by pasting strings): entries newest first."""
    feed = ET.Element("feed", xmlns=ATOM)
    ET.SubElement(feed, "title").text = "Battery Intelligence: what changed"
    subtitle = f"Partnerships, energy densities and milestones changed since {json_ready(since)}"
    ET.SubElement(feed, "subtitle").text = subtitle
    ET.SubElement(feed, "id").text = f"urn:battery-intel:digest:{self_url}"
    ET.SubElement(feed, "updated").text = json_ready(found[0].changed_at if found else since)
    ET.SubElement(feed, "link", rel="self", href=self_url, type=MEDIA)
    ET.SubElement(ET.SubElement(feed, "author"), "name").text = "Battery Intelligence API"
    for entry in found:
        item = ET.SubElement(feed, "entry")
        ET.SubElement(item, "id").text = f"urn:battery-intel:change:{entry.seq}"
        ET.SubElement(item, "title").text = f"{names.subject(entry)}: {_what(entry)}"
        ET.SubElement(item, "updated").text = json_ready(entry.changed_at)
        record_url = f"{base}/api/v1/{entry.collection}/{entry.record_id}"
        ET.SubElement(item, "link", rel="alternate", href=record_url)
        if url := names.urls.get(str(entry.record.get("source_id"))):
            ET.SubElement(item, "link", rel="related", href=url)
        ET.SubElement(ET.SubElement(item, "author"), "name").text = entry.actor
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


def _what(entry: Entry) -> str:
    """`status active`, `energy density 360 Wh/kg (claimed)`, `milestone mass_production
    achieved`; ` (deleted)` after a delete."""
    record = entry.record
    if entry.collection == "partnerships":
        what = f"status {record.get('status')}"
    elif entry.collection == "energy-densities":
        what = f"energy density {record.get('display')} ({record.get('status')})"
    else:
        what = f"milestone {record.get('stage')} {record.get('status')}"
    return what + (" (deleted)" if entry.op == "delete" else "")
