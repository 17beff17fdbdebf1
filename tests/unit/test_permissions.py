"""Permission strings and role checks (appwrite_local.permissions)."""

from __future__ import annotations

import pytest

from appwrite_local.errors import AppwriteError
from appwrite_local.permissions import (
    RESOURCE_TYPES,
    ROW_TYPES,
    allows,
    check_grantable,
    default_row_permissions,
    normalise,
    roles_for,
)


def test_write_expands_differently_for_rows_and_tables():
    assert normalise(['write("user:u1")'], ROW_TYPES) == ['update("user:u1")', 'delete("user:u1")']
    assert normalise(['write("team:t1/owner")'], RESOURCE_TYPES) == [
        'create("team:t1/owner")',
        'update("team:t1/owner")',
        'delete("team:t1/owner")',
    ]


def test_duplicates_are_removed_in_order():
    assert normalise(['read("any")', 'read("any")', 'update("users")'], ROW_TYPES) == ['read("any")', 'update("users")']


@pytest.mark.parametrize(
    "permission,fragment",
    [
        ('create("any")', "is not allowed"),
        ('read("*")', 'Use "any" instead'),
        ("read(any)", "is not valid"),
        ('read("nobody")', "is not allowed"),
        ('read("label:has space")', "is not allowed"),
    ],
)
def test_invalid_row_permissions(permission, fragment):
    with pytest.raises(AppwriteError) as info:
        normalise([permission], ROW_TYPES)
    assert info.value.type == "general_argument_invalid" and fragment in info.value.message


def test_roles_and_checks():
    perms = ['read("team:t1")', 'update("team:t1/owner")', 'delete("user:u9")', 'read("label:pharmacist")']
    assert roles_for(perms, "read") == ["team:t1", "label:pharmacist"]
    assert allows(perms, "read", frozenset({"any", "users", "team:t1"}))
    assert not allows(perms, "update", frozenset({"any", "users", "team:t1", "team:t1/staff"}))
    assert allows(perms, "update", frozenset({"team:t1/owner"}))
    assert allows(perms, "read", frozenset({"label:pharmacist"}))


def test_users_may_grant_only_roles_they_hold():
    roles = frozenset({"any", "users", "user:u1"})
    check_grantable(['read("user:u1")', 'read("any")'], roles)
    with pytest.raises(AppwriteError) as info:
        check_grantable(['read("user:u2")'], roles)
    assert info.value.type == "user_unauthorized" and info.value.code == 401


def test_default_permissions():
    assert default_row_permissions("u1") == ['read("user:u1")', 'update("user:u1")', 'delete("user:u1")']
    assert default_row_permissions("") == []
