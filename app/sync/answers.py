"""The sync answers as models, over every registered collection: a change names its
`collection`, and that tells which record it carries (a discriminated union, so generated
clients parse each change into its collection's type)."""

from typing import Annotated, Any, Union

from pydantic import BaseModel, Field

from app.market.registry import SPECS
from app.problems import ProblemDetails
from app.resources.answers import AnyRecord, change_model

Change: Any = Annotated[
    Union[tuple(change_model(spec) for spec in SPECS)],  # noqa: UP007 - a union built at runtime
    Field(discriminator="collection"),
]


class ChangesPage(BaseModel):
    items: list[Change] = Field(description="Oldest first.")
    next_after: int = Field(description="Pass as `after` for the next answer; the head at least.")


class BatchResult(BaseModel):
    status: int = Field(description="The status the same request alone would have got.")
    body: AnyRecord | None = Field(
        None,
        description="What it wrote, as its collection's GET shows it (the operation at the "
        "same index names the collection); absent for a delete (204) and a problem.",
    )
    problem: ProblemDetails | None = Field(None, description="Why it failed; absent on success.")


class BatchAnswer(BaseModel):
    results: list[BatchResult] = Field(description="One per operation, in their order.")
    dry_run: bool = Field(False, description="Present (true) when nothing was applied.")


class BatchFailure(ProblemDetails):
    """A failed atomic batch: nothing was applied; each operation's result says why."""

    results: list[BatchResult] = Field(
        description="One per operation; those after the failure are 424, never tried."
    )


# A refusal before any operation ran (a reused Idempotency-Key, an invalid body) carries
# no `results`; a client tells the two apart by that field.
BatchRefusal: Any = BatchFailure | ProblemDetails
