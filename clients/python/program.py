"""The generated Python client against a running service, as a partner would use it: list
with a filter and follow the cursor, read one record and get a 304 with its ETag, create,
replace, and follow /changes. Every answer is parsed into the generated types, and every
JSON answer is also checked against the schema /openapi.json gives for it: a field the
service sends that breaks its schema fails the run.

    BASE_URL=http://127.0.0.1:8000 API_KEY=bik_... python program.py OPENAPI_JSON
"""

import json
import os
import re
import sys
import uuid
from typing import Any, TypeVar

import httpx
from battery_intel_client import AuthenticatedClient
from battery_intel_client.api.automakers import (
    create_automaker,
    get_automaker,
    list_automakers,
    replace_automaker,
)
from battery_intel_client.api.sync import list_changes
from battery_intel_client.api.views import get_energy_density_stats, get_landscape
from battery_intel_client.models import (
    Automaker,
    AutomakerChange,
    AutomakerCreate,
    AutomakerPage,
    ChangesPage,
    EnergyDensityStats,
    GroupBy,
    LandscapePage,
)
from battery_intel_client.types import Response
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

T = TypeVar("T")


class SchemaCheck:
    """An httpx response hook: each JSON answer must fit its documented schema."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.registry: Registry = Registry().with_resource(
            "urn:openapi", Resource.from_contents(spec, default_specification=DRAFT202012)
        )
        self.routes = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in spec["paths"]
        ]
        self.checked = 0

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        media_type = response.headers.get("content-type", "").split(";")[0]
        if not media_type.endswith("json"):
            return
        path = next(t for pattern, t in self.routes if pattern.match(response.request.url.path))
        operation = self.spec["paths"][path][response.request.method.lower()]
        documented = operation["responses"].get(str(response.status_code))
        assert documented, f"{response.request.method} {path}: {response.status_code} undocumented"
        schema = documented["content"][media_type]["schema"]
        if "$ref" in schema:
            schema = {"$ref": "urn:openapi" + schema["$ref"]}
        validator = Draft202012Validator(schema, registry=self.registry)
        errors = list(validator.iter_errors(response.json()))
        assert not errors, f"{path} {response.status_code}: {errors[0].message}"
        self.checked += 1


def typed(answer: Response[Any], status: int, kind: type[T]) -> T:
    assert answer.status_code == status, (answer.status_code, answer.content[:300])
    assert isinstance(answer.parsed, kind), type(answer.parsed)
    return answer.parsed


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as file:
        spec = json.load(file)
    check = SchemaCheck(spec)
    client = AuthenticatedClient(
        base_url=os.environ["BASE_URL"],
        token=os.environ["API_KEY"],
        httpx_args={"event_hooks": {"response": [check]}},
    )
    with client:
        # A filter and the cursor: every Chinese automaker, two a page, each once.
        seen: list[Automaker] = []
        cursor: str | None = None
        while True:
            page = typed(
                list_automakers.sync_detailed(client=client, country="CN", limit=2, cursor=cursor),
                200,
                AutomakerPage,
            )
            seen += page.items
            cursor = page.next_cursor if isinstance(page.next_cursor, str) else None
            if cursor is None:
                break
        assert len(seen) >= 5, seen
        assert len({a.id for a in seen}) == len(seen), "each once"
        assert all(a.country == "CN" for a in seen)

        # One record, its ETag, and 304 Not Modified for that tag.
        first = get_automaker.sync_detailed("nio", client=client)
        nio = typed(first, 200, Automaker)
        etag = first.headers["etag"]
        assert etag == f'"{nio.version}"', etag
        again = get_automaker.sync_detailed("nio", client=client, if_none_match=etag)
        assert again.status_code == 304, again.status_code
        assert again.content == b""

        # Create with a server-made id, then create and replace at a client-chosen id.
        slug = f"py-{uuid.uuid4().hex[:8]}"
        made = typed(
            create_automaker.sync_detailed(
                client=client, body=AutomakerCreate(slug=slug, name="Python Motors", country="DE")
            ),
            201,
            Automaker,
        )
        mine = str(uuid.uuid4())
        body = AutomakerCreate(slug=f"{slug}-b", name="Partner Motors", country="SE")
        put = typed(replace_automaker.sync_detailed(mine, client=client, body=body), 201, Automaker)
        body.name = "Partner Motors AB"
        replaced = typed(
            replace_automaker.sync_detailed(
                mine, client=client, body=body, if_match=f'"{put.version}"'
            ),
            200,
            Automaker,
        )
        assert (replaced.version, replaced.name) == (2, "Partner Motors AB")

        # The change feed from the start: strictly increasing, ours at the end.
        after, last_seq, ours = 0, 0, []
        while True:
            changes = typed(
                list_changes.sync_detailed(client=client, after=after, limit=7), 200, ChangesPage
            )
            for change in changes.items:
                assert change.seq > last_seq
                last_seq = change.seq
                if isinstance(change, AutomakerChange) and str(change.id) in (str(made.id), mine):
                    assert change.record is None or isinstance(change.record, Automaker)
                    ours.append((str(change.id), change.op.value, change.version))
            if changes.next_after == after:
                break
            after = changes.next_after
        assert ours == [(str(made.id), "create", 1), (mine, "create", 1), (mine, "update", 2)]

        # Two analyst views, typed too.
        landscape = typed(get_landscape.sync_detailed(client=client), 200, LandscapePage)
        assert {row.automaker for row in landscape.items} >= {"NIO", "Changan (Deepal)"}
        stats = typed(
            get_energy_density_stats.sync_detailed(client=client, group_by=GroupBy.TECHNOLOGY),
            200,
            EnergyDensityStats,
        )
        assert stats.groups
        assert stats.groups[0].count >= 1
    print(f"python client: every step passed; {check.checked} JSON answers fit their schemas")


if __name__ == "__main__":
    main()
