"""Healthcare identifiers for the UK and Australia: pure checks that normalise a value or say what is wrong.

Every `normalise_*` returns the canonical stored form or raises `InvalidIdentifier` with a message a person can
act on. Rules and test vectors: ../shared/reference/identifiers-and-rules.md (sections 1-7 and 10)."""

from __future__ import annotations


class InvalidIdentifier(ValueError):
    """A value that is not a well-formed identifier of the kind asked for."""


def compact(value: object, *, keep: str = "") -> str:
    """Upper-case text with spaces and hyphens removed (characters in `keep` are kept)."""
    if not isinstance(value, str):
        raise InvalidIdentifier("must be text")
    drop = {" ", "-", "\t"} - set(keep)
    return "".join(ch for ch in value.strip().upper() if ch not in drop)
