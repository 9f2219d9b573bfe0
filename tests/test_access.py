"""API keys, scopes and limits (API.md §6, §7): every 401 and 403, revocation, 413, 415, 429."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.builders import API, payload_for
from tests.test_errors import assert_problem

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def anonymous(client: TestClient, settings: Settings) -> Iterator[TestClient]:
    """A client with no key (`client` is requested first, for the cleanup)."""
    del client
    with TestClient(create_app(settings), raise_server_exceptions=False) as bare:
        yield bare


def new_key(client: TestClient, scope: str) -> tuple[str, str]:
    name = f"{scope}-{uuid.uuid4().hex[:8]}"
    response = client.post(f"{API}/keys", json={"name": name, "scope": scope})
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    assert len(key) >= 32
    assert " " not in key
    return name, key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_401(response: Any) -> None:
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer bik_unknown0000000000000000000000",
     "Bearer not-a-key", "bik_no_scheme_given_here_00000000"],
)  # fmt: skip
def test_writes_without_a_valid_key_are_401(
    anonymous: TestClient, client: TestClient, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    assert_401(
        anonymous.post(f"{API}/sources", json=payload_for(client, "sources"), headers=headers)
    )
    assert client.get(f"{API}/sources").json()["items"] == [], "nothing written"


def test_reads_are_open_but_a_bad_key_is_still_401(anonymous: TestClient) -> None:
    assert anonymous.get(f"{API}/sources").status_code == 200
    assert_401(anonymous.get(f"{API}/sources", headers={"Authorization": "Bearer nope"}))


def test_scopes(client: TestClient, anonymous: TestClient) -> None:
    _, read = new_key(client, "read")
    _, write = new_key(client, "write")
    body = payload_for(client, "sources")
    assert_problem(anonymous.post(f"{API}/sources", json=body, headers=bearer(read)), 403)
    assert anonymous.get(f"{API}/sources", headers=bearer(read)).status_code == 200
    created = anonymous.post(f"{API}/sources", json=body, headers=bearer(write))
    assert created.status_code == 201
    assert_problem(anonymous.get(f"{API}/keys", headers=bearer(write)), 403)
    assert_problem(
        anonymous.post(f"{API}/batch", json={"operations": []}, headers=bearer(read)), 403
    )


def test_revocation_takes_effect_at_once(client: TestClient, anonymous: TestClient) -> None:
    name, key = new_key(client, "write")
    body = payload_for(client, "sources")
    assert anonymous.post(f"{API}/sources", json=body, headers=bearer(key)).status_code == 201
    assert client.delete(f"{API}/keys/{name}").status_code == 204
    again = payload_for(client, "sources")
    assert_401(anonymous.post(f"{API}/sources", json=again, headers=bearer(key)))
    listed = {k["name"]: k for k in client.get(f"{API}/keys").json()["items"]}
    assert listed[name]["revoked_at"] is not None
    assert "key" not in listed[name]
    assert_problem(client.delete(f"{API}/keys/no-such-key"), 404)


def test_reads_can_require_a_key(client: TestClient, settings: Settings) -> None:
    _, read = new_key(client, "read")
    closed = settings.model_copy(update={"reads_require_key": True})
    with TestClient(create_app(closed), raise_server_exceptions=False) as strict:
        assert_401(strict.get(f"{API}/sources"))
        assert strict.get(f"{API}/sources", headers=bearer(read)).status_code == 200
        assert strict.get("/healthz").status_code == 200


def test_the_change_log_names_the_key(client: TestClient, anonymous: TestClient) -> None:
    name, key = new_key(client, "write")
    after = client.get(f"{API}/changes").json()["next_after"]
    anonymous.post(f"{API}/sources", json=payload_for(client, "sources"), headers=bearer(key))
    (change,) = client.get(f"{API}/changes?after={after}").json()["items"]
    assert change["actor"] == name


def test_duplicate_key_names_are_409(client: TestClient) -> None:
    name, _ = new_key(client, "read")
    assert_problem(client.post(f"{API}/keys", json={"name": name, "scope": "read"}), 409)


def test_the_openapi_declares_the_bearer_scheme(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
    assert schema["paths"]["/api/v1/sources"]["post"]["security"]


def test_body_over_the_limit_is_413_with_or_without_content_length(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    small = settings.model_copy(update={"max_body_bytes": 1000})
    big = {**payload_for(client, "sources"), "note": "x" * 2000}
    with TestClient(create_app(small), raise_server_exceptions=False) as limited:
        limited.headers.update(bearer(admin_key))
        declared = assert_problem(limited.post(f"{API}/sources", json=big), 413)

        def chunks() -> Iterator[bytes]:
            raw = __import__("json").dumps(big).encode()
            for start in range(0, len(raw), 100):
                yield raw[start : start + 100]

        chunked = limited.post(
            f"{API}/sources", content=chunks(), headers={"content-type": "application/json"}
        )
        # One problem, whether the size was declared or counted as the body streamed.
        assert assert_problem(chunked, 413) == declared
        assert declared["type"].endswith(":payload-too-large")
        assert (
            limited.post(f"{API}/sources", json=payload_for(client, "sources")).status_code == 201
        )
    assert client.get(f"{API}/sources?count=true").json()["total"] == 1


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(client: TestClient, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = client.post(f"{API}/sources", content=b'{"slug": "x"}', headers=headers)
    assert_problem(response, 415)
    merge = client.patch(
        f"{API}/sources/x", content=b"{}", headers={"content-type": "application/merge-patch+json"}
    )
    assert merge.status_code == 404, "merge-patch+json is JSON"


@pytest.mark.usefixtures("client")
def test_rate_limit_answers_429_with_retry_after(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit": "3/minute"})
    with TestClient(create_app(limited), raise_server_exceptions=False) as app:
        answers = [app.get(f"{API}/sources") for _ in range(5)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        assert 0 < int(answers[3].headers["retry-after"]) <= 60
        assert_problem(answers[3], 429)
        assert app.get("/healthz").status_code == 200, "operations are not limited"


def test_security_headers(client: TestClient) -> None:
    for path in ("/api/v1/sources", "/docs", "/nope"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" in response.headers
    assert "script-src 'self'" in client.get("/docs").headers["content-security-policy"]


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "app.cli", "keys", *args], env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)  # fmt: skip


def test_keys_cli_create_list_revoke(client: TestClient, database_url: str) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    created = _cli("create", "--name", name, "--scope", "write", url=database_url)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("bik_")
    assert " " not in key
    body = payload_for(client, "sources")
    assert client.post(f"{API}/sources", json=body, headers=bearer(key)).status_code == 201
    listed = _cli("list", url=database_url).stdout
    line = next(row for row in listed.splitlines() if row.startswith(name + "\t"))
    assert key not in listed
    assert key[4:16] in line, "the public prefix"
    assert line.split("\t")[2] == "write"
    assert _cli("revoke", name, url=database_url).returncode == 0
    assert_401(
        client.post(f"{API}/sources", json=payload_for(client, "sources"), headers=bearer(key))
    )
