"""IDs as Appwrite validates and generates them (utopia Key / UID / CustomId validators)."""

from __future__ import annotations

import os
import re
import time

from .errors import invalid_argument

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$")
ID_RULE = (
    "Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, "
    "and underscore. Can't start with a special char"
)


def unique_id() -> str:
    """20 hex chars: 13 of the timestamp in microseconds-ish plus 7 random, like the SDKs' ID.unique()."""
    now = time.time()
    sec = int(now)
    usec = int((now - sec) * 1_000_000)
    return f"{sec:08x}{usec:05x}" + os.urandom(4).hex()[:7]


def is_valid_key(value: object) -> bool:
    return isinstance(value, str) and bool(_KEY.match(value))


def custom_id(value: object, param: str) -> str:
    """A client-chosen ID, or a generated one for the literal 'unique()'."""
    if value == "unique()":
        return unique_id()
    if not is_valid_key(value):
        raise invalid_argument(param, ID_RULE)
    return value  # type: ignore[return-value]


def uid(value: object, param: str) -> str:
    """An ID in a path or a reference: the same rule, without 'unique()'."""
    if not is_valid_key(value):
        raise invalid_argument(param, ID_RULE)
    return value  # type: ignore[return-value]
