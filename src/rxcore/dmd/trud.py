"""The NHS TRUD API (https://isd.digital.nhs.uk/trud/api/v1): find the newest release of an item and download it,
checking size and SHA-256. The API key travels in every URL, so it is never logged or put in an error message.

TRUD's answers (dmd.md §5): 400 = invalid key, 401 = the key changed (account email or password changed),
404 = no such item or not subscribed; 429 and 5xx are retried with backoff."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from rxcore.errors import NotConfigured, ServiceError
from rxcore.retry import exponential, retry

DMD_ITEM = 24
RETRYABLE = {429, 500, 502, 503, 504}
CHUNK = 1 << 20


class TrudClient:
    def __init__(
        self,
        api_key: str,
        base_url: str = "https://isd.digital.nhs.uk",
        timeout: float = 60.0,
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not api_key:
            raise NotConfigured("trud_not_configured", "TRUD_API_KEY is not set for this function.")
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.sleep = sleep

    def _redact(self, text: str) -> str:
        return text.replace(self.api_key, "<key>")

    def _open(self, url: str):
        def worth_retrying(exc: BaseException) -> bool:
            if isinstance(exc, urllib.error.HTTPError):
                return exc.code in RETRYABLE
            return isinstance(exc, (urllib.error.URLError, TimeoutError, OSError))

        def attempt():
            return urllib.request.urlopen(url, timeout=self.timeout)  # noqa: S310 - https URL from TRUD

        try:
            return retry(
                attempt,
                worth_retrying=worth_retrying,
                attempts=self.retries + 1,
                pause=exponential(2.0, 60.0),
                sleep=self.sleep,
            )
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ServiceError(
                502, "trud_unavailable", f"TRUD could not be reached: {self._redact(str(exc))}"
            ) from None

    def _http_error(self, exc: urllib.error.HTTPError) -> ServiceError:
        try:
            detail = json.loads(exc.read() or b"{}").get("message", "")
        except (ValueError, AttributeError):
            detail = ""
        detail = self._redact(str(detail))
        suffix = f" TRUD said: {detail}" if detail else ""
        if exc.code == 400:
            return ServiceError(
                502, "trud_key_invalid", "TRUD rejected the API key (HTTP 400): check TRUD_API_KEY." + suffix
            )
        if exc.code == 401:
            return ServiceError(
                502,
                "trud_key_expired",
                "TRUD no longer accepts the API key (HTTP 401); it changes "
                "when the account's email or password changes." + suffix,
            )
        if exc.code == 404:
            return ServiceError(
                502,
                "trud_item_unavailable",
                f"TRUD item {DMD_ITEM} was not found (HTTP 404): the "
                "account may not be subscribed to NHSBSA dm+d." + suffix,
            )
        return ServiceError(502, "trud_unavailable", f"TRUD answered HTTP {exc.code}." + suffix)

    def latest_release(self, item: int = DMD_ITEM) -> dict[str, Any]:
        url = f"{self.base_url}/trud/api/v1/keys/{self.api_key}/items/{item}/releases?latest"
        with self._open(url) as response:
            try:
                releases = json.loads(response.read()).get("releases") or []
            except ValueError:
                raise ServiceError(502, "trud_unavailable", "TRUD returned a release list that is not JSON.") from None
        if not releases:
            raise ServiceError(502, "trud_item_unavailable", f"TRUD lists no releases for item {item}.")
        return releases[0]

    def download(self, release: dict[str, Any], path: str) -> str:
        """Stream the archive to `path`; returns its SHA-256 after checking it and the size against TRUD's."""
        sha = hashlib.sha256()
        size = 0
        with self._open(release["archiveFileUrl"]) as response, open(path, "wb") as out:
            while chunk := response.read(CHUNK):
                sha.update(chunk)
                size += len(chunk)
                out.write(chunk)
        expected_size = release.get("archiveFileSizeBytes")
        if expected_size is not None and int(expected_size) != size:
            raise ServiceError(
                502,
                "dmd_checksum_mismatch",
                f"Downloaded {size} bytes of {release.get('archiveFileName')}, TRUD says "
                f"{expected_size}; nothing was synced.",
            )
        expected_sha = (release.get("archiveFileSha256") or "").lower()
        if expected_sha and expected_sha != sha.hexdigest():
            raise ServiceError(
                502,
                "dmd_checksum_mismatch",
                f"The SHA-256 of {release.get('archiveFileName')} does not match TRUD's "
                f"({sha.hexdigest()[:16]}… vs {expected_sha[:16]}…); nothing was synced.",
            )
        return sha.hexdigest()

    def public_metadata(self, release: dict[str, Any]) -> dict[str, Any]:
        """The release JSON without the URLs (they contain the key)."""
        return {k: v for k, v in release.items() if not k.endswith("Url")}
