"""Test function: triggered by row creation; records what it saw in another table."""

import os

from appwrite.client import Client
from appwrite.services.tables_db import TablesDB


def main(context):
    row = context.req.body_json
    client = (
        Client()
        .set_endpoint(os.environ["APPWRITE_FUNCTION_API_ENDPOINT"])
        .set_project(os.environ["APPWRITE_FUNCTION_PROJECT_ID"])
        .set_key(context.req.headers["x-appwrite-key"])
    )
    TablesDB(client).create_row(
        row["$databaseId"],
        "events_out",
        "unique()",
        {
            "source": row["$id"],
            "event": context.req.headers.get("x-appwrite-event", ""),
            "trigger": context.req.headers.get("x-appwrite-trigger", ""),
        },
    )
    return context.res.empty()
