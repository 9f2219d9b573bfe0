"""Sources: the reports, articles and filings that facts cite."""

import datetime as dt

from sqlalchemy import Date, String
from sqlmodel import Field, SQLModel

from app.columns import NAME_MAX
from app.market.enums import SourceKind
from app.resources.fields import (
    URL_MAX,
    LongText,
    Name,
    Slug,
    WebUrl,
    enum_field,
    text_field,
)
from app.resources.records import Record, family, table_args
from app.resources.spec import ResourceSpec, TextIndex


class SourceFields(SQLModel):
    slug: Slug = Field(sa_type=String(NAME_MAX), unique=True, description="URL name, unique.")
    title: Name = Field(sa_type=String(NAME_MAX), index=True)
    publisher: Name | None = text_field(NAME_MAX)
    url: WebUrl | None = text_field(URL_MAX, description="An http(s) URL.")
    published_on: dt.date | None = Field(default=None, sa_type=Date, index=True)
    kind: SourceKind = enum_field(SourceKind, index=True)
    note: LongText | None = text_field()


class Source(SourceFields, Record, table=True):
    __tablename__ = "sources"
    __table_args__ = table_args("sources", SourceFields)


SOURCES = ResourceSpec(
    table=Source,
    singular="source",
    description="Reports, articles, press releases and filings that facts cite.",
    text=TextIndex(("title", "slug", "note", "publisher"), label="title"),
    models=family(
        "Source",
        SourceFields,
        example={
            "slug": "china-semi-solid-pivot-report",
            "title": "China's pivot to semi-solid-state batteries",
            "kind": "report",
            "url": "https://example.com/reports/semi-solid-pivot",
            "published_on": "2026-05-12",
        },
        patch_example={"publisher": "Shanghai market intelligence desk"},
    ),
)
