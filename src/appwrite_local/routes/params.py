"""Appwrite's validators for the account parameters shared by several services."""

from __future__ import annotations

import re

from ..api import Ctx
from ..errors import invalid_argument

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+[1-9]\d{5,14}$")


def email_param(ctx: Ctx, name: str = "email", required: bool = False) -> str | None:
    value = ctx.raw(name) if required else ctx.raw(name, None)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 254 or not EMAIL.match(value):
        raise invalid_argument(name, "Value must be a valid email address")
    return value.lower()


def phone_param(ctx: Ctx, name: str = "phone", required: bool = False) -> str | None:
    value = ctx.raw(name) if required else ctx.raw(name, None)
    if value is None:
        return None
    if not isinstance(value, str) or not PHONE.match(value):
        raise invalid_argument(name, "Phone number must start with a '+' can have a maximum of fifteen digits.")
    return value


def password_param(ctx: Ctx, name: str = "password", required: bool = True) -> str | None:
    value = ctx.raw(name) if required else ctx.raw(name, None)
    if value is None:
        return None
    if not isinstance(value, str) or not 8 <= len(value) <= 256:
        raise invalid_argument(name, "Password must be between 8 and 256 characters long.")
    return value
