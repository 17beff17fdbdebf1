"""Appwrite-shaped errors: `{"message", "code", "type", "version"}`.

The type strings, HTTP codes and default messages follow Appwrite's app/config/errors.php
(see ../shared/reference/appwrite-api.md section 2). Handlers raise `AppwriteError(type)` or
`AppwriteError(type, message)`; one exception handler in app.py renders them.
"""

from __future__ import annotations

APPWRITE_VERSION = "1.9.6"

# type -> (http code, default message). Messages with %s are filled by `AppwriteError(type, args=...)`.
CATALOGUE: dict[str, tuple[int, str]] = {
    "general_unknown": (500, "Server Error"),
    "general_server_error": (500, "Server Error"),
    "general_argument_invalid": (400, "Invalid argument"),
    "general_query_invalid": (400, "Invalid query"),
    "general_bad_request": (400, "There was an error processing your request. Please check the inputs and try again."),
    "general_cursor_not_found": (
        400,
        "The cursor is invalid. This can happen if the item represented by the cursor has been deleted.",
    ),
    "general_unauthorized_scope": (
        401,
        "The current user or API key does not have the required scopes to access the requested resource.",
    ),
    "general_access_forbidden": (401, "Access to this API is forbidden."),
    "general_unknown_origin": (
        403,
        "The request originated from an unknown origin. If you trust this domain, please list it as a trusted platform in the Appwrite console.",
    ),
    "general_route_not_found": (404, "The requested route was not found. Please refer to the API docs and try again."),
    "general_not_implemented": (
        405,
        "This method was not fully implemented yet. If you believe this is a mistake, please upgrade your Appwrite server version.",
    ),
    "general_rate_limit_exceeded": (
        429,
        "Rate limit for the current endpoint has been exceeded. Please try again after some time.",
    ),
    "general_payload_too_large": (413, "Request payload is too large."),
    "general_protocol_unsupported": (500, "The request cannot be fulfilled with the current protocol."),
    "project_not_found": (
        404,
        "Project with the requested ID could not be found. Please check the value of the X-Appwrite-Project header to ensure the correct project ID is being used.",
    ),
    "project_unknown": (
        400,
        "The project ID is either missing or not valid. Please check the value of the X-Appwrite-Project header to ensure the correct project ID is being used.",
    ),
    "project_key_expired": (401, "The project key has expired. Please generate a new key using the Appwrite console."),
    "api_key_expired": (
        401,
        "The dynamic API key has expired. Please don't use dynamic API keys for more than duration of the execution.",
    ),
    "user_unauthorized": (401, "The current user is not authorized to perform the requested action."),
    "user_invalid_credentials": (401, "Invalid credentials. Please check the email and password."),
    "user_already_exists": (409, "A user with the same id, email, or phone already exists in this project."),
    "user_email_already_exists": (409, "A user with the same email already exists in the current project."),
    "user_phone_already_exists": (409, "A user with the same phone number already exists in the current project."),
    "user_not_found": (404, "User with the requested ID could not be found."),
    "user_blocked": (401, "The current user has been blocked."),
    "user_session_not_found": (404, "The current user session could not be found."),
    "user_session_already_exists": (401, "Creation of a session is prohibited when a session is active."),
    "user_jwt_invalid": (
        401,
        "The JWT token is invalid. Please check the value of the X-Appwrite-JWT header to ensure the correct token is being used.",
    ),
    "user_jwt_and_cookie_set": (403, "You cannot use both JWT and cookies at the same time."),
    "user_api_key_and_session_set": (
        403,
        "API key and session used in the same request. Use either `setSession` or `setKey`. Learn about which authentication method to use in the SSR docs: https://appwrite.io/docs/products/auth/server-side-rendering",
    ),
    "user_jwt_creation_denied": (403, "You cannot create a JWT while authenticated with a JWT."),
    "user_password_mismatch": (400, "Passwords do not match. Please check the password and confirm password."),
    "user_invalid_token": (401, "Invalid token passed in the request."),
    "team_not_found": (404, "Team with the requested ID could not be found."),
    "team_already_exists": (409, "Team with requested ID already exists. Please choose a different ID and try again."),
    "team_invite_already_exists": (409, "User has already been invited or is already a member of this team"),
    "membership_not_found": (404, "Membership with the requested ID could not be found."),
    "membership_already_confirmed": (409, "Membership is already confirmed."),
    "general_smtp_disabled": (
        503,
        "SMTP is disabled on your Appwrite instance. You can learn more about setting up SMTP in our docs: https://appwrite.io/docs/advanced/self-hosting/configuration/smtp",
    ),
    "database_not_found": (404, "Database not found"),
    "database_already_exists": (409, "Database already exists"),
    "table_not_found": (404, "Table with the requested ID could not be found."),
    "table_already_exists": (
        409,
        "A table with the requested ID already exists. Try again with a different ID or use ID.unique() to generate a unique ID.",
    ),
    "collection_not_found": (404, "Collection with the requested ID could not be found."),
    "collection_already_exists": (
        409,
        "A collection with the requested ID already exists. Try again with a different ID or use ID.unique() to generate a unique ID.",
    ),
    "row_not_found": (404, "Row with the requested ID could not be found."),
    "row_already_exists": (
        409,
        "Row with the requested ID already exists. Try again with a different ID or use ID.unique() to generate a unique ID.",
    ),
    "row_unique_constraint_violation": (409, "Row with the requested unique attributes already exists."),
    "row_invalid_structure": (
        400,
        "The row structure is invalid. Please ensure the columns match the table definition.",
    ),
    "row_missing_data": (400, "The row data is missing. Try again with row data populated"),
    "row_missing_payload": (
        400,
        "The row data and permissions are missing. You must provide either row data or permissions to be updated.",
    ),
    "document_not_found": (404, "Document with the requested ID could not be found."),
    "document_already_exists": (
        409,
        "Document with the requested ID already exists. Try again with a different ID or use ID.unique() to generate a unique ID.",
    ),
    "document_unique_constraint_violation": (409, "Document with the requested unique attributes already exists."),
    "document_invalid_structure": (
        400,
        "The document structure is invalid. Please ensure the attributes match the collection definition.",
    ),
    "document_missing_data": (400, "The document data is missing. Try again with document data populated"),
    "document_missing_payload": (
        400,
        "The document data and permissions are missing. You must provide either document data or permissions to be updated.",
    ),
    "column_not_found": (404, "Column with the requested ID could not be found."),
    "column_already_exists": (
        409,
        "Column with the requested key already exists. Column keys must be unique, try again with a different key.",
    ),
    "column_not_available": (400, "The requested column is not yet available. Please try again later."),
    "column_unknown": (
        400,
        "The column required for the index could not be found. Please confirm all your columns are in the available state.",
    ),
    "column_default_unsupported": (400, "Default values cannot be set for array or required columns."),
    "column_limit_exceeded": (400, "The maximum number or size of columns for this table has been reached."),
    "column_value_invalid": (400, "The column value is invalid. Please check the type, range and value of the column."),
    "column_type_invalid": (400, "The column type is invalid."),
    "column_format_unsupported": (400, "The requested column format is not supported."),
    "attribute_not_found": (404, "Attribute with the requested ID could not be found."),
    "attribute_already_exists": (
        409,
        "Attribute with the requested key already exists. Attribute keys must be unique, try again with a different key.",
    ),
    "attribute_not_available": (400, "The requested attribute is not yet available. Please try again later."),
    "attribute_unknown": (
        400,
        "The attribute required for the index could not be found. Please confirm all your attributes are in the available state.",
    ),
    "attribute_default_unsupported": (400, "Default values cannot be set for array or required attributes."),
    "attribute_limit_exceeded": (400, "The maximum number or size of attributes for this collection has been reached."),
    "attribute_value_invalid": (
        400,
        "The attribute value is invalid. Please check the type, range and value of the attribute.",
    ),
    "attribute_type_invalid": (400, "The attribute type is invalid."),
    "column_index_not_found": (404, "Index with the requested ID could not be found."),
    "column_index_already_exists": (
        409,
        "Index with the requested key already exists. Try again with a different key.",
    ),
    "column_index_invalid": (400, "Index invalid."),
    "column_index_limit_exceeded": (400, "The maximum number of indexes has been reached."),
    "index_not_found": (404, "Index with the requested ID could not be found."),
    "index_already_exists": (409, "Index with the requested key already exists. Try again with a different key."),
    "index_invalid": (400, "Index invalid."),
    "index_limit_exceeded": (400, "The maximum number of indexes has been reached."),
    "transaction_not_found": (404, "Transaction with the requested ID could not be found."),
    "transaction_expired": (410, "The transaction has expired."),
    "transaction_conflict": (409, "Conflict detected: a row was modified outside of the transaction."),
    "transaction_limit_exceeded": (400, "The maximum number of operations per transaction has been exceeded."),
    "transaction_not_ready": (400, "The transaction is not ready to be committed or rolled back."),
    "transaction_invalid": (400, "The transaction is invalid."),
    "transaction_failed": (400, "The transaction failed."),
    "storage_bucket_not_found": (404, "Storage bucket with the requested ID could not be found."),
    "storage_bucket_already_exists": (
        409,
        "A storage bucket with the requested ID already exists. Try again with a different ID or use ID.unique() to generate a unique ID.",
    ),
    "storage_file_not_found": (404, "The requested file could not be found."),
    "storage_file_already_exists": (409, "A storage file with the requested ID already exists."),
    "storage_file_empty": (400, "Empty file passed to the endpoint."),
    "storage_file_type_unsupported": (400, "The given file extension is not supported."),
    "storage_invalid_file_size": (
        400,
        "The file size is either not valid or exceeds the maximum allowed size. Please check the file or the value of the _APP_STORAGE_LIMIT environment variable.",
    ),
    "storage_invalid_file": (403, "The uploaded file is invalid. Please check the file and try again."),
    "storage_invalid_content_range": (
        400,
        "The content range is invalid. Please check the value of the Content-Range header.",
    ),
    "storage_invalid_appwrite_id": (
        400,
        "The value for x-appwrite-id header is invalid. Please check the value of the x-appwrite-id header is a valid id and not unique().",
    ),
    "storage_invalid_range": (
        416,
        "The requested range is not satisfiable. Please check the value of the Range header.",
    ),
    "storage_device_not_found": (400, "The requested storage device could not be found."),
    "function_not_found": (404, "Function with the requested ID could not be found."),
    "function_already_exists": (409, "Function with the requested ID already exists."),
    "function_runtime_unsupported": (400, "The requested runtime is either inactive or unsupported."),
    "function_entrypoint_missing": (400, "Entrypoint for your Appwrite Function is missing."),
    "deployment_not_found": (404, "Deployment not found. Create a deployment before trying to execute a function"),
    "build_not_ready": (400, "Build with the requested ID is building and not ready for execution."),
    "build_not_found": (404, "Build with the requested ID could not be found."),
    "function_synchronous_timeout": (
        408,
        "Synchronous function execution timed out. Use asynchronous execution instead, or ensure the execution duration doesn't exceed 30 seconds.",
    ),
    "execution_not_found": (404, "Execution with the requested ID could not be found."),
    "execution_in_progress": (
        400,
        "Can't delete ongoing execution. Please wait for execution to finish before deleting it.",
    ),
    "variable_not_found": (404, "Variable with the requested ID could not be found."),
    "variable_already_exists": (
        409,
        "Variable with the same ID already exists in this project. Try again with a different ID.",
    ),
    "team_invite_not_found": (404, "The requested team invitation could not be found."),
    "team_invalid_secret": (
        401,
        "The team invitation secret is invalid. Please request  a new invitation and try again.",
    ),
    "column_index_dependency": (409, "Column cannot be renamed or deleted. Please remove the associated index first."),
    "index_dependency": (409, "Attribute cannot be renamed or deleted. Please remove the associated index first."),
    "database_query_order_null": (
        400,
        "The order attribute had a null value. Cursor pagination requires all documents order attribute values are non-null.",
    ),
}


class AppwriteError(Exception):
    """An error the API returns to the client in Appwrite's shape."""

    def __init__(
        self, type_: str, message: str | None = None, code: int | None = None, headers: dict[str, str] | None = None
    ):
        default_code, default_message = CATALOGUE.get(type_, (500, "Server Error"))
        self.type = type_
        self.code = code if code is not None else default_code
        self.message = message if message is not None else default_message
        self.headers = headers or {}
        super().__init__(f"{self.type} ({self.code}): {self.message}")

    def to_json(self) -> dict:
        return {"message": self.message, "code": self.code, "type": self.type, "version": APPWRITE_VERSION}


def invalid_argument(param: str, description: str) -> AppwriteError:
    """Utopia's wording for a parameter that failed its validator."""
    return AppwriteError("general_argument_invalid", f"Invalid `{param}` param: {description}")


def missing_argument(param: str) -> AppwriteError:
    return AppwriteError("general_argument_invalid", f'Param "{param}" is not optional.')
