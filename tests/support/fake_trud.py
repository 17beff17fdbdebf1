"""A local stand-in for the NHS TRUD API (a real HTTP server on loopback): the release list of item 24 and the
archive download, with TRUD's error answers for a bad key. It records every request path it served."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FakeTrud:
    def __init__(self, valid_key: str = "good-key"):
        self.valid_key = valid_key
        self.archive: Path | None = None
        self.sha256_override: str | None = None  # publish a wrong checksum
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                fake.requests.append(self.path)
                parts = self.path.split("?")[0].strip("/").split("/")
                key = parts[parts.index("keys") + 1] if "keys" in parts else ""
                if key != fake.valid_key:
                    body = {"apiVersion": "1", "httpStatus": 400, "message": "Invalid API key"}
                    return self._send(400, json.dumps(body).encode())
                if parts[:2] == ["trud", "api"] and parts[-1] == "releases":
                    if parts[-2] != "24":
                        return self._send(404, b'{"httpStatus": 404, "message": "Not found"}')
                    return self._send(200, json.dumps({"apiVersion": "1", "releases": [fake.release()]}).encode())
                if parts[:2] == ["download", "api"] and fake.archive and parts[-1] == fake.archive.name:
                    return self._send(200, fake.archive.read_bytes(), "application/zip")
                return self._send(404, b'{"httpStatus": 404, "message": "Not found"}')

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def release(self) -> dict:
        assert self.archive is not None
        data = self.archive.read_bytes()
        name = self.archive.name
        version = name.split("_")[2]
        return {
            "id": name,
            "name": f"Release {version}",
            "releaseDate": "2026-11-16",
            "archiveFileUrl": f"{self.base_url}/download/api/v1/keys/{self.valid_key}/content/items/24/{name}",
            "archiveFileName": name,
            "archiveFileSizeBytes": len(data),
            "archiveFileSha256": self.sha256_override or hashlib.sha256(data).hexdigest().upper(),
            "archiveFileLastModifiedTimestamp": "2026-11-16T05:30:06Z",
        }

    def start(self) -> FakeTrud:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
