"""Adding a collection is one module, one line of registration and one table (README,
Layout): a throwaway eighth collection gets every operation without a change to the machine.

It runs in a process of its own, so that its table and registration do not leak into this
session's schema (which `alembic check` and the other tests compare against)."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.access.keys import Scope, create_key
from app.db import get_engine, write_session
from app.schema import upgrade
from tests.conftest import fresh_database

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def recipe_url(tmp_path: Path) -> Iterator[str]:
    yield from fresh_database(tmp_path, "recipe")


def test_a_new_collection_needs_no_change_to_the_machine(recipe_url: str) -> None:
    upgrade(recipe_url)
    with write_session(get_engine(recipe_url)) as session:
        _, key = create_key(session, "recipe-admin", Scope.admin)
    get_engine(recipe_url).dispose()
    done = subprocess.run(
        [sys.executable, "-m", "tests.recipe.check", recipe_url, key],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert "the machine served the eighth collection" in done.stdout
