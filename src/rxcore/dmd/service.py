"""The trud-medicine-sync function's actions:

{"action": "sync"}                                         newest release of TRUD item 24
{"action": "sync", "bucketId": "...", "fileId": "..."}     a release zip uploaded to Storage
{"action": "sync", ..., "force": true}                     sync even if unchanged (or another looks running)
{"action": "status"}                                       the last sync and the last complete one

A scheduled execution syncs. `operation` is the older name of `action`, still accepted (deprecated)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any

import orjson
from appwrite.services.storage import Storage
from pydantic import Field, model_validator

from rxcore.actions import Dispatcher, RequestModel, RowId
from rxcore.identity import Caller
from rxcore.settings import DmdSettings

from .appwrite_store import AppwriteCatalogue
from .sync import DmdSync, Source
from .trud import TrudClient

actions = Dispatcher("trud-medicine-sync", on_schedule="sync", settings=DmdSettings, legacy_selector="operation")
# Who may run it is Appwrite's `execute` (admins by label), API keys and the schedule: none of the last two carries a
# user, so the actions take callers without one (`guests=True`); the catalogue is not personal data.


class Sync(RequestModel):
    bucket_id: RowId | None = Field(None, description="with fileId: sync this uploaded release zip")
    file_id: RowId | None = None
    force: bool = Field(False, description="sync even if unchanged, or if another sync looks running")

    @model_validator(mode="after")
    def _both_or_neither(self) -> Sync:
        if (self.bucket_id is None) != (self.file_id is None):
            raise ValueError("give both `bucketId` and `fileId` to sync an uploaded zip, or neither")
        return self


class Status(RequestModel):
    pass


def _store(c: Caller) -> AppwriteCatalogue:
    settings: DmdSettings = c.settings  # type: ignore[assignment]
    return AppwriteCatalogue(c.request.client, settings.database_id, workers=settings.write_concurrency)


@actions.action("sync", Sync, guests=True)
def sync(c: Caller, params: Sync) -> dict[str, Any]:
    """Bring `medicines` up to the newest dm+d release (from TRUD, or a zip uploaded to Storage)."""
    store = _store(c)
    try:
        if params.bucket_id is None or params.file_id is None:
            return sync_from_trud(c, store, params.force)
        return sync_from_bucket(c, store, params.bucket_id, params.file_id, params.force)
    finally:
        store.close()


@actions.action("status", Status, guests=True)
def status(c: Caller, params: Status) -> dict[str, Any]:
    """The last sync and the last complete one."""
    store = _store(c)
    try:
        return {"last": _decoded(store.last_release()), "lastComplete": _decoded(store.last_complete_release())}
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


def sync_from_bucket(c: Caller, store, bucket_id: str, file_id: str, force: bool) -> dict[str, Any]:
    request = c.request
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


def sync_from_trud(c: Caller, store, force: bool) -> dict[str, Any]:
    request, settings = c.request, c.settings
    trud = TrudClient(settings.trud_api_key.get_secret_value(), base_url=settings.trud_api_base_url)  # type: ignore[attr-defined]
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
