"""Small helpers for tests that use the official Python SDK."""

from __future__ import annotations

from typing import Any

import pytest
from appwrite.exception import AppwriteException


def val(value: Any) -> Any:
    """The SDK returns some fields as enums and others as plain strings; compare their values."""
    return getattr(value, "value", value)


def error_of(call, *args, **kwargs) -> AppwriteException:
    """Run an SDK call that must fail and return its AppwriteException."""
    with pytest.raises(AppwriteException) as info:
        call(*args, **kwargs)
    return info.value
