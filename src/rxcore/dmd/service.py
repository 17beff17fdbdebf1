"""The trud-medicine-sync function's actions:

{"operation": "sync"}                                         newest release of TRUD item 24
{"operation": "sync", "bucketId": "...", "fileId": "..."}     a release zip uploaded to Storage
{"operation": "sync", ..., "force": true}                     sync even if unchanged (or another looks running)
{"operation": "status"}                                       the last sync and the last complete one
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any

import orjson
from appwrite.services.storage import Storage

from rxcore.errors import ServiceError
from rxcore.function_shell import FunctionRequest

from .appwrite_store import AppwriteCatalogue
from .sync import DmdSync, Source
from .trud import TrudClient


def _invalid(message: str) -> ServiceError:
    return ServiceError(400, "general_argument_invalid", message)


def handle(request: FunctionRequest) -> dict[str, Any]:
    body = request.body
    operation = body.get("operation", "sync" if request.trigger == "schedule" else None)
    store = AppwriteCatalogue(
        request.client,
        database_id=request.env.get("DMD_DATABASE_ID", "main"),
        workers=int(request.env.get("DMD_WRITE_CONCURRENCY", "4")),
    )
    try:
        if operation == "status":
            return status(store)
        if operation != "sync":
            raise _invalid('Invalid `operation` param: must be "sync" or "status".')
        force = body.get("force", False)
        if not isinstance(force, bool):
            raise _invalid("Invalid `force` param: must be a boolean.")
        bucket_id, file_id = body.get("bucketId"), body.get("fileId")
        if bucket_id is None and file_id is None:
            return sync_from_trud(request, store, force)
        if not isinstance(bucket_id, str) or not isinstance(file_id, str) or not bucket_id or not file_id:
            raise _invalid("Invalid `bucketId`/`fileId` params: give both, as strings, to sync an uploaded zip.")
        return sync_from_bucket(request, store, bucket_id, file_id, force)
    finally:
        store.close()


def _decoded(release: dict[str, Any] | None) -> dict[str, Any] | None:
    if release is None:
        return None
    out = {k: v for k, v in release.items() if not k.startswith("$") or k in ("$id", "$updatedAt")}
    for key in ("counts", "trud"):
        if out.get(key):
            out[key] = orjson.loads(out[key])
    return out


def status(store: AppwriteCatalogue) -> dict[str, Any]:
    return {"last": _decoded(store.last_release()), "lastComplete": _decoded(store.last_complete_release())}


def sync_from_bucket(request: FunctionRequest, store, bucket_id: str, file_id: str, force: bool) -> dict[str, Any]:
    storage = Storage(request.client)
    meta = storage.get_file(bucket_id, file_id)
    with tempfile.TemporaryDirectory(prefix="dmd-") as tmp:
        path = os.path.join(tmp, "release.zip")
        data = storage.get_file_download(bucket_id, file_id)
        with open(path, "wb") as out:
            out.write(data)
        sha256 = hashlib.sha256(data).hexdigest()
        del data
        source = Source(path, meta.name, sha256, os.path.getsize(path), f"bucket:{bucket_id}/{file_id}")
        request.log(f"syncing {meta.name} from bucket {bucket_id} ({source.size} bytes, sha256 {sha256[:12]}…)")
        return DmdSync(store, log=request.log).run(source, force=force)


def sync_from_trud(request: FunctionRequest, store, force: bool) -> dict[str, Any]:
    trud = TrudClient(
        request.env.get("TRUD_API_KEY", ""), base_url=request.env.get("TRUD_API_BASE_URL", "https://isd.digital.nhs.uk")
    )
    release = trud.latest_release()
    name = release.get("archiveFileName", "")
    sync = DmdSync(store, log=request.log)
    answer = None if force else sync.skipped(release.get("archiveFileSha256") or "")
    if answer:  # known from TRUD's checksum: no download needed
        return answer
    with tempfile.TemporaryDirectory(prefix="dmd-") as tmp:
        path = os.path.join(tmp, name or "release.zip")
        request.log(f"downloading {name} ({release.get('archiveFileSizeBytes')} bytes) from TRUD")
        sha256 = trud.download(release, path)
        source = Source(path, name, sha256, os.path.getsize(path), "trud", trud.public_metadata(release))
        return sync.run(source, force=force)
