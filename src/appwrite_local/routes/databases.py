"""TablesDB and legacy Databases: databases, tables (collections), columns (attributes), indexes."""

from __future__ import annotations

import json
from typing import Any

from ..api import Ctx, RouteTable, json_response, list_response, no_content
from ..catalog import Index, TableSchema, database_json
from ..columns import ALL_KINDS, FORMAT_SIZES, INT64_MAX, INT64_MIN, INTEGER_KINDS, UNSUPPORTED_KINDS, Column
from ..errors import AppwriteError, invalid_argument
from ..ids import ID_RULE, is_valid_key
from ..listing import ListSpec
from ..permissions import RESOURCE_TYPES, normalise
from ..queries import Attr
from .flavour import LEGACY, TABLESDB, Flavour

routes = RouteTable()

DATABASE_ATTRS = {
    "$id": Attr("id", "string"),
    "$createdAt": Attr("created", "datetime"),
    "$updatedAt": Attr("updated", "datetime"),
    "name": Attr("name", "string"),
    "enabled": Attr("enabled", "boolean"),
    "$sequence": Attr("seq", "integer"),
}


def table_attrs(fl: Flavour) -> dict[str, Attr]:
    return {
        "$id": Attr("id", "string"),
        "$createdAt": Attr("created", "datetime"),
        "$updatedAt": Attr("updated", "datetime"),
        "name": Attr("name", "string"),
        "enabled": Attr("enabled", "boolean"),
        fl.row_security: Attr("row_security", "boolean"),
        "$sequence": Attr("seq", "integer"),
    }


_KIND_AS_TYPE = (
    "CASE json_extract(value, '$.kind') WHEN 'float' THEN 'double' WHEN 'email' THEN 'string' "
    "WHEN 'enum' THEN 'string' WHEN 'url' THEN 'string' WHEN 'ip' THEN 'string' "
    "ELSE json_extract(value, '$.kind') END"
)
COLUMN_ATTRS = {
    "key": Attr("json_extract(value, '$.key')", "string"),
    "type": Attr(_KIND_AS_TYPE, "string"),
    "size": Attr("json_extract(value, '$.size')", "integer"),
    "required": Attr("json_extract(value, '$.required')", "boolean"),
    "array": Attr("json_extract(value, '$.array')", "boolean"),
    "status": Attr("json_extract(value, '$.status')", "string"),
    "error": Attr("json_extract(value, '$.error')", "string"),
}
INDEX_ATTRS = {
    "key": Attr("json_extract(value, '$.key')", "string"),
    "type": Attr("json_extract(value, '$.type')", "string"),
    "status": Attr("json_extract(value, '$.status')", "string"),
    "error": Attr("json_extract(value, '$.error')", "string"),
}


# --- lookups used by every database route ------------------------------------------------------------------------
def database_for(ctx: Ctx) -> dict[str, Any]:
    database = ctx.services.catalog.get_database(ctx.p("databaseId"))
    if database is None or (not database["enabled"] and not ctx.principal.is_key):
        raise AppwriteError("database_not_found")
    return database


def table_for(ctx: Ctx, fl: Flavour) -> TableSchema:
    database_for(ctx)
    schema = ctx.services.catalog.get_table(ctx.p("databaseId"), ctx.p(fl.table_param))
    if schema is None or (not schema.enabled and not ctx.principal.is_key):
        raise AppwriteError("table_not_found")
    return schema


def table_json(schema: TableSchema, fl: Flavour) -> dict[str, Any]:
    index_field = "attributes" if fl.legacy else "columns"
    return {
        "$id": schema.id,
        "$createdAt": schema.created,
        "$updatedAt": schema.updated,
        "$permissions": schema.permissions,
        "databaseId": schema.database_id,
        "name": schema.name,
        "enabled": schema.enabled,
        fl.row_security: schema.row_security,
        "description": schema.description,
        fl.columns: [c.to_json() for c in schema.columns.values()],
        "indexes": [i.to_json(index_field) for i in schema.indexes],
        "bytesMax": 0,
        "bytesUsed": 0,
    }


def _permissions(ctx: Ctx) -> list[str] | None:
    raw = ctx.raw("permissions", None)
    return None if raw is None else normalise(ctx.array("permissions"), RESOURCE_TYPES)


def _name(ctx: Ctx, default: Any = ...) -> Any:
    return ctx.text("name", max_len=128, min_len=1) if default is ... else ctx.text("name", default, 128, 1)


# --- column declarations -----------------------------------------------------------------------------------------
def column_from_params(kind: str, params: dict[str, Any], param_key: str = "key") -> Column:
    """Build and validate a Column from a create request (or an inline column of createTable)."""
    if kind in UNSUPPORTED_KINDS:
        raise AppwriteError(
            "general_not_implemented",
            f'Column type "{kind}" is not supported by the local server (see docs/local-server.md).',
        )
    if kind not in ALL_KINDS:
        raise AppwriteError("general_route_not_found")
    key = params.get("key")
    if not is_valid_key(key):
        raise invalid_argument(param_key, ID_RULE)
    required = params.get("required")
    if not isinstance(required, bool):
        required = str(required).lower() == "true" if isinstance(required, str) else None
    if required is None:
        raise AppwriteError("general_argument_invalid", 'Param "required" is not optional.')
    array = params.get("array", False)
    array = array if isinstance(array, bool) else str(array).lower() == "true"
    column = Column(key=key, kind=kind, required=required, array=array)
    if kind in ("string", "varchar"):
        size = params.get("size")
        if isinstance(size, str) and size.isdigit():
            size = int(size)
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1_073_741_824:
            raise invalid_argument("size", "Value must be a valid range between 1 and 1,073,741,824")
        column.size = size
    elif kind == "enum":
        elements = params.get("elements")
        if (
            not isinstance(elements, list)
            or not elements
            or not all(isinstance(e, str) and 0 < len(e) <= 255 for e in elements)
        ):
            raise invalid_argument(
                "elements",
                "Value must a valid array no longer than 100 items and Value must be "
                "a valid string and at least 1 chars and no longer than 255 chars",
            )
        column.elements = list(dict.fromkeys(elements))
        column.size = max(len(e) for e in column.elements)
    elif kind in FORMAT_SIZES:
        column.size = FORMAT_SIZES[kind]
    if kind in INTEGER_KINDS or kind == "float":
        column.min = _number(params.get("min"), "min", kind)
        column.max = _number(params.get("max"), "max", kind)
        if column.min is not None and column.max is not None and column.min > column.max:
            raise AppwriteError("column_value_invalid", "Minimum value must be lesser than maximum value")
    column.default = _checked_default(column, params.get("default"))
    return column


def _number(value: Any, name: str, kind: str) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value) if kind == "float" else int(value)
        except ValueError:
            raise invalid_argument(name, "Value must be a valid number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_argument(name, "Value must be a valid number")
    if kind in INTEGER_KINDS:
        # A bound written by a JavaScript client (the CLI) arrives as 9223372036854776000 for PHP_INT_MAX: clamp.
        return min(max(int(value), INT64_MIN), INT64_MAX)
    return float(value)


def _checked_default(column: Column, default: Any) -> Any:
    if default is None:
        return None
    if column.required:
        raise AppwriteError("column_default_unsupported", "Cannot set default value for required column")
    if column.array:
        raise AppwriteError("column_default_unsupported", "Cannot set default value for array columns")
    try:
        column.check_value(default)
    except ValueError as exc:
        raise AppwriteError("column_value_invalid", f"Default value is invalid: {exc}") from None
    return column.check_value(default) if column.kind == "datetime" else default


def index_from_params(params: dict[str, Any], fl: Flavour) -> Index:
    key = params.get("key")
    if not is_valid_key(key):
        raise invalid_argument("key", ID_RULE)
    itype = params.get("type")
    if itype not in ("key", "unique", "fulltext", "spatial"):
        raise invalid_argument("type", "Value must be one of (key, fulltext, unique, spatial)")
    columns = params.get(fl.columns, params.get("columns", params.get("attributes")))
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise invalid_argument(fl.columns, "Value must a valid array no longer than 100 items")
    orders = params.get("orders") or []
    if not isinstance(orders, list) or any(o is not None and str(o).upper() not in ("ASC", "DESC") for o in orders):
        raise invalid_argument("orders", "Value must a valid array of ASC or DESC")
    lengths = params.get("lengths") or []
    return Index(
        key=key,
        type=itype,
        columns=columns,
        orders=[str(o).upper() if o else "" for o in orders],
        lengths=[int(n) for n in lengths if isinstance(n, int)],
    )


def register(fl: Flavour) -> None:
    base = fl.base
    tables = f"{base}/{{databaseId}}/{fl.tables}"
    table = f"{tables}/{{{fl.table_param}}}"
    legacy = {"legacy": fl.legacy}

    # --- databases -------------------------------------------------------------------------------------------------
    def databases_list(ctx: Ctx):
        spec = ListSpec(
            "_databases", "id, name, enabled, type, description, created, updated", DATABASE_ATTRS, "id", "seq"
        )
        rows, total = ctx.list_rows_of(spec, "(id || ' ' || name)")
        return list_response("databases", [database_json(r) for r in rows], total)

    def databases_create(ctx: Ctx):
        database = ctx.services.catalog.create_database(
            ctx.new_id("databaseId"), _name(ctx), ctx.boolean("enabled", True), fl.db_type
        )
        return json_response(database, 201)

    def databases_get(ctx: Ctx):
        database = ctx.services.catalog.get_database(ctx.p("databaseId"))
        if database is None:
            raise AppwriteError("database_not_found")
        return json_response(database)

    def databases_update(ctx: Ctx):
        database_for(ctx)
        return json_response(
            ctx.services.catalog.update_database(ctx.p("databaseId"), _name(ctx), ctx.boolean("enabled", None))
        )

    def databases_delete(ctx: Ctx):
        database_for(ctx)
        ctx.services.catalog.delete_database(ctx.p("databaseId"))
        return no_content()

    routes.add("GET", base, databases_list, "databases.read", **legacy)
    routes.add("POST", base, databases_create, "databases.write", **legacy)
    routes.add("GET", f"{base}/{{databaseId}}", databases_get, "databases.read", **legacy)
    routes.add("PUT", f"{base}/{{databaseId}}", databases_update, "databases.write", **legacy)
    routes.add("DELETE", f"{base}/{{databaseId}}", databases_delete, "databases.write", **legacy)

    # --- tables ----------------------------------------------------------------------------------------------------
    def tables_list(ctx: Ctx):
        database_for(ctx)
        spec = ListSpec(
            "_tables", "database_id, id", table_attrs(fl), "id", "seq", "database_id = ?", (ctx.p("databaseId"),)
        )
        rows, total = ctx.list_rows_of(spec, "(id || ' ' || name)")
        catalog = ctx.services.catalog
        return list_response(fl.tables, [table_json(catalog.get_table(d, t), fl) for d, t in rows], total)

    def tables_create(ctx: Ctx):
        database_for(ctx)
        table_id = ctx.new_id(fl.table_param)
        inline_columns = [column_from_params(_inline_kind(c), c) for c in _objects(ctx, fl.columns)]
        inline_indexes = [index_from_params(i, fl) for i in _objects(ctx, "indexes")]
        schema = ctx.services.catalog.create_table(
            ctx.p("databaseId"),
            table_id,
            _name(ctx),
            _permissions(ctx) or [],
            ctx.boolean(fl.row_security, False),
            ctx.boolean("enabled", True),
            inline_columns,
            inline_indexes,
        )
        return json_response(table_json(schema, fl), 201)

    def tables_get(ctx: Ctx):
        return json_response(table_json(table_for(ctx, fl), fl))

    def tables_update(ctx: Ctx):
        schema = table_for(ctx, fl)
        updated = ctx.services.catalog.update_table(
            schema,
            _name(ctx, schema.name),
            _permissions(ctx),
            ctx.boolean(fl.row_security, None),
            ctx.boolean("enabled", None),
        )
        return json_response(table_json(updated, fl))

    def tables_delete(ctx: Ctx):
        ctx.services.catalog.delete_table(table_for(ctx, fl))
        return no_content()

    st = fl.scope_tables
    routes.add("GET", tables, tables_list, f"{st}.read", **legacy)
    routes.add("POST", tables, tables_create, f"{st}.write", **legacy)
    routes.add("GET", table, tables_get, f"{st}.read", **legacy)
    routes.add("PUT", table, tables_update, f"{st}.write", **legacy)
    routes.add("DELETE", table, tables_delete, f"{st}.write", **legacy)

    # --- columns ---------------------------------------------------------------------------------------------------
    def columns_list(ctx: Ctx):
        schema = table_for(ctx, fl)
        spec = ListSpec(
            "_tables, json_each(_tables.columns)",
            "value",
            COLUMN_ATTRS,
            "json_extract(value, '$.key')",
            "json_each.key",
            "_tables.seq = ?",
            (schema.seq,),
        )
        rows, total = ctx.list_rows_of(spec)
        return list_response(fl.columns, [Column.from_record(json.loads(r[0])).to_json() for r in rows], total)

    def columns_create(ctx: Ctx):
        schema = table_for(ctx, fl)
        kind = ctx.p("kind")
        column = column_from_params(kind, {**ctx.params, "key": ctx.raw("key")})
        created = ctx.services.catalog.add_column(schema, column)
        return json_response(created.to_json(), 202)

    def columns_get(ctx: Ctx):
        schema = table_for(ctx, fl)
        column = schema.columns.get(ctx.p("key"))
        if column is None:
            raise AppwriteError("column_not_found")
        return json_response(column.to_json())

    def columns_update(ctx: Ctx):
        schema = table_for(ctx, fl)
        kind, key = ctx.p("kind"), ctx.p("key")
        current = schema.columns.get(key)
        if current is None:
            raise AppwriteError("column_not_found")
        if current.kind != kind and not (kind in ("string", "varchar") and current.kind in ("string", "varchar")):
            raise AppwriteError("column_type_invalid", f'Column "{key}" is of type {current.kind}, not {kind}.')
        if "required" not in ctx.params:
            raise AppwriteError("general_argument_invalid", 'Param "required" is not optional.')
        params = {
            **current.to_record(),
            **{k: v for k, v in ctx.params.items() if k != "key"},
            "key": key,
            "array": current.array,
        }
        if "default" not in ctx.params:
            params["default"] = None
        probe = column_from_params(kind if kind != "string" else current.kind, params)
        new_key = ctx.raw("newKey", None)
        if new_key is not None and not is_valid_key(new_key):
            raise invalid_argument("newKey", ID_RULE)
        changes = {
            "required": probe.required,
            "default": probe.default,
            "size": probe.size,
            "min": probe.min,
            "max": probe.max,
            "elements": probe.elements,
        }
        updated = ctx.services.catalog.update_column(schema, key, changes, new_key)
        return json_response(updated.to_json())

    def columns_delete(ctx: Ctx):
        ctx.services.catalog.delete_column(table_for(ctx, fl), ctx.p("key"))
        return no_content()

    sc = fl.scope_columns
    routes.add("GET", f"{table}/{fl.columns}", columns_list, f"{sc}.read", **legacy)
    routes.add("POST", f"{table}/{fl.columns}/{{kind}}", columns_create, f"{sc}.write", **legacy)
    routes.add("GET", f"{table}/{fl.columns}/{{key}}", columns_get, f"{sc}.read", **legacy)
    routes.add("PATCH", f"{table}/{fl.columns}/{{kind}}/{{key}}", columns_update, f"{sc}.write", **legacy)
    routes.add("DELETE", f"{table}/{fl.columns}/{{key}}", columns_delete, f"{sc}.write", **legacy)

    # --- indexes ---------------------------------------------------------------------------------------------------
    index_field = "attributes" if fl.legacy else "columns"

    def indexes_list(ctx: Ctx):
        schema = table_for(ctx, fl)
        spec = ListSpec(
            "_tables, json_each(_tables.indexes)",
            "value",
            INDEX_ATTRS,
            "json_extract(value, '$.key')",
            "json_each.key",
            "_tables.seq = ?",
            (schema.seq,),
        )
        rows, total = ctx.list_rows_of(spec)
        return list_response("indexes", [Index(**json.loads(r[0])).to_json(index_field) for r in rows], total)

    def indexes_create(ctx: Ctx):
        schema = table_for(ctx, fl)
        index = ctx.services.catalog.add_index(schema, index_from_params(ctx.params, fl))
        return json_response(index.to_json(index_field), 202)

    def indexes_get(ctx: Ctx):
        schema = table_for(ctx, fl)
        index = next((i for i in schema.indexes if i.key == ctx.p("key")), None)
        if index is None:
            raise AppwriteError("column_index_not_found")
        return json_response(index.to_json(index_field))

    def indexes_delete(ctx: Ctx):
        ctx.services.catalog.delete_index(table_for(ctx, fl), ctx.p("key"))
        return no_content()

    routes.add("GET", f"{table}/indexes", indexes_list, "indexes.read", **legacy)
    routes.add("POST", f"{table}/indexes", indexes_create, "indexes.write", **legacy)
    routes.add("GET", f"{table}/indexes/{{key}}", indexes_get, "indexes.read", **legacy)
    routes.add("DELETE", f"{table}/indexes/{{key}}", indexes_delete, "indexes.write", **legacy)


def _objects(ctx: Ctx, name: str) -> list[dict[str, Any]]:
    items = ctx.array(name, [], max_items=1000)
    if not all(isinstance(i, dict) for i in items):
        raise invalid_argument(name, "Value must be an array of objects")
    return items


def _inline_kind(column: dict[str, Any]) -> str:
    """Inline columns use the CLI's type/format pair (type "string" + format "email", "double")."""
    ctype, fmt = column.get("type"), column.get("format")
    if ctype == "string" and fmt in ("email", "enum", "url", "ip"):
        return fmt
    if ctype == "double":
        return "float"
    return str(ctype)


register(TABLESDB)
register(LEGACY)
