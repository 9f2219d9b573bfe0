"""ETags and conditional requests: `"<version>"`, If-Match and If-None-Match (RFC 9110 §13)."""

import re
from dataclasses import dataclass

from app.problems import BadRequest, PreconditionFailed


def etag(version: int) -> str:
    return f'"{version}"'


# RFC 9110 §8.8.3: an entity-tag is an optionally weak quoted string.
_TAG = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')


def _tags(header: str | None, name: str) -> frozenset[str] | None:
    """The entity tags in a header, weak ones kept as `W/"3"`; `*` stands alone."""
    if header is None:
        return None
    tags = frozenset(tag.strip() for tag in header.split(","))
    if tags != {"*"} and not all(_TAG.fullmatch(tag) for tag in tags):
        raise BadRequest.on(
            f"header.{name}",
            "malformed entity tag list",
            f'{name}: expected "*" or a list of entity tags such as "3".',
        )
    return tags


@dataclass(frozen=True)
class Conditions:
    if_match: frozenset[str] | None = None
    if_none_match: frozenset[str] | None = None

    @classmethod
    def parse(cls, if_match: str | None, if_none_match: str | None) -> "Conditions":
        return cls(_tags(if_match, "If-Match"), _tags(if_none_match, "If-None-Match"))

    def check_write(self, version: int | None) -> None:
        """Raise 412 unless a write may go ahead; `version` is None when no record exists."""
        # If-Match compares strongly: a weak tag never matches (RFC 9110 §13.1.1).
        if self.if_match is not None and (
            version is None or ("*" not in self.if_match and etag(version) not in self.if_match)
        ):
            current = "no record" if version is None else f"the current version is {etag(version)}"
            raise PreconditionFailed(
                f"If-Match does not match: {current}.", current_version=version
            )
        if (
            self.if_none_match is not None
            and version is not None
            and ("*" in self.if_none_match or etag(version) in self.if_none_match)
        ):
            raise PreconditionFailed(
                "If-None-Match: the record already exists; nothing was changed.",
                current_version=version,
            )

    def not_modified(self, version: int) -> bool:
        """For GET: the client's copy is current (answer 304)."""
        return self.if_none_match is not None and self._none_match(version)

    def _none_match(self, version: int) -> bool:
        """If-None-Match compares weakly: `W/"3"` matches version 3 (RFC 9110 §13.1.2)."""
        tags = {tag.removeprefix("W/") for tag in self.if_none_match or ()}
        return "*" in tags or etag(version) in tags
