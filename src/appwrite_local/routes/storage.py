"""Storage: buckets (API keys) and files (permissions decide), with Appwrite's chunked upload protocol."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from typing import Any

from starlette.responses import Response

from .. import permissions as perms
from ..api import Ctx, RouteTable, json_response, list_response, no_content
from ..clock import format_datetime
from ..errors import AppwriteError, invalid_argument
from ..files import CHUNK_SIZE
from ..ids import custom_id, uid
from ..listing import ListSpec
from ..queries import Attr

routes = RouteTable()

STORAGE_LIMIT = 30_000_000  # _APP_STORAGE_LIMIT default
BUCKET_COLUMNS = (
    "seq, id, name, permissions, file_security, enabled, maximum_file_size, allowed_file_extensions,"
    " compression, encryption, antivirus, transformations, description, created, updated"
)
BUCKET_ATTRS = {
    "$id": Attr("id", "string"),
    "$createdAt": Attr("created", "datetime"),
    "$updatedAt": Attr("updated", "datetime"),
    "name": Attr("name", "string"),
    "enabled": Attr("enabled", "boolean"),
    "fileSecurity": Attr("file_security", "boolean"),
    "maximumFileSize": Attr("maximum_file_size", "integer"),
    "$sequence": Attr("seq", "integer"),
}
FILE_COLUMNS = (
    "seq, bucket_id, id, name, folder, permissions, signature, mime_type, size_original, size_actual,"
    " chunks_total, chunks_uploaded, chunks, created, updated"
)
FILE_ATTRS = {
    "$id": Attr("id", "string"),
    "$createdAt": Attr("created", "datetime"),
    "$updatedAt": Attr("updated", "datetime"),
    "name": Attr("name", "string"),
    "signature": Attr("signature", "string"),
    "mimeType": Attr("mime_type", "string"),
    "sizeOriginal": Attr("size_original", "integer"),
    "chunksTotal": Attr("chunks_total", "integer"),
    "chunksUploaded": Attr("chunks_uploaded", "integer"),
    "folder": Attr("folder", "string"),
    "$sequence": Attr("seq", "integer"),
}
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def bucket_json(row: tuple) -> dict[str, Any]:
    (
        _,
        bid,
        name,
        permissions,
        file_security,
        enabled,
        max_size,
        extensions,
        compression,
        encryption,
        antivirus,
        transformations,
        description,
        created,
        updated,
    ) = row
    return {
        "$id": bid,
        "$createdAt": created,
        "$updatedAt": updated,
        "$permissions": json.loads(permissions),
        "fileSecurity": bool(file_security),
        "name": name,
        "description": description,
        "enabled": bool(enabled),
        "maximumFileSize": max_size,
        "allowedFileExtensions": json.loads(extensions),
        "compression": compression,
        "encryption": bool(encryption),
        "antivirus": bool(antivirus),
        "transformations": bool(transformations),
        "stripMetadata": False,
        "totalSize": 0,
    }


def file_json(row: tuple) -> dict[str, Any]:
    (
        _,
        bucket_id,
        fid,
        name,
        folder,
        permissions,
        signature,
        mime,
        size_original,
        size_actual,
        chunks_total,
        chunks_uploaded,
        _chunks,
        created,
        updated,
    ) = row
    return {
        "$id": fid,
        "bucketId": bucket_id,
        "$createdAt": created,
        "$updatedAt": updated,
        "$permissions": json.loads(permissions),
        "name": name,
        "folder": folder,
        "key": folder + name,
        "signature": signature,
        "mimeType": mime,
        "sizeOriginal": size_original,
        "sizeActual": size_actual,
        "chunksTotal": chunks_total,
        "chunksUploaded": chunks_uploaded,
        "encryption": False,
        "compression": "none",
    }


# --- buckets ---------------------------------------------------------------------------------------------------------
def _bucket_row(conn: sqlite3.Connection, bucket_id: str) -> tuple | None:
    return conn.execute(f"SELECT {BUCKET_COLUMNS} FROM _buckets WHERE id = ?", (bucket_id,)).fetchone()


def _bucket(ctx: Ctx) -> dict[str, Any]:
    row = _bucket_row(ctx.services.db.reader(), ctx.p("bucketId"))
    if row is None:
        raise AppwriteError("storage_bucket_not_found")
    bucket = bucket_json(row)
    if not bucket["enabled"] and not ctx.principal.is_key:
        raise AppwriteError("storage_bucket_not_found")
    return bucket


def _bucket_params(ctx: Ctx, current: dict[str, Any] | None) -> tuple:
    def pick(name: str, getter, fallback):
        return getter(name, current[name] if current else fallback)

    raw_perms = ctx.raw("permissions", None)
    permissions = (
        perms.normalise(ctx.array("permissions"), perms.RESOURCE_TYPES)
        if raw_perms is not None
        else (current["$permissions"] if current else [])
    )
    extensions = pick("allowedFileExtensions", ctx.array, [])
    if not all(isinstance(e, str) and 0 < len(e) <= 64 for e in extensions):
        raise invalid_argument("allowedFileExtensions", "Value must a valid array of extensions")
    compression = pick("compression", ctx.text, "none")
    if compression not in ("none", "gzip", "zstd"):
        raise invalid_argument("compression", "Value must be one of (none, gzip, zstd)")
    return (
        ctx.text("name", max_len=128, min_len=1),
        json.dumps(permissions),
        int(pick("fileSecurity", ctx.boolean, False)),
        int(pick("enabled", ctx.boolean, True)),
        pick("maximumFileSize", lambda n, d: ctx.integer(n, d, 1, STORAGE_LIMIT), STORAGE_LIMIT),
        json.dumps([e.lower() for e in extensions]),
        compression,
        int(pick("encryption", ctx.boolean, True)),
        int(pick("antivirus", ctx.boolean, True)),
        int(pick("transformations", ctx.boolean, True)),
    )


@routes.route("GET", "/storage/buckets", "buckets.read")
def buckets_list(ctx: Ctx):
    spec = ListSpec("_buckets", BUCKET_COLUMNS, BUCKET_ATTRS, "id", "seq")
    rows, total = ctx.list_rows_of(spec, "(id || ' ' || name)")
    return list_response("buckets", [bucket_json(r) for r in rows], total)


@routes.route("POST", "/storage/buckets", "buckets.write")
def buckets_create(ctx: Ctx):
    bucket_id = ctx.new_id("bucketId")
    values = _bucket_params(ctx, None)
    now = format_datetime(ctx.services.clock.now())
    with ctx.services.db.write() as conn:
        try:
            conn.execute(
                "INSERT INTO _buckets (id, name, permissions, file_security, enabled, maximum_file_size,"
                " allowed_file_extensions, compression, encryption, antivirus, transformations, created,"
                " updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (bucket_id, *values, now, now),
            )
        except sqlite3.IntegrityError:
            raise AppwriteError("storage_bucket_already_exists") from None
        row = _bucket_row(conn, bucket_id)
    ctx.services.events.emit(f"buckets.{bucket_id}.create", bucket_json(row))
    return json_response(bucket_json(row), 201)


@routes.route("GET", "/storage/buckets/{bucketId}", "buckets.read")
def buckets_get(ctx: Ctx):
    return json_response(_bucket(ctx))


@routes.route("PUT", "/storage/buckets/{bucketId}", "buckets.write")
def buckets_update(ctx: Ctx):
    bucket = _bucket(ctx)
    values = _bucket_params(ctx, bucket)
    with ctx.services.db.write() as conn:
        conn.execute(
            "UPDATE _buckets SET name = ?, permissions = ?, file_security = ?, enabled = ?,"
            " maximum_file_size = ?, allowed_file_extensions = ?, compression = ?, encryption = ?,"
            " antivirus = ?, transformations = ?, updated = ? WHERE id = ?",
            (*values, format_datetime(ctx.services.clock.now()), bucket["$id"]),
        )
        row = _bucket_row(conn, bucket["$id"])
    ctx.services.events.emit(f"buckets.{bucket['$id']}.update", bucket_json(row))
    return json_response(bucket_json(row))


@routes.route("DELETE", "/storage/buckets/{bucketId}", "buckets.write")
def buckets_delete(ctx: Ctx):
    bucket = _bucket(ctx)
    with ctx.services.db.write() as conn:
        conn.execute(
            "DELETE FROM _file_perms WHERE file IN (SELECT seq FROM _files WHERE bucket_id = ?)", (bucket["$id"],)
        )
        conn.execute("DELETE FROM _files WHERE bucket_id = ?", (bucket["$id"],))
        conn.execute("DELETE FROM _buckets WHERE id = ?", (bucket["$id"],))
    ctx.services.files.delete_bucket(bucket["$id"])
    ctx.services.events.emit(f"buckets.{bucket['$id']}.delete", bucket)
    return no_content()


# --- files -----------------------------------------------------------------------------------------------------------
def _allowed(ctx: Ctx, bucket: dict[str, Any], ptype: str, file_permissions: list[str] | None = None) -> bool:
    if ctx.principal.is_key or perms.allows(bucket["$permissions"], ptype, ctx.principal.roles):
        return True
    return bool(
        bucket["fileSecurity"]
        and file_permissions is not None
        and perms.allows(file_permissions, ptype, ctx.principal.roles)
    )


def _file_row(conn: sqlite3.Connection, bucket_id: str, file_id: str) -> tuple | None:
    return conn.execute(
        f"SELECT {FILE_COLUMNS} FROM _files WHERE bucket_id = ? AND id = ?", (bucket_id, file_id)
    ).fetchone()


def _readable_file(ctx: Ctx) -> tuple[dict[str, Any], tuple]:
    bucket = _bucket(ctx)
    row = _file_row(ctx.services.db.reader(), bucket["$id"], ctx.p("fileId"))
    if row is None:
        raise AppwriteError("storage_file_not_found")
    if not _allowed(ctx, bucket, "read", json.loads(row[5])):
        raise AppwriteError("storage_file_not_found" if bucket["fileSecurity"] else "user_unauthorized")
    return bucket, row


def _file_readers(bucket: dict[str, Any], file_permissions: list[str]) -> frozenset[str]:
    """Who may see a file event on realtime: bucket readers, plus file readers under fileSecurity."""
    readers = set(perms.roles_for(bucket["$permissions"], "read"))
    if bucket["fileSecurity"]:
        readers |= set(perms.roles_for(file_permissions, "read"))
    return frozenset(readers)


def _set_file_perms(conn: sqlite3.Connection, seq: int, permissions: list[str]) -> None:
    conn.execute("DELETE FROM _file_perms WHERE file = ?", (seq,))
    conn.executemany(
        "INSERT OR IGNORE INTO _file_perms (type, role, file) VALUES (?, ?, ?)",
        [(*perms.parse(p), seq) for p in permissions],
    )


@routes.route("GET", "/storage/buckets/{bucketId}/files", "files.read")
def files_list(ctx: Ctx):
    bucket = _bucket(ctx)
    where, params = "bucket_id = ?", (bucket["$id"],)
    if not _allowed(ctx, bucket, "read"):
        if not bucket["fileSecurity"]:
            raise AppwriteError("user_unauthorized")
        roles = tuple(sorted(ctx.principal.roles))
        # One index lookup per listed file (not the set of every file the caller may read, in every bucket).
        marks = ",".join("?" * len(roles))
        where += (
            f" AND EXISTS (SELECT 1 FROM _file_perms WHERE file = _files.seq AND type = 'read' AND role IN ({marks}))"
        )
        params += roles
    spec = ListSpec("_files", FILE_COLUMNS, FILE_ATTRS, "id", "seq", where, params)
    rows, total = ctx.list_rows_of(spec, "(id || ' ' || name)")
    return list_response("files", [file_json(r) for r in rows], total)


def _uploader(ctx: Ctx) -> str:
    """Who may send the rest of an upload: the same user or key; a guest is known only by their address."""
    return ctx.principal.owner_tag or "guest:" + ctx.ip


def _check_continuation(conn: sqlite3.Connection, row: tuple, uploader: str, size: int, chunked: bool) -> None:
    """A chunk for a file that exists continues an upload: only its uploader may send it, at the same size."""
    owner = conn.execute("SELECT owner FROM _files WHERE seq = ?", (row[0],)).fetchone()[0]
    if not chunked or owner != uploader:
        # Someone else's file, finished or not, is simply taken: nobody learns more than that it exists.
        raise AppwriteError("storage_file_already_exists")
    if row[8] != size:
        raise AppwriteError(
            "storage_invalid_content_range",
            f"The upload began with a total size of {row[8]} bytes; this chunk's Content-Range says {size}.",
        )


@routes.route("POST", "/storage/buckets/{bucketId}/files", "files.write", abuse=("url:{url},ip:{ip}", 60, 60))
def files_create(ctx: Ctx):
    bucket = _bucket(ctx)
    if not _allowed(ctx, bucket, "create"):
        raise AppwriteError("user_unauthorized")
    upload = ctx.files.get("file")
    if upload is None:
        raise AppwriteError("storage_file_empty")
    name = upload.filename or "file"
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if bucket["allowedFileExtensions"] and extension not in bucket["allowedFileExtensions"]:
        raise AppwriteError("storage_file_type_unsupported", "File extension not allowed")

    content_range = ctx.headers.get("content-range")
    if content_range:
        match = _RANGE.match(content_range.strip())
        if not match:
            raise AppwriteError("storage_invalid_content_range")
        start, end, size = (int(g) for g in match.groups())
        if start > end or end >= size or end - start + 1 != len(upload.data):
            raise AppwriteError("storage_invalid_content_range")
        # Chunks sit on CHUNK_SIZE boundaries and only the last may be short: anything else would be stored
        # under the wrong chunk number and assemble into a different file.
        if start % CHUNK_SIZE or (len(upload.data) != CHUNK_SIZE and end != size - 1):
            raise AppwriteError("storage_invalid_content_range")
        appwrite_id = ctx.headers.get("x-appwrite-id")
        if appwrite_id:
            if appwrite_id == "unique()":
                raise AppwriteError("storage_invalid_appwrite_id")
            file_id = uid(appwrite_id, "x-appwrite-id")
        else:
            file_id = custom_id(ctx.raw("fileId"), "fileId")
    else:
        start, size = 0, len(upload.data)
        file_id = custom_id(ctx.raw("fileId"), "fileId")
    if size == 0:
        raise AppwriteError("storage_file_empty")
    if size > bucket["maximumFileSize"]:
        raise AppwriteError("storage_invalid_file_size", "File size not allowed")

    raw_perms = ctx.raw("permissions", None)
    permissions = (
        perms.default_row_permissions(ctx.principal.user_id)
        if raw_perms is None
        else perms.normalise(ctx.array("permissions"), perms.ROW_TYPES)
    )
    if raw_perms is not None and not ctx.principal.is_key:
        perms.check_grantable(permissions, ctx.principal.roles)
    folder = ctx.text("folder", "", 1024)

    total = max(1, math.ceil(size / CHUNK_SIZE))
    number = start // CHUNK_SIZE + 1
    store = ctx.services.files
    now = format_datetime(ctx.services.clock.now())
    uploader = _uploader(ctx)
    with ctx.services.db.write() as conn:
        row = _file_row(conn, bucket["$id"], file_id)
        if row is not None:
            _check_continuation(conn, row, uploader, size, bool(content_range))
            if row[11] >= row[10]:
                return json_response(file_json(row), 200)
        if row is None:
            cur = conn.execute(
                "INSERT INTO _files (bucket_id, id, name, folder, permissions, size_original, chunks_total,"
                " chunks_uploaded, created, updated, owner) VALUES (?,?,?,?,?,?,?,0,?,?,?)",
                (bucket["$id"], file_id, name, folder, json.dumps(permissions), size, total, now, now, uploader),
            )
            _set_file_perms(conn, cur.lastrowid, permissions)
            row = _file_row(conn, bucket["$id"], file_id)
        received = set(json.loads(row[12]))
        if total == 1:
            store.write_whole(bucket["$id"], file_id, upload.data)
        else:
            store.write_chunk(bucket["$id"], file_id, number, upload.data)
        received.add(number)
        complete = len(received) >= total
        if complete:
            if total > 1:
                store.assemble(bucket["$id"], file_id, total)
            signature, mime, actual = store.describe(bucket["$id"], file_id, name)
            conn.execute(
                "UPDATE _files SET chunks = '[]', chunks_uploaded = ?, signature = ?, mime_type = ?,"
                " size_actual = ?, updated = ? WHERE seq = ?",
                (total, signature, mime, actual, now, row[0]),
            )
        else:
            conn.execute(
                "UPDATE _files SET chunks = ?, chunks_uploaded = ?, updated = ? WHERE seq = ?",
                (json.dumps(sorted(received)), len(received), now, row[0]),
            )
        row = _file_row(conn, bucket["$id"], file_id)
    body = file_json(row)
    if complete:
        ctx.services.events.emit(
            f"buckets.{bucket['$id']}.files.{file_id}.create", body, _file_readers(bucket, json.loads(row[5]))
        )
    return json_response(body, 201)


@routes.route("GET", "/storage/buckets/{bucketId}/files/{fileId}", "files.read")
def files_get(ctx: Ctx):
    return json_response(file_json(_readable_file(ctx)[1]))


@routes.route("PUT", "/storage/buckets/{bucketId}/files/{fileId}", "files.write")
def files_update(ctx: Ctx):
    bucket = _bucket(ctx)
    row = _file_row(ctx.services.db.reader(), bucket["$id"], ctx.p("fileId"))
    if row is None:
        raise AppwriteError("storage_file_not_found")
    if not _allowed(ctx, bucket, "update", json.loads(row[5])):
        raise AppwriteError("user_unauthorized")
    name = ctx.text("name", row[3], 255, 1)
    raw_perms = ctx.raw("permissions", None)
    with ctx.services.db.write() as conn:
        if raw_perms is not None:
            permissions = perms.normalise(ctx.array("permissions"), perms.ROW_TYPES)
            if not ctx.principal.is_key:
                perms.check_grantable(permissions, ctx.principal.roles)
            conn.execute("UPDATE _files SET permissions = ? WHERE seq = ?", (json.dumps(permissions), row[0]))
            _set_file_perms(conn, row[0], permissions)
        conn.execute(
            "UPDATE _files SET name = ?, updated = ? WHERE seq = ?",
            (name, format_datetime(ctx.services.clock.now()), row[0]),
        )
        row = _file_row(conn, bucket["$id"], row[2])
    ctx.services.events.emit(
        f"buckets.{bucket['$id']}.files.{row[2]}.update", file_json(row), _file_readers(bucket, json.loads(row[5]))
    )
    return json_response(file_json(row))


@routes.route("DELETE", "/storage/buckets/{bucketId}/files/{fileId}", "files.write")
def files_delete(ctx: Ctx):
    bucket = _bucket(ctx)
    row = _file_row(ctx.services.db.reader(), bucket["$id"], ctx.p("fileId"))
    if row is None:
        raise AppwriteError("storage_file_not_found")
    if not _allowed(ctx, bucket, "delete", json.loads(row[5])):
        raise AppwriteError("user_unauthorized")
    with ctx.services.db.write() as conn:
        conn.execute("DELETE FROM _files WHERE seq = ?", (row[0],))
        conn.execute("DELETE FROM _file_perms WHERE file = ?", (row[0],))
    ctx.services.files.delete(bucket["$id"], row[2])
    ctx.services.events.emit(
        f"buckets.{bucket['$id']}.files.{row[2]}.delete", file_json(row), _file_readers(bucket, json.loads(row[5]))
    )
    return no_content()


def _file_bytes(ctx: Ctx, disposition: str) -> Response:
    bucket, row = _readable_file(ctx)
    if row[11] < row[10]:
        raise AppwriteError("storage_file_not_found", "The requested file is still being uploaded.")
    size = row[9]
    headers = {
        "Content-Disposition": f'{disposition}; filename="{row[3]}"',
        "Cache-Control": "private, max-age=3888000",
        "Accept-Ranges": "bytes",
    }
    range_header = ctx.headers.get("range")
    if range_header:
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
        if not match or (not match.group(1) and not match.group(2)):
            raise AppwriteError("storage_invalid_range")
        if match.group(1):
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else size - 1
        else:
            start, end = max(0, size - int(match.group(2))), size - 1
        end = min(end, size - 1)
        if start > end or start >= size:
            raise AppwriteError("storage_invalid_range")
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        data = ctx.services.files.read(bucket["$id"], row[2], start, end)
        return Response(data, 206, headers=headers, media_type=row[7])
    return Response(ctx.services.files.read(bucket["$id"], row[2]), 200, headers=headers, media_type=row[7])


@routes.route("GET", "/storage/buckets/{bucketId}/files/{fileId}/download", "files.read")
def files_download(ctx: Ctx):
    return _file_bytes(ctx, "attachment")


@routes.route("GET", "/storage/buckets/{bucketId}/files/{fileId}/view", "files.read")
def files_view(ctx: Ctx):
    return _file_bytes(ctx, "inline")


@routes.route("GET", "/storage/buckets/{bucketId}/files/{fileId}/preview", "files.read")
def files_preview(ctx: Ctx):
    """Appwrite transforms images here; the local server returns the stored bytes unchanged."""
    return _file_bytes(ctx, "inline")
