"""File bytes on disk: `<data>/storage/<bucket>/<file>` plus chunk parts while an upload is in progress."""

from __future__ import annotations

import hashlib
import mimetypes
import shutil
from pathlib import Path

CHUNK_SIZE = 5 * 1024 * 1024  # APP_LIMIT_UPLOAD_CHUNK_SIZE

_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
    (b"RIFF", "image/webp"),
)


class FileStore:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, bucket_id: str, file_id: str) -> Path:
        return self.root / bucket_id / file_id

    def _chunk_dir(self, bucket_id: str, file_id: str) -> Path:
        return self.root / ".chunks" / bucket_id / file_id

    def write_whole(self, bucket_id: str, file_id: str, data: bytes) -> None:
        target = self.path(bucket_id, file_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(target)

    def write_chunk(self, bucket_id: str, file_id: str, number: int, data: bytes) -> None:
        folder = self._chunk_dir(bucket_id, file_id)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{number}.part"
        tmp.write_bytes(data)
        tmp.replace(folder / str(number))

    def assemble(self, bucket_id: str, file_id: str, total: int) -> None:
        folder = self._chunk_dir(bucket_id, file_id)
        target = self.path(bucket_id, file_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        with tmp.open("wb") as out:
            for number in range(1, total + 1):
                with (folder / str(number)).open("rb") as part:
                    shutil.copyfileobj(part, out, 1024 * 1024)
        tmp.replace(target)
        shutil.rmtree(folder, ignore_errors=True)

    def describe(self, bucket_id: str, file_id: str, name: str) -> tuple[str, str, int]:
        """(md5 signature, mime type, size) of a stored file."""
        target = self.path(bucket_id, file_id)
        digest = hashlib.md5()
        with target.open("rb") as handle:
            head = handle.read(16)
            digest.update(head)
            for block in iter(lambda: handle.read(1024 * 1024), b""):
                digest.update(block)
        mime = next((m for magic, m in _MAGIC if head.startswith(magic)), None)
        if mime is None:
            mime = mimetypes.guess_type(name)[0] or (
                "text/plain" if _looks_like_text(head) else "application/octet-stream"
            )
        return digest.hexdigest(), mime, target.stat().st_size

    def read(self, bucket_id: str, file_id: str, start: int = 0, end: int | None = None) -> bytes:
        with self.path(bucket_id, file_id).open("rb") as handle:
            handle.seek(start)
            return handle.read() if end is None else handle.read(end - start + 1)

    def delete(self, bucket_id: str, file_id: str) -> None:
        self.path(bucket_id, file_id).unlink(missing_ok=True)
        shutil.rmtree(self._chunk_dir(bucket_id, file_id), ignore_errors=True)

    def delete_bucket(self, bucket_id: str) -> None:
        shutil.rmtree(self.root / bucket_id, ignore_errors=True)
        shutil.rmtree(self.root / ".chunks" / bucket_id, ignore_errors=True)


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head
