"""TRUD API client against a local stand-in: errors become clear messages and the key never leaks."""

from __future__ import annotations

import pytest

from rxcore.dmd.trud import TrudClient
from rxcore.errors import ServiceError
from tests.support.fake_trud import FakeTrud
from tests.support.local_server import REPO

SMALL = REPO / "test_data" / "dmd" / "nhsbsa_dmd_11.2.0_20261116000001.zip"


@pytest.fixture
def trud():
    fake = FakeTrud("secret-key").start()
    fake.archive = SMALL
    yield fake
    fake.stop()


def test_latest_release_and_verified_download(trud, tmp_path):
    client = TrudClient("secret-key", trud.base_url, sleep=lambda _: None)
    release = client.latest_release()
    assert release["archiveFileName"] == SMALL.name
    sha = client.download(release, str(tmp_path / "r.zip"))
    assert (tmp_path / "r.zip").read_bytes() == SMALL.read_bytes() and sha == release["archiveFileSha256"].lower()
    assert "archiveFileUrl" not in client.public_metadata(release)


@pytest.mark.parametrize(
    "key,item,error_type", [("bad-key", 24, "trud_key_invalid"), ("secret-key", 25, "trud_item_unavailable")]
)
def test_trud_errors_are_named_and_redacted(trud, key, item, error_type):
    with pytest.raises(ServiceError) as caught:
        TrudClient(key, trud.base_url, sleep=lambda _: None).latest_release(item)
    assert caught.value.type == error_type and caught.value.code == 502
    assert key not in caught.value.message


def test_size_or_checksum_mismatch_is_refused(trud, tmp_path):
    client = TrudClient("secret-key", trud.base_url, sleep=lambda _: None)
    release = client.latest_release()
    with pytest.raises(ServiceError, match="SHA-256"):
        client.download({**release, "archiveFileSha256": "00" * 32}, str(tmp_path / "a.zip"))
    with pytest.raises(ServiceError, match="bytes"):
        client.download({**release, "archiveFileSizeBytes": 1}, str(tmp_path / "b.zip"))


def test_no_key_configured():
    with pytest.raises(ServiceError) as caught:
        TrudClient("")
    assert caught.value.type == "trud_not_configured"
