"""Gadgets: a throwaway eighth collection, declared exactly as app/market's seven are."""

from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from app.columns import NAME_MAX
from app.market.companies import Automaker
from app.resources.fields import (
    LongText,
    Name,
    Number,
    Slug,
    SlugRef,
    enum_field,
    number_field,
    ref_field,
    text_field,
)
from app.resources.filters import any_of, through
from app.resources.records import Record, family, table_args
from app.resources.spec import ResourceSpec, TextIndex

Colour = StrEnum("Colour", "red green blue")


class GadgetFields(SQLModel):
    slug: Slug = Field(sa_type=String(NAME_MAX), unique=True)
    name: Name = Field(sa_type=String(NAME_MAX), index=True)
    maker_id: SlugRef = ref_field("automakers", required=True, description="Id or slug.")
    colour: Colour = enum_field(Colour, index=True)
    weight_kg: Number | None = number_field(gt=0, index=True)
    blurb: LongText | None = text_field()


class Gadget(GadgetFields, Record, table=True):
    __tablename__ = "gadgets"
    __table_args__ = table_args("gadgets", GadgetFields)


GADGETS = ResourceSpec(
    table=Gadget,
    singular="gadget",
    description="Things automakers make that are not batteries.",
    text=TextIndex(("name", "slug", "blurb"), label="name", names=("maker_id",)),
    joins=(
        through(
            Gadget.maker_id,
            Automaker.id,
            any_of("country", Automaker.country, str.upper, "Country of the maker"),
        ),
    ),
    models=family(
        "Gadget",
        GadgetFields,
        example={"slug": "roof-box", "name": "Roof box", "maker_id": "nio", "colour": "red"},
        patch_example={"colour": "blue"},
    ),
)
