"""The machine's field types: what collections declare their fields with, validated on the way
in and stored portably (slugs, names, references, numbers, URLs, countries)."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, get_args
from urllib.parse import urlsplit
from uuid import UUID

import pycountry
from pydantic import (
    AfterValidator,
    AllowInfNan,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError, PydanticUndefined
from sqlalchemy import Float, String, Text, Uuid
from sqlmodel import Field

from app.columns import NAME_MAX

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
URL_MAX = 2000
TEXT_MAX = 10_000


def _not_uuid(slug: str) -> str:
    try:
        UUID(slug)
    except ValueError:
        return slug
    raise ValueError("a slug must not look like a UUID (ids and slugs share one URL)")


def _country(code: str) -> str:
    code = code.upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"'{code}' is not an ISO 3166-1 alpha-2 country code")
    return code


def _web_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", url):
        raise ValueError("must be an absolute http(s) URL")
    return url


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


def _uuid_or_slug(value: object) -> UUID | str:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            if len(value) <= NAME_MAX and re.fullmatch(SLUG_PATTERN, value):
                return value
    raise ValueError("must be the target's UUID or slug")


def rule_error(field: str, message: str) -> PydanticCustomError:
    """A cross-field rule broken by `field`: raised in a model validator, reported on the field."""
    return PydanticCustomError("rule", message, {"field": field})


def format_number(value: float) -> str:
    """`360`, `811.6`, `0.0000001`: as given, no trailing zeros, never an exponent."""
    if value.is_integer():
        return str(int(value))
    shortest = repr(value)  # Decimal's "f" writes the same digits, a microsecond slower
    return format(Decimal(shortest), "f") if "e" in shortest else shortest


def json_number(value: float) -> float | int:
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


@dataclass(frozen=True)
class Exact:
    """Marks a type whose values identify a record (a slug, a country code): such a field is
    filterable by its exact value, a query value made ready by `normalize` (`cn` → `CN`).
    A collection's label field (`name`, `title`) is filterable so too."""

    normalize: Callable[[str], str] = str


NoNul = AfterValidator(_no_nul)
Slug = Annotated[
    str,
    StringConstraints(pattern=SLUG_PATTERN, max_length=NAME_MAX),
    AfterValidator(_not_uuid),
    Exact(),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX), NoNul]
LongText = Annotated[str, StringConstraints(max_length=TEXT_MAX), NoNul]
Country = Annotated[
    str, StringConstraints(min_length=2, max_length=2), AfterValidator(_country), Exact(str.upper)
]
WebUrl = Annotated[str, StringConstraints(max_length=URL_MAX), AfterValidator(_web_url)]
Number = Annotated[float, AllowInfNan(False), PlainSerializer(json_number)]
VehicleModel = Name
# A reference accepts the target's UUID or, for collections with slugs, its slug; one
# error message for both forms rather than one per branch of a union.
SlugRef = Annotated[
    UUID | str,
    PlainValidator(_uuid_or_slug),
    WithJsonSchema({
        "anyOf": [
            {"type": "string", "format": "uuid"},
            {"type": "string", "pattern": SLUG_PATTERN, "maxLength": NAME_MAX},
        ]
    }),
]  # fmt: skip


def _default(required: bool) -> Any:
    return PydanticUndefined if required else None


def enum_field(enum: type[StrEnum], *, nullable: bool = False, **kwargs: Any) -> Any:
    length = max(len(member.value) for member in enum)
    return Field(_default(not nullable), sa_type=String(length), **kwargs)


def text_field(max_length: int = TEXT_MAX, *, required: bool = False, **kwargs: Any) -> Any:
    sa_type = Text() if max_length > URL_MAX else String(max_length)
    return Field(_default(required), sa_type=sa_type, **kwargs)


def ref_field(table: str, *, required: bool = False, **kwargs: Any) -> Any:
    return Field(_default(required), sa_type=Uuid, foreign_key=f"{table}.id", index=True, **kwargs)


def number_field(*, required: bool = False, **kwargs: Any) -> Any:
    return Field(_default(required), sa_type=Float(53), **kwargs)


def exact(annotation: Any, metadata: list[Any]) -> Exact | None:
    """The Exact marker of a field (its own metadata, or inside `X | None`), if it has one."""
    found = [m for m in metadata if isinstance(m, Exact)]
    found += [m for m in getattr(annotation, "__metadata__", ()) if isinstance(m, Exact)]
    for arg in get_args(annotation) if not found else ():
        if (inner := exact(arg, [])) is not None:
            return inner
    return found[0] if found else None
