"""Who is writing: the name the change log records (API.md §7)."""

from typing import Annotated

from fastapi import Depends, Request

ANONYMOUS = "anonymous"  # no key was sent (writes always need one, so reads only)
CLI = "cli"  # imports and other commands run from the command line
SYSTEM = "system"  # the demo data


def current_actor(request: Request) -> str:
    """The name of the API key that `app.access.guard` accepted for this request."""
    actor: str = getattr(request.state, "actor", ANONYMOUS)
    return actor


Actor = Annotated[str, Depends(current_actor)]
