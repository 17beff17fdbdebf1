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


def set_function_variable(admin, function_id: str, key: str, value: str, secret: bool = True) -> None:
    """Function variables are how secrets reach a function in Appwrite (a change restarts its workers)."""
    from appwrite.id import ID
    from appwrite.services.functions import Functions

    functions = Functions(admin)
    existing = [v for v in functions.list_variables(function_id).variables if v.key == key]
    if existing:
        functions.update_variable(function_id, existing[0].id, key, value, secret=secret)
    else:
        functions.create_variable(function_id, ID.unique(), key, value, secret=secret)
