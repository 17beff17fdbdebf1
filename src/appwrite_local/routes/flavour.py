"""TablesDB and the legacy Databases API are one backend with two vocabularies (appwrite-api.md section 3)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CATALOGUE, AppwriteError


@dataclass(frozen=True)
class Flavour:
    base: str  # "/tablesdb" | "/databases"
    db_type: str  # Database.type for databases created through it
    tables: str  # path segment and list plural: "tables" | "collections"
    table_param: str  # "tableId" | "collectionId"
    columns: str  # "columns" | "attributes"
    rows: str  # "rows" | "documents"
    row_param: str  # "rowId" | "documentId"
    row_security: str  # "rowSecurity" | "documentSecurity"
    table_field: str  # "$tableId" | "$collectionId"
    scope_tables: str  # "tables" | "collections"
    scope_columns: str  # "columns" | "attributes"
    scope_rows: str  # "rows" | "documents"
    legacy: bool


TABLESDB = Flavour(
    "/tablesdb",
    "tablesdb",
    "tables",
    "tableId",
    "columns",
    "rows",
    "rowId",
    "rowSecurity",
    "$tableId",
    "tables",
    "columns",
    "rows",
    False,
)
LEGACY = Flavour(
    "/databases",
    "legacy",
    "collections",
    "collectionId",
    "attributes",
    "documents",
    "documentId",
    "documentSecurity",
    "$collectionId",
    "collections",
    "attributes",
    "documents",
    True,
)

_PREFIXES = (("column_index_", "index_"), ("column_", "attribute_"), ("row_", "document_"), ("table_", "collection_"))


def legacy_error(error: AppwriteError) -> AppwriteError:
    """Rename a TablesDB error type for the legacy API, keeping a custom message."""
    for new, old in _PREFIXES:
        if error.type.startswith(new):
            renamed = old + error.type[len(new) :]
            if renamed not in CATALOGUE:
                return error
            message = error.message
            if message == CATALOGUE.get(error.type, (0, None))[1]:
                message = CATALOGUE[renamed][1]
            return AppwriteError(renamed, message, error.code, error.headers)
    return error
