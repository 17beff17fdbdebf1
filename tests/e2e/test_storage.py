"""Storage: buckets, small and chunked (parallel, out-of-order) uploads, downloads, ranges, permissions."""

from __future__ import annotations

import hashlib
import os

import pytest
import requests
from appwrite.id import ID
from appwrite.input_file import InputFile
from appwrite.permission import Permission
from appwrite.role import Role
from appwrite.services.storage import Storage

from tests.support.sdk import error_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def bucket(admin):
    storage = Storage(admin)
    bucket_id = ID.unique()
    storage.create_bucket(
        bucket_id,
        "Prescriptions",
        permissions=[Permission.create(Role.users())],
        file_security=True,
        maximum_file_size=20_000_000,
        allowed_file_extensions=["pdf", "bin", "txt"],
    )
    yield storage, bucket_id
    storage.delete_bucket(bucket_id)


def test_bucket_crud(admin):
    storage = Storage(admin)
    bucket_id = ID.unique()
    created = storage.create_bucket(bucket_id, "Avatars", file_security=False, enabled=True)
    assert created.maximumfilesize == 30_000_000 and created.permissions == []
    assert storage.update_bucket(bucket_id, "Pictures", maximum_file_size=1000).maximumfilesize == 1000
    assert any(b.id == bucket_id for b in storage.list_buckets().buckets)
    assert error_of(storage.create_bucket, bucket_id, "Again").type == "storage_bucket_already_exists"
    storage.delete_bucket(bucket_id)
    assert error_of(storage.get_bucket, bucket_id).type == "storage_bucket_not_found"


def test_small_upload_download_and_range(bucket, server):
    storage, bucket_id = bucket
    body = b"%PDF-1.4 tiny prescription"
    file = storage.create_file(bucket_id, ID.unique(), InputFile.from_bytes(body, "rx.pdf"))
    assert (file.name, file.mimetype, file.sizeoriginal, file.chunkstotal, file.chunksuploaded) == (
        "rx.pdf",
        "application/pdf",
        len(body),
        1,
        1,
    )
    assert file.signature == hashlib.md5(body).hexdigest()
    assert storage.get_file_download(bucket_id, file.id) == body
    assert storage.get_file_view(bucket_id, file.id) == body
    assert storage.list_files(bucket_id).total == 1

    url = f"{server.endpoint}/storage/buckets/{bucket_id}/files/{file.id}/download"
    headers = {"X-Appwrite-Project": server.project_id, "X-Appwrite-Key": server.api_key}
    response = requests.get(url, headers={**headers, "Range": "bytes=0-3"}, timeout=5)
    assert response.status_code == 206 and response.content == b"%PDF"
    assert response.headers["Content-Range"] == f"bytes 0-3/{len(body)}"
    assert response.headers["Content-Disposition"] == 'attachment; filename="rx.pdf"'
    response = requests.get(url, headers={**headers, "Range": "bytes=500-600"}, timeout=5)
    assert (response.status_code, response.json()["type"]) == (416, "storage_invalid_range")


def test_chunked_upload_is_parallel_and_exact(bucket):
    storage, bucket_id = bucket
    body = os.urandom(17 * 1024 * 1024 + 123)  # 4 chunks of 5 MiB, the SDK sends 3 of them in parallel
    file = storage.create_file(bucket_id, ID.unique(), InputFile.from_bytes(body, "big.bin"))
    assert (file.chunkstotal, file.chunksuploaded, file.sizeoriginal) == (4, 4, len(body))
    assert file.signature == hashlib.md5(body).hexdigest()
    assert storage.get_file_download(bucket_id, file.id) == body


def test_upload_errors(bucket):
    storage, bucket_id = bucket
    err = error_of(storage.create_file, bucket_id, ID.unique(), InputFile.from_bytes(b"x", "evil.exe"))
    assert (err.code, err.type) == (400, "storage_file_type_unsupported")
    storage.update_bucket(
        bucket_id,
        "Tiny",
        maximum_file_size=10,
        allowed_file_extensions=["txt"],
        file_security=True,
        permissions=[Permission.create(Role.users())],
    )
    err = error_of(storage.create_file, bucket_id, ID.unique(), InputFile.from_bytes(b"x" * 11, "a.txt"))
    assert (err.code, err.type) == (400, "storage_invalid_file_size")
    file_id = ID.unique()
    storage.create_file(bucket_id, file_id, InputFile.from_bytes(b"hello", "a.txt"))
    err = error_of(storage.create_file, bucket_id, file_id, InputFile.from_bytes(b"again", "a.txt"))
    assert (err.code, err.type) == (409, "storage_file_already_exists")
    assert error_of(storage.get_file, bucket_id, "missing").type == "storage_file_not_found"


def test_file_permissions(bucket, people, guest):
    storage, bucket_id = bucket
    alice, bob = people.create("Alice"), people.create("Bob")
    as_alice, as_bob = Storage(people.session_client(alice)), Storage(people.session_client(bob))
    mine = as_alice.create_file(bucket_id, ID.unique(), InputFile.from_bytes(b"alice data", "a.txt"))
    assert f'read("user:{alice["id"]}")' in mine.permissions
    assert as_alice.get_file_download(bucket_id, mine.id) == b"alice data"
    err = error_of(as_bob.get_file, bucket_id, mine.id)
    assert (err.code, err.type) == (404, "storage_file_not_found")
    assert as_bob.list_files(bucket_id).total == 0
    assert error_of(as_bob.delete_file, bucket_id, mine.id).code == 401
    err = error_of(Storage(guest).create_file, bucket_id, ID.unique(), InputFile.from_bytes(b"x", "g.txt"))
    assert (err.code, err.type) == (401, "user_unauthorized")
    shared = as_alice.update_file(
        bucket_id, mine.id, permissions=[Permission.read(Role.users()), Permission.delete(Role.user(alice["id"]))]
    )
    assert 'read("users")' in shared.permissions
    assert as_bob.get_file_download(bucket_id, mine.id) == b"alice data"
    as_alice.delete_file(bucket_id, mine.id)
    assert error_of(storage.get_file, bucket_id, mine.id).type == "storage_file_not_found"
