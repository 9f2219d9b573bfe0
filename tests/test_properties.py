"""Properties: validators accept exactly what they should, and no query string breaks the API."""

import re
import uuid

import pycountry
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from app.market.products import density_display
from app.resources.catalog import catalog
from app.resources.fields import SLUG_PATTERN, Country, Slug, format_number
from app.resources.query import queryable
from tests.builders import API

SLUGS = TypeAdapter(Slug)
COUNTRIES = TypeAdapter(Country)
FIXTURES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PARAMETERS = sorted(
    {*queryable(catalog.by_path("energy-densities")).filters, "sort", "cursor", "limit",
     "include", "q", "count", "format"}
)  # fmt: skip


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@given(st.text(max_size=60) | st.from_regex(SLUG_PATTERN, fullmatch=True))
def test_a_slug_is_accepted_exactly_when_it_matches_the_pattern(text: str) -> None:
    expected = bool(re.fullmatch(SLUG_PATTERN, text)) and len(text) <= 200 and not _is_uuid(text)
    try:
        SLUGS.validate_python(text)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == expected


@given(st.text(min_size=0, max_size=3) | st.sampled_from([c.alpha_2 for c in pycountry.countries]))
def test_a_country_is_accepted_exactly_when_iso_3166_knows_it(text: str) -> None:
    known = pycountry.countries.get(alpha_2=text.upper()) is not None if len(text) == 2 else False
    try:
        assert COUNTRIES.validate_python(text) == text.upper()
        accepted = True
    except (ValidationError, LookupError):
        accepted = False
    assert accepted == (known and text.isascii())


@given(st.floats(min_value=1e-9, max_value=3000, allow_nan=False, allow_infinity=False))
def test_numbers_display_as_given_and_read_back_exactly(value: float) -> None:
    shown = format_number(value)
    assert "e" not in shown.lower()
    assert float(shown) == value
    assert not (("." in shown) and shown.endswith("0"))


@given(
    st.floats(min_value=0.5, max_value=1000, allow_nan=False),
    st.one_of(st.none(), st.floats(min_value=0, max_value=1000, allow_nan=False)),
)
def test_display_shapes(low: float, extra: float | None) -> None:
    high = None if extra is None else low + extra
    shown = density_display(low, high, "Wh/kg")
    pattern = r"[0-9.]+\+ Wh/kg" if high is None else r"[0-9.]+(–[0-9.]+)? Wh/kg"
    assert re.fullmatch(pattern, shown), shown


@FIXTURES
@given(name=st.sampled_from(PARAMETERS), value=st.text(max_size=40))
def test_any_string_in_any_parameter_is_200_or_400(
    client: TestClient, name: str, value: str
) -> None:
    response = client.get(f"{API}/energy-densities", params={name: value})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"].startswith("query.")
    for leak in ("SELECT", "sqlite", "psycopg", "Traceback"):
        assert leak not in response.text


SORT_NAMES = [*queryable(catalog.by_path("batteries")).sortable, "id", "nope", ""]


@FIXTURES
@given(
    sort=st.lists(st.sampled_from(SORT_NAMES), max_size=4),
    minus=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_any_sort_is_200_or_400(client: TestClient, sort: list[str], minus: list[bool]) -> None:
    text = ",".join(("-" if m else "") + s for s, m in zip(sort, minus, strict=False))
    response = client.get(f"{API}/batteries", params={"sort": text})
    assert response.status_code in (200, 400), response.text
