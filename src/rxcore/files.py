"""Files the functions write to Storage under ids of their own choosing."""

from __future__ import annotations

from collections.abc import Callable

from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.input_file import InputFile
from appwrite.services.storage import Storage


def put_file(
    client: Client, bucket: str, file_id: str, content: bytes, filename: str, mime_type: str, permissions: list[str]
) -> str:
    """Store `content` as `file_id`, replacing a file an earlier, unfinished attempt left under that id (a retry
    after a failed commit, a resumed import), so the id always names the newest content."""
    storage = Storage(client)
    upload = InputFile.from_bytes(content, filename=filename, mime_type=mime_type)
    try:
        storage.create_file(bucket, file_id, upload, permissions)
    except AppwriteException as exc:
        if exc.code != 409:
            raise
        storage.delete_file(bucket, file_id)
        storage.create_file(bucket, file_id, upload, permissions)
    return file_id


def ensure_file(
    client: Client,
    bucket: str,
    file_id: str,
    content: Callable[[], bytes],
    filename: str,
    mime_type: str,
    permissions: list[str],
) -> None:
    """Store `file_id` once: nothing happens if it is there; otherwise `content()` is made and stored. For a
    document every caller would make identically (a signed prescription's PDF), so a racing caller's copy that
    got there first is as good as ours."""
    storage = Storage(client)
    try:
        storage.get_file(bucket, file_id)
        return
    except AppwriteException as exc:
        if exc.code != 404:
            raise
    upload = InputFile.from_bytes(content(), filename=filename, mime_type=mime_type)
    try:
        storage.create_file(bucket, file_id, upload, permissions)
    except AppwriteException as exc:
        if exc.code != 409:
            raise
