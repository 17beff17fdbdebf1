"""The SDK's Query language compiled to SQL (pure; no database access here).

Each query arrives as a JSON string `{"method", "attribute", "values"}`. Filters become a WHERE clause with
bound parameters; `select`, orders, limit/offset and cursors are returned separately for the caller that
builds the statement. Semantics follow utopia-php/database's SQL adapter (appwrite-api.md section 4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from .clock import format_datetime, parse_datetime

MAX_QUERIES = 100
MAX_QUERY_LENGTH = 4096
PHP_INT_MAX = 2**63 - 1  # Appwrite's bound on limit and offset, and SQLite's largest integer
MAX_NESTING = 10  # and/or inside and/or; deeper is refused rather than recursed into
MAX_VALUES = 500

FILTERS = {
    "equal",
    "notEqual",
    "lessThan",
    "lessThanEqual",
    "greaterThan",
    "greaterThanEqual",
    "between",
    "notBetween",
    "isNull",
    "isNotNull",
    "startsWith",
    "notStartsWith",
    "endsWith",
    "notEndsWith",
    "contains",
    "notContains",
    "containsAny",
    "containsAll",
    "search",
    "notSearch",
    "and",
    "or",
}
OTHERS = {"select", "orderAsc", "orderDesc", "orderRandom", "limit", "offset", "cursorAfter", "cursorBefore"}
ARRAY_METHODS = {"contains", "notContains", "containsAny", "containsAll", "isNull", "isNotNull"}
_COMPARE = {"lessThan": "<", "lessThanEqual": "<=", "greaterThan": ">", "greaterThanEqual": ">="}
_FTS_SPECIAL = re.compile(r'[@+\-*()<>~"]')


class QueryError(ValueError):
    """An invalid query; the caller wraps it in general_query_invalid or general_argument_invalid."""


@dataclass(frozen=True)
class Attr:
    sql: str  # SQL expression for the column
    kind: str  # string | integer | float | boolean | datetime
    array: bool = False
    fts: str | None = None  # FTS5 table when a fulltext index covers exactly this column


@dataclass
class Compiled:
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    orders: list[tuple[str, bool]] = field(default_factory=list)  # (attribute, descending)
    random: bool = False
    limit: int | None = None
    offset: int | None = None
    cursor: tuple[str, str] | None = None  # ("after"|"before", row id)
    select: list[str] | None = None

    def where_sql(self) -> str:
        return " AND ".join(self.where) if self.where else "1"


def parse(raw_queries: Any) -> list[dict[str, Any]]:
    if raw_queries is None:
        return []
    if isinstance(raw_queries, dict):  # PHP-style queries[0]= arrives as a dict when indices have gaps
        raw_queries = [raw_queries[k] for k in sorted(raw_queries, key=_index_key)]
    if not isinstance(raw_queries, list):
        raise QueryError("Value must a valid array")
    if len(raw_queries) > MAX_QUERIES:
        raise QueryError(f"Value must a valid array no longer than {MAX_QUERIES} items")
    out = []
    for raw in raw_queries:
        if isinstance(raw, str):
            if len(raw) > MAX_QUERY_LENGTH:
                raise QueryError(f"Invalid query: Query is longer than {MAX_QUERY_LENGTH} characters")
            try:
                # orjson, not json: it refuses lone surrogates (SQLite cannot store them) and bounds the depth.
                query = orjson.loads(raw)
            except ValueError:
                raise QueryError("Invalid query: Syntax error") from None
        else:
            query = raw
        out.append(_shape(query))
    return out


def _index_key(key: str) -> tuple[int, str]:
    return (int(key), "") if str(key).isdigit() else (1 << 30, str(key))


def _shape(query: Any, depth: int = 0) -> dict[str, Any]:
    if depth > MAX_NESTING:
        raise QueryError(f"Invalid query: and/or queries may nest at most {MAX_NESTING} deep")
    if not isinstance(query, dict) or not isinstance(query.get("method"), str):
        raise QueryError("Invalid query: Syntax error")
    method = query["method"]
    if method not in FILTERS and method not in OTHERS:
        raise QueryError(f"Invalid query method: {method}")
    attribute = query.get("attribute", "")
    values = query.get("values", [])
    if not isinstance(attribute, str) or not isinstance(values, list):
        raise QueryError("Invalid query: Syntax error")
    if method in ("and", "or"):
        values = [_shape(v, depth + 1) for v in values]
    return {"method": method, "attribute": attribute, "values": values}


def compile_queries(queries: list[dict[str, Any]], attrs: dict[str, Attr]) -> Compiled:
    """Validate queries against the attributes and compile them. Raises QueryError."""
    out = Compiled()
    for query in queries:
        method, values = query["method"], query["values"]
        if method in FILTERS:
            sql, params = _filter(query, attrs)
            out.where.append(sql)
            out.params.extend(params)
        elif method == "select":
            if not values or not all(isinstance(v, str) for v in values):
                raise QueryError("Invalid query: Select queries requires at least one value")
            for value in values:
                if value != "*" and not value.startswith("$") and value.split(".")[0] not in attrs:
                    raise QueryError(f"Invalid query: Attribute not found in schema: {value}")
            out.select = (out.select or []) + values
        elif method in ("orderAsc", "orderDesc"):
            attribute = query["attribute"] or "$sequence"
            if attribute not in attrs:
                raise QueryError(f"Invalid query: Attribute not found in schema: {attribute}")
            if attrs[attribute].array:
                raise QueryError(f'Invalid query: Cannot order by array attribute "{attribute}"')
            out.orders.append((attribute, method == "orderDesc"))
        elif method == "orderRandom":
            out.random = True
        elif method in ("limit", "offset"):
            value = values[0] if len(values) == 1 else None
            minimum = 1 if method == "limit" else 0
            if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= PHP_INT_MAX:
                what = "Invalid limit" if method == "limit" else "Invalid offset"
                raise QueryError(
                    f"Invalid query: {what}: Value must be a valid range between "
                    f"{minimum:,} and 9,223,372,036,854,775,807"
                )
            setattr(out, method, value)
        elif method in ("cursorAfter", "cursorBefore"):
            value = values[0] if len(values) == 1 else None
            if not isinstance(value, str) or not value:
                raise QueryError("Invalid query: Cursor must be a valid row ID")
            out.cursor = ("after" if method == "cursorAfter" else "before", value)
    if out.random and out.orders:
        raise QueryError("Invalid query: Cannot combine random order with other orders")
    return out


def _attr(attribute: str, attrs: dict[str, Attr]) -> Attr:
    attr = attrs.get(attribute)
    if attr is None:
        raise QueryError(f"Invalid query: Attribute not found in schema: {attribute}")
    return attr


def _filter(query: dict[str, Any], attrs: dict[str, Attr]) -> tuple[str, list[Any]]:
    method, attribute, values = query["method"], query["attribute"], query["values"]
    if method in ("and", "or"):
        if len(values) < 2:
            raise QueryError(f"Invalid query: {method.capitalize()} queries require at least two queries")
        parts, params = [], []
        for sub in values:
            if sub["method"] not in FILTERS:
                raise QueryError(f"Invalid query: {method.capitalize()} queries can only contain filter queries")
            sql, sub_params = _filter(sub, attrs)
            parts.append(sql)
            params.extend(sub_params)
        return "(" + f" {method.upper()} ".join(parts) + ")", params

    attr = _attr(attribute, attrs)
    if len(values) > MAX_VALUES:
        raise QueryError(f"Invalid query: Query on attribute has greater than {MAX_VALUES} values: {attribute}")
    if attr.array and method not in ARRAY_METHODS:
        raise QueryError(f'Invalid query: Cannot query {method} on attribute "{attribute}" because it is an array.')
    col = attr.sql

    if method in ("isNull", "isNotNull"):
        if attr.array:
            return (
                f"({col} IS NULL OR {col} = '[]')" if method == "isNull" else f"({col} IS NOT NULL AND {col} != '[]')"
            ), []
        return f"{col} IS {'NOT ' if method == 'isNotNull' else ''}NULL", []

    if method in ("search", "notSearch"):
        if attr.fts is None:
            raise QueryError(f'Invalid query: Searching by attribute "{attribute}" requires a fulltext index.')
        text = _one(values, attribute, attr, expect="string")
        match = fulltext_expression(text)
        if not match:
            return ("0" if method == "search" else "1"), []
        negate = "NOT " if method == "notSearch" else ""
        return f'_seq {negate}IN (SELECT rowid FROM "{attr.fts}" WHERE "{attr.fts}" MATCH ?)', [match]

    if method in ("contains", "notContains", "containsAny", "containsAll"):
        if not values:
            raise QueryError(f"Invalid query: {method} queries require at least one value.")
        checked = [_value(v, attribute, attr) for v in values]
        if attr.array:
            if method == "containsAll":
                parts = [f"EXISTS (SELECT 1 FROM json_each({col}) WHERE json_each.value = ?)" for _ in checked]
                return "(" + " AND ".join(parts) + ")", checked
            marks = ",".join("?" * len(checked))
            negate = "NOT " if method == "notContains" else ""
            return f"{negate}EXISTS (SELECT 1 FROM json_each({col}) WHERE json_each.value IN ({marks}))", checked
        if attr.kind != "string" or method in ("containsAny", "containsAll"):
            raise QueryError(
                f'Invalid query: Cannot query {method} on attribute "{attribute}" since it is not an array or string.'
            )
        joiner, test = (" AND ", "instr({c}, ?) = 0") if method == "notContains" else (" OR ", "instr({c}, ?) > 0")
        return "(" + joiner.join(test.format(c=col) for _ in checked) + ")", checked

    if method in ("startsWith", "notStartsWith", "endsWith", "notEndsWith"):
        if attr.kind != "string":
            raise QueryError(
                f'Invalid query: Cannot query {method} on attribute "{attribute}" since it is not a string.'
            )
        text = _one(values, attribute, attr, expect="string")
        if method.endswith("tartsWith"):
            # The range test lets SQLite use an index on the column; substr() keeps it exact.
            sql = f"({col} >= ? AND {col} < ? AND substr({col}, 1, ?) = ?)"
            params = [text, text + "\U0010ffff", len(text), text]
        else:
            sql = f"substr({col}, -?) = ?" if text else "1"
            params = [len(text), text] if text else []
        if method.startswith("not"):
            sql = f"({col} IS NOT NULL AND NOT {sql})"
        return sql, params

    if method == "equal":
        if not values:
            raise QueryError("Invalid query: Equal queries require at least one value.")
        checked = [_value(v, attribute, attr) for v in values]
        if len(checked) == 1:
            return f"{col} = ?", checked
        return f"{col} IN ({','.join('?' * len(checked))})", checked
    if method == "notEqual":
        value = _one(values, attribute, attr)
        return f"{col} != ?", [value]
    if method in _COMPARE:
        value = _one(values, attribute, attr)
        return f"{col} {_COMPARE[method]} ?", [value]
    if method in ("between", "notBetween"):
        if len(values) != 2:
            raise QueryError(f"Invalid query: {method} queries require exactly two values.")
        low, high = (_value(v, attribute, attr) for v in values)
        return f"{col} {'NOT ' if method == 'notBetween' else ''}BETWEEN ? AND ?", [low, high]
    raise QueryError(f"Invalid query method: {method}")


def _one(values: list[Any], attribute: str, attr: Attr, expect: str | None = None) -> Any:
    if len(values) != 1:
        raise QueryError(f'Invalid query: Query on attribute "{attribute}" requires exactly one value.')
    return _value(values[0], attribute, attr)


def _value(value: Any, attribute: str, attr: Attr) -> Any:
    """Check a query value against the attribute type and convert it to what SQLite stores."""
    kind = attr.kind
    ok = True
    if kind == "string":
        ok = isinstance(value, str)
    elif kind == "integer":
        if isinstance(value, str) and value.lstrip("-").isdigit() and attribute == "$sequence":
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool) and -PHP_INT_MAX - 1 <= value <= PHP_INT_MAX
    elif kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and isinstance(value, int) and not -PHP_INT_MAX - 1 <= value <= PHP_INT_MAX:
            value = float(value)  # SQLite binds no integer wider than 64 bits; as a float it compares correctly
    elif kind == "boolean":
        ok = isinstance(value, bool)
        if ok:
            value = 1 if value else 0
    elif kind == "datetime":
        try:
            value = format_datetime(parse_datetime(value))
        except (ValueError, TypeError, OverflowError):
            ok = False
    if not ok:
        raise QueryError(f'Invalid query: Query value is invalid for attribute "{attribute}"')
    return value


def fulltext_expression(text: str) -> str:
    """MariaDB boolean-mode search as Appwrite sends it: any of the words, the last one as a prefix."""
    exact = len(text) > 1 and text.startswith('"') and text.endswith('"')
    words = _FTS_SPECIAL.sub(" ", text).split()
    if not words:
        return ""
    quoted = ['"' + w + '"' for w in words]
    if exact:
        return '"' + " ".join(words) + '"'
    quoted[-1] += "*"
    return " OR ".join(quoted)
