"""The OpenAPI document's examples are the demo service's own answers.

`capture` seeds a fresh database with the demo data, makes a short history of changes on
it (a figure revised, a stage reached, a measurement), and asks every kind of question the
API answers; each answer becomes the example of its schema (JSON) or of its operation and
media type (CSV, JSON Lines, Atom, Prometheus text) in app/openapi_examples.json, which
app.docs puts into /openapi.json.

The test captures again and compares, times, random ids and secrets masked: an answer that
changes shape or content fails it until the file is regenerated with

    UPDATE_EXAMPLES=1 ./dev test tests/test_openapi_examples.py
"""

import datetime as dt
import json
import os
import re
import time
from typing import Any

from fastapi.testclient import TestClient

from app.docs import EXAMPLES
from app.main import create_app
from app.market.demo import demo_id
from app.market.registry import SPECS
from app.settings import Settings
from tests.live import cli

API = "/api/v1"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
RANDOM_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
VARYING = {"next_cursor", "prefix", "key", "secret", "duration_ms"}
METRICS = ("http_requests_total", "change_feed_head_seq")  # the lines kept of /metrics


class Book:
    """Files each answer under its operation's documented answer."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.spec = client.get("/openapi.json").json()
        self.examples: dict[str, Any] = {"schemas": {}, "media": {}}

    def take(self, method: str, template: str, path: str | None = None, **kw: Any) -> Any:
        answer = self.client.request(method, path or template, **kw)
        assert answer.status_code < 300, (method, path or template, answer.text)
        operation = self.spec["paths"][template][method.lower()]
        media_type = answer.headers["content-type"].split(";")[0]
        media = operation["responses"][str(answer.status_code)]["content"][media_type]
        ref = media["schema"].get("$ref")
        if ref is not None:
            self.examples["schemas"].setdefault(ref.rsplit("/", 1)[-1], answer.json())
            return answer.json()
        by_type = self.examples["media"].setdefault(operation["operationId"], {})
        by_type.setdefault(media_type, _presentable(media_type, answer.text))
        return answer.text


def _presentable(media_type: str, text: str) -> str:
    text = text.replace("http://testserver", "http://127.0.0.1:8000")
    if media_type != "text/plain":
        return text
    kept = []  # of each metric: its help, its type and its first sample of an API route
    for name in METRICS:
        lines = text.splitlines()
        kept += [line for line in lines if re.match(rf"# \w+ {name} ", line)]
        samples = [line for line in lines if re.match(rf"{name}\b", line)]
        kept += [next((s for s in samples if 'route="/api/' in s), samples[0])]
    return "\n".join(kept) + "\n"


def capture(client: TestClient) -> dict[str, Any]:
    book = Book(client)
    for spec in SPECS:
        many = f"{API}/{spec.path}"
        first = book.take("GET", many, params={"limit": 1})["items"][0]
        book.take("GET", many, params={"format": "csv"})
        book.take("GET", f"{many}/{{id}}", f"{many}/{first['id']}")
        book.take("GET", f"{many}/{{id}}/history", f"{many}/{first['id']}/history")
    views: list[tuple[str, dict[str, Any]]] = [
        ("/search", {"q": "semi-solid", "limit": 2}),
        ("/landscape", {"limit": 1}),
        ("/stats/energy-density", {"group_by": "battery_partner"}),
    ]
    for view, params in views:
        book.take("GET", f"{API}{view}", params=params)
        whole = {k: v for k, v in params.items() if k != "limit"}
        book.take("GET", f"{API}{view}", params={**whole, "format": "csv"})
    book.take("GET", f"{API}/changes", params={"limit": 2})
    book.take("GET", f"{API}/export")

    before = _news(client)
    diff = {"from": before, "automaker": "nio"}
    book.take("GET", f"{API}/landscape/diff", params=diff)
    book.take("GET", f"{API}/landscape/diff", params={**diff, "format": "csv"})
    claims = f"{API}/batteries/{{id}}/claims"
    book.take("GET", claims, claims.format(id="qingtao-semi-solid"))
    gap = {"group_by": "technology"}
    book.take("GET", f"{API}/stats/claim-gap", params=gap)
    book.take("GET", f"{API}/stats/claim-gap", params={**gap, "format": "csv"})
    book.take("GET", f"{API}/digest.atom", params={"automaker": "nio"})
    book.take("POST", f"{API}/batch", json={"atomic": False, "operations": [
        {"method": "PATCH", "collection": "automakers", "id": "nio",
         "body": {"description": "Premium EV maker; battery swap stations across China."}},
        {"method": "DELETE", "collection": "automakers", "id": "tesla"},
    ]})  # fmt: skip

    book.take("POST", f"{API}/keys", json={"name": "partner-acme", "scope": "write"})
    book.take("GET", f"{API}/keys")
    # A public address (names would need a resolver); only milestones, none of which change
    # here, so nothing is delivered while the examples are taken.
    hook = book.take("POST", f"{API}/webhooks", json={
        "url": "https://93.184.215.14/hooks/battery-intel", "collections": ["milestones"],
        "description": "Acme's CRM"})  # fmt: skip
    one = f"{API}/webhooks/{{id}}"
    book.take("GET", f"{API}/webhooks")
    book.take("GET", one, one.format(id=hook["id"]))
    book.take("GET", f"{one}/deliveries", f"{one.format(id=hook['id'])}/deliveries")
    client.delete(one.format(id=hook["id"]))

    for path in ("/healthz", "/readyz", "/metrics"):
        book.take("GET", path)
    return book.examples


def _news(client: TestClient) -> str:
    """A revised figure, a stage reached and a new measurement, after the returned instant."""
    before = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.01)
    nio_figure = demo_id("energy-densities", str(demo_id("partnerships", "nio")))
    for path, body in [
        (f"energy-densities/{nio_figure}", {"value_min": 380, "value_max": 380}),
        ("partnerships/" + str(demo_id("partnerships", "nio")), {"stage": "fleet_deployment"}),
    ]:
        assert client.patch(f"{API}/{path}", json=body).status_code == 200
    measured = {"battery_partner_id": "qingtao-energy", "battery_id": "qingtao-semi-solid",
                "value_min": 360, "value_max": 360, "unit": "Wh/kg", "level": "cell",
                "status": "measured",
                "as_of": "2026-05-01", "note": "Third-party test of production cells."}  # fmt: skip
    assert client.post(f"{API}/energy-densities", json=measured).status_code == 201
    return before


def mask(value: Any) -> Any:
    """What is the same in every capture: no times, random ids, cursors or secrets."""
    if isinstance(value, dict):
        return {k: "<varies>" if k in VARYING else mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, str):
        masked = RANDOM_ID.sub("<id>", TIME.sub("<time>", value))
        if masked.startswith("# HELP"):  # Prometheus text: the samples are the process's
            masked = re.sub(r"(?m)^([a-z_]+)(\{[^}]*\})? \S+$", r"\1 <sample>", masked)
        return masked
    return value


def test_examples_are_what_the_demo_service_answers(migrated: tuple[str, str]) -> None:
    url, key = migrated
    cli(url, "seed")
    app = create_app(Settings(database_url=url, _env_file=None))
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        captured = capture(client)
    if os.environ.get("UPDATE_EXAMPLES"):
        text = json.dumps(captured, indent=1, ensure_ascii=False, sort_keys=True)
        EXAMPLES.write_text(text + "\n", encoding="utf-8")
    committed = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    assert mask(committed) == mask(captured), (
        "the demo service answers differently from app/openapi_examples.json: regenerate it "
        "with UPDATE_EXAMPLES=1 ./dev test tests/test_openapi_examples.py"
    )


def test_the_masks_keep_what_matters() -> None:
    # The comparison above must still see content: a changed name or number is a difference.
    one = {"name": "NIO", "value_min": 360, "updated_at": "2026-12-01T10:00:00Z"}
    other = {**one, "updated_at": "2026-12-02T11:00:00.5Z"}
    assert mask(one) == mask(other)
    assert mask(one) != mask({**one, "name": "NIO Inc."})
    assert mask(one) != mask({**one, "value_min": 380})
    metrics = '# HELP n Requests.\nn{route="/x"} 3.0\n'
    assert mask(metrics) == mask(metrics.replace("3.0", "9.0"))
    assert mask(metrics) != mask(metrics.replace("# HELP n", "# HELP m"))
    assert mask("QingTao Energy") != mask("QingTao Energie")


def test_capture_sees_a_changed_answer(migrated: tuple[str, str]) -> None:
    """The comparison is not vacuous: the same capture on different data differs."""
    url, key = migrated
    cli(url, "seed")
    app = create_app(Settings(database_url=url, _env_file=None))
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        client.patch(f"{API}/automakers/saic", json={"website": "https://www.saicmotor.com"})
        captured = capture(client)
    committed = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    assert mask(committed) != mask(captured)
