"""ETags and conditional requests: `"<version>"`, If-Match and If-None-Match (RFC 9110 §13)."""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.problems import BadRequest, PreconditionFailed


def etag(version: int, embedded: Sequence[tuple[str, dict[str, Any] | None]] = ()) -> str:
    """`"3"`: the record's version. With embedded records (`include=`) the tag also names
    each one's id and version, hashed: `"3-5c2e…"`, so that it changes when any does."""
    if not embedded:
        return f'"{version}"'
    parts = [f"{name}={item['id']}@{item['version']}" if item else f"{name}=-"
             for name, item in embedded]  # fmt: skip
    digest = hashlib.sha256(";".join(parts).encode()).hexdigest()[:16]
    return f'"{version}-{digest}"'


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

    def not_modified(self, tag: str) -> bool:
        """For GET: the client's copy, whose entity tag is `tag`, is current (answer 304).
        If-None-Match compares weakly: `W/"3"` matches `"3"` (RFC 9110 §13.1.2)."""
        if self.if_none_match is None:
            return False
        tags = {given.removeprefix("W/") for given in self.if_none_match}
        return "*" in tags or tag in tags
