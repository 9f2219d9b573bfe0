"""Who is writing: the name the change log records (API.md §7)."""

from typing import Annotated

from fastapi import Depends, Request

ANONYMOUS = "anonymous"  # until API keys exist; then the key's name
CLI = "cli"
SYSTEM = "system"


def current_actor(request: Request) -> str:
    actor: str = getattr(request.state, "actor", ANONYMOUS)
    return actor


Actor = Annotated[str, Depends(current_actor)]
