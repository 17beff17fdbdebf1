"""Deterministic row ids, the platform's way of making a retried or racing write collide instead of duplicating."""

from __future__ import annotations

import hashlib


def derived_id(*parts: object) -> str:
    """A deterministic row id: the first 32 hex characters of SHA-256 over the parts joined by ":". Racing writers
    of the same thing derive the same id, so the second create conflicts instead of writing a twin."""
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:32]
