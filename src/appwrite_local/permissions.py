"""Appwrite permission strings and roles, pure (utopia-php/database Permission, Roles validator).

A permission is `<type>("<role>")`. Row and file permissions allow read/update/delete/write; table and
bucket permissions also allow create. `write` aggregates to update+delete (rows, files) or
create+update+delete (tables, buckets).
"""

from __future__ import annotations

import re

from .errors import AppwriteError

_PERMISSION = re.compile(r'^(\w+)\("([^"]+)"\)$')
RESOURCE_TYPES = ("read", "create", "update", "delete", "write")
ROW_TYPES = ("read", "update", "delete", "write")
MAX_PERMISSIONS = 100

_ROLE = re.compile(
    r"^(any|guests|users(/(verified|unverified))?|user:[A-Za-z0-9][A-Za-z0-9._-]{0,35}(/(verified|unverified))?"
    r"|team:[A-Za-z0-9][A-Za-z0-9._-]{0,35}(/[A-Za-z0-9._-]{1,81})?|member:[A-Za-z0-9][A-Za-z0-9._-]{0,35}"
    r"|label:[A-Za-z0-9]{1,36})$"
)


def parse(permission: str) -> tuple[str, str]:
    match = _PERMISSION.match(permission) if isinstance(permission, str) else None
    if not match:
        raise AppwriteError(
            "general_argument_invalid", f'Invalid `permissions` param: Permission "{permission}" is not valid.'
        )
    return match.group(1), match.group(2)


def normalise(permissions: object, allowed_types: tuple[str, ...]) -> list[str]:
    """Validate a client's permission list and expand `write`; duplicates removed, order kept."""
    if not isinstance(permissions, list):
        raise AppwriteError("general_argument_invalid", "Invalid `permissions` param: Value must a valid array")
    if len(permissions) > MAX_PERMISSIONS:
        raise AppwriteError(
            "general_argument_invalid",
            f"Invalid `permissions` param: Value must a valid array no longer than {MAX_PERMISSIONS} items",
        )
    out: list[str] = []
    for item in permissions:
        ptype, role = parse(item)
        if role == "*":
            raise AppwriteError(
                "general_argument_invalid",
                'Invalid `permissions` param: Wildcard permission "*" has been replaced. Use "any" instead.',
            )
        if ptype not in allowed_types:
            raise AppwriteError(
                "general_argument_invalid",
                f'Invalid `permissions` param: Permission "{item}" is not allowed. '
                f"Must be one of: {', '.join(allowed_types)}.",
            )
        if not _ROLE.match(role):
            raise AppwriteError(
                "general_argument_invalid", f'Invalid `permissions` param: Role "{role}" is not allowed.'
            )
        if ptype == "write":
            expanded = ["create", "update", "delete"] if "create" in allowed_types else ["update", "delete"]
        else:
            expanded = [ptype]
        for t in expanded:
            text = f'{t}("{role}")'
            if text not in out:
                out.append(text)
    return out


def roles_for(permissions: list[str], ptype: str) -> list[str]:
    """The roles granted `ptype` by a normalised permission list."""
    out = []
    for item in permissions:
        t, role = parse(item)
        if t == ptype or (t == "write" and ptype in ("create", "update", "delete")):
            out.append(role)
    return out


def allows(permissions: list[str], ptype: str, roles: frozenset[str]) -> bool:
    return any(role in roles for role in roles_for(permissions, ptype))


def check_grantable(permissions: list[str], roles: frozenset[str]) -> None:
    """A non-key caller may only grant roles it holds itself (Appwrite: 'Permissions must be one of')."""
    for item in permissions:
        _, role = parse(item)
        if role not in roles:
            listed = ", ".join(sorted(r for r in roles))
            raise AppwriteError("user_unauthorized", f"Permissions must be one of: ({listed})")


def default_row_permissions(user_id: str | None) -> list[str]:
    """Rows and files created by a user default to that user's read/update/delete; by a key, to none."""
    if not user_id:
        return []
    return [f'{t}("user:{user_id}")' for t in ("read", "update", "delete")]
