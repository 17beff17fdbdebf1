"""Column types: how each is declared, validated, stored in SQLite and returned (pure).

The create route's type (`varchar`, `email`, `float`, ...) is kept as `kind`; the response reports
Appwrite's `type`/`format` pair (email -> type "string" + format "email", float -> "double").
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from .clock import format_datetime, parse_datetime
from .errors import AppwriteError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT_MAX = 1.7976931348623157e308

TEXT_LIMITS = {"text": 65535, "mediumtext": 16777215, "longtext": 4294967295}
FORMAT_SIZES = {"email": 254, "url": 2000, "ip": 39}
STRING_KINDS = {"string", "varchar", "text", "mediumtext", "longtext", "email", "enum", "url", "ip"}
INTEGER_KINDS = {"integer", "bigint"}
ALL_KINDS = STRING_KINDS | INTEGER_KINDS | {"float", "boolean", "datetime"}
# Types Appwrite has that this server does not store (documented in docs/local-server.md).
UNSUPPORTED_KINDS = {"point", "line", "polygon", "relationship", "vector", "object"}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@lru_cache(maxsize=4096)
def _stored_datetime(value: str) -> str:
    """The stored form of a datetime value; remembered, as a bulk write often repeats one timestamp in every row."""
    return format_datetime(parse_datetime(value))


PLAIN_TEXT_KINDS = {"string", "varchar", "text", "mediumtext", "longtext"}


def value_checker(column: Column) -> Callable[[Any], Any]:
    """`column.check_value`, with the common cases decided first (a text within its size, a finite float, a
    datetime): a bulk write checks every column of every row. Anything else takes the full check."""
    full = column.check_value
    if column.array:
        return full
    if column.kind in PLAIN_TEXT_KINDS:
        limit = math.inf if column.max_length is None else column.max_length

        def text(value: Any) -> Any:
            return value if type(value) is str and len(value) <= limit else full(value)

        return text
    if column.kind == "float":
        low = column.min if column.min is not None else -FLOAT_MAX
        high = column.max if column.max is not None else FLOAT_MAX

        def number(value: Any) -> Any:
            return value if type(value) is float and low <= value <= high else full(value)  # NaN fails both

        return number
    if column.kind == "datetime":

        def moment(value: Any) -> Any:
            if type(value) is str:
                try:
                    return _stored_datetime(value)
                except (ValueError, TypeError, OverflowError):
                    pass
            return full(value)

        return moment
    return full


@dataclass
class Column:
    key: str
    kind: str
    required: bool = False
    array: bool = False
    size: int | None = None
    default: Any = None
    min: float | int | None = None
    max: float | int | None = None
    elements: list[str] = field(default_factory=list)
    status: str = "available"
    error: str = ""
    created: str = ""
    updated: str = ""
    description: str = ""

    # --- declaration -------------------------------------------------------------------------------------------
    @property
    def sql_type(self) -> str:
        if self.array:
            return "TEXT"
        if self.kind in INTEGER_KINDS or self.kind == "boolean":
            return "INTEGER"
        if self.kind == "float":
            return "REAL"
        return "TEXT"

    @property
    def max_length(self) -> int | None:
        if self.kind in ("string", "varchar", "enum"):
            return self.size
        if self.kind in TEXT_LIMITS:
            return TEXT_LIMITS[self.kind]
        if self.kind in FORMAT_SIZES:
            return FORMAT_SIZES[self.kind]
        return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "description": self.description}
        if self.kind in ("email", "url", "ip", "enum"):
            out["type"] = "string"
            out["format"] = self.kind
        elif self.kind == "float":
            out["type"] = "double"
        else:
            out["type"] = self.kind
        out.update(
            {
                "status": self.status,
                "error": self.error,
                "required": self.required,
                "array": self.array,
                "$createdAt": self.created,
                "$updatedAt": self.updated,
            }
        )
        if self.kind in ("string", "varchar"):
            out["size"] = self.size
            out["encrypt"] = False
        elif self.kind in TEXT_LIMITS:
            out["encrypt"] = False
        elif self.kind in FORMAT_SIZES:
            out["size"] = FORMAT_SIZES[self.kind]
        elif self.kind == "enum":
            out["elements"] = list(self.elements)
            out["size"] = self.size
        elif self.kind in INTEGER_KINDS or self.kind == "float":
            # Appwrite stores the type's own bounds when none are given, and answers with them.
            integer = self.kind in INTEGER_KINDS
            out["min"] = self.min if self.min is not None else (INT64_MIN if integer else -FLOAT_MAX)
            out["max"] = self.max if self.max is not None else (INT64_MAX if integer else FLOAT_MAX)
        elif self.kind == "datetime":
            out["format"] = "datetime"
        out["default"] = self.default
        return out

    def to_record(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "required": self.required,
            "array": self.array,
            "size": self.size,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "elements": self.elements,
            "status": self.status,
            "error": self.error,
            "created": self.created,
            "updated": self.updated,
            "description": self.description,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Column:
        return cls(**record)

    # --- values --------------------------------------------------------------------------------------------------
    def check_value(self, value: Any) -> Any:
        """Validate a client value and return what SQLite stores; raises ValueError(reason)."""
        if self.array:
            if not isinstance(value, list):
                raise ValueError("Value must be an array")
            return json.dumps([self._check_scalar(item) for item in value], separators=(",", ":"))
        stored = self._check_scalar(value)
        if self.kind == "boolean":
            return 1 if stored else 0
        return stored

    def _check_scalar(self, value: Any) -> Any:
        kind = self.kind
        if kind in STRING_KINDS:
            if not isinstance(value, str):
                raise ValueError(self._type_message())
            limit = self.max_length
            if limit is not None and len(value) > limit:
                raise ValueError(self._type_message())
            if kind == "email" and not _EMAIL.match(value):
                raise ValueError("Value must be a valid email address")
            if kind == "enum" and value not in self.elements:
                raise ValueError(f"Value must be one of ({', '.join(self.elements)})")
            if kind == "url" and not _is_url(value):
                raise ValueError("Value must be a valid URL")
            if kind == "ip" and not _is_ip(value):
                raise ValueError("Value must be a valid IP address")
            return value
        if kind in INTEGER_KINDS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(self._range_message("integer"))
            if not self._in_range(value):
                raise ValueError(self._range_message("integer"))
            return value
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(self._range_message("float"))
            if not self._in_range(value):
                raise ValueError(self._range_message("float"))
            return float(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError("Value must be a valid boolean")
            return value
        if kind == "datetime":
            try:
                return _stored_datetime(value)
            except (ValueError, TypeError, OverflowError):
                raise ValueError(
                    "Value must be valid date between 0000-01-01 00:00:00 and 9999-12-31 23:59:59."
                ) from None
        raise ValueError("Unsupported column type")

    def _in_range(self, value: int | float) -> bool:
        low = self.min if self.min is not None else (INT64_MIN if self.kind in INTEGER_KINDS else -FLOAT_MAX)
        high = self.max if self.max is not None else (INT64_MAX if self.kind in INTEGER_KINDS else FLOAT_MAX)
        return low <= value <= high

    def _type_message(self) -> str:
        limit = self.max_length
        return (
            f"Value must be a valid string and no longer than {limit} chars"
            if limit
            else "Value must be a valid string"
        )

    def _range_message(self, what: str) -> str:
        low = self.min if self.min is not None else (INT64_MIN if self.kind in INTEGER_KINDS else -FLOAT_MAX)
        high = self.max if self.max is not None else (INT64_MAX if self.kind in INTEGER_KINDS else FLOAT_MAX)
        return f"Value must be a valid range between {_num(low)} and {_num(high)}"

    def from_sql(self, value: Any) -> Any:
        if value is None:
            return [] if self.array else None
        if self.array:
            return json.loads(value)
        if self.kind == "boolean":
            return bool(value)
        if self.kind == "float":
            return float(value)
        return value


def _num(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _is_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https", "ftp", "ftps") and bool(parsed.netloc)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def structure_error(message: str) -> AppwriteError:
    return AppwriteError("row_invalid_structure", f"Invalid document structure: {message}")
