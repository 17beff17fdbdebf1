"""trud-medicine-sync end to end: the real function in the real executor, writing through the local server's API,
driven with the official SDK. The tests run in order on one platform server: TRUD first, then uploaded releases
derived from it, then an interrupted sync and bad archives."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import zipfile

import pytest
from appwrite.client import Client
from appwrite.id import ID
from appwrite.input_file import InputFile
from appwrite.query import Query
from appwrite.services.account import Account
from appwrite.services.functions import Functions
from appwrite.services.storage import Storage
from appwrite.services.tables_db import TablesDB
from appwrite.services.users import Users
from scripts.dmdgen.derive import derive
from scripts.dmdgen.model import build
from scripts.dmdgen.writer import release_name, write_zip

from rxcore.dmd.appwrite_store import AppwriteCatalogue
from rxcore.dmd.archive import ReleaseArchive
from rxcore.dmd.catalogue import CatalogueBuilder
from rxcore.dmd.sync import DmdSync, Source, digest
from tests.conftest import start_platform
from tests.support.fake_trud import FakeTrud
from tests.support.local_server import REPO
from tests.support.sdk import error_of, set_function_variable, val

pytestmark = pytest.mark.e2e
FUNCTION = "trud-medicine-sync"
SMALL = REPO / "test_data" / "dmd" / "nhsbsa_dmd_11.2.0_20261116000001.zip"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A platform of its own: a sync retires every medicine its release lacks, which would take the catalogue the
    other product tests prescribe from (tests/support/rx_world.py) whatever order the modules run in."""
    instance = start_platform(tmp_path_factory)
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def platform_admin(platform) -> Client:
    return Client().set_endpoint(platform.endpoint).set_project(platform.project_id).set_key(platform.api_key)


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """The committed small release (generation 0) and the next two weeks derived from it, with their diffs."""
    folder = tmp_path_factory.mktemp("dmd")
    release = build(1, "small", dt.date(2026, 11, 16))
    out = {"gen0": (SMALL, None)}
    for generation in (1, 2):
        diff = derive(release)
        path = folder / release_name(release)
        write_zip(release, str(path))
        out[f"gen{generation}"] = (path, diff)
    return out


@pytest.fixture(scope="module")
def trud(platform_admin):
    fake = FakeTrud().start()
    set_variable(platform_admin, "TRUD_API_BASE_URL", fake.base_url)
    set_variable(platform_admin, "TRUD_API_KEY", "wrong-key")
    yield fake
    fake.stop()


def set_variable(admin: Client, key: str, value: str) -> None:
    set_function_variable(admin, FUNCTION, key, value, secret=key.endswith("KEY"))


@pytest.fixture(scope="module")
def pharmacy_admin(platform, platform_admin) -> Client:
    """A signed-in user with the `admin` label (the function's execute permission)."""
    user_id = ID.unique()
    Users(platform_admin).create(user_id, email=f"{user_id}@example.test", password="correct-horse-battery")
    Users(platform_admin).update_labels(user_id, ["admin"])
    session = Account(platform_admin).create_email_password_session(f"{user_id}@example.test", "correct-horse-battery")
    return Client().set_endpoint(platform.endpoint).set_project(platform.project_id).set_session(session.secret)


@pytest.fixture(scope="module")
def clinician(platform, platform_admin) -> Client:
    user_id = ID.unique()
    Users(platform_admin).create(user_id, email=f"{user_id}@example.test", password="correct-horse-battery")
    session = Account(platform_admin).create_email_password_session(f"{user_id}@example.test", "correct-horse-battery")
    return Client().set_endpoint(platform.endpoint).set_project(platform.project_id).set_session(session.secret)


def execute(client: Client, body: dict) -> tuple[int, dict]:
    execution = Functions(client).create_execution(FUNCTION, json.dumps(body))
    code = int(execution.responsestatuscode)
    # Appwrite marks an execution "failed" when the function answers with a 5xx status.
    assert val(execution.status) == ("completed" if code < 500 else "failed")
    return code, json.loads(execution.responsebody)


def upload(admin: Client, path) -> str:
    return Storage(admin).create_file("dmd_uploads", ID.unique(), InputFile.from_path(str(path))).id


def all_rows(admin: Client, table: str) -> dict[str, dict]:
    store = AppwriteCatalogue(admin)
    try:
        return {row["$id"]: row for row in store.tables.each(table, [])}
    finally:
        store.close()


def complete_releases(admin: Client) -> list[str]:
    rows = TablesDB(admin).list_rows("main", "dmd_releases", [Query.equal("status", "complete")]).rows
    return [r.id for r in rows]


def expected_rows(path) -> dict[str, str]:
    """id -> digest of every medicines row a clean sync of `path` must leave (computed from the release itself)."""
    archive = ReleaseArchive(str(path))
    try:
        return {row["$id"]: digest(row) for table, row in CatalogueBuilder(archive).rows() if table == "medicines"}
    finally:
        archive.close()


def test_a_bad_trud_key_is_a_clear_error_and_nothing_is_marked_complete(platform_admin, pharmacy_admin, trud):
    trud.archive = SMALL
    code, body = execute(pharmacy_admin, {"action": "sync"})
    assert code == 502 and body["type"] == "trud_key_invalid" and "TRUD_API_KEY" in body["message"]
    assert "wrong-key" not in json.dumps(body)  # the key is never echoed
    assert complete_releases(platform_admin) == []


def test_only_admins_may_execute_the_sync(clinician, guest_of_platform):
    for client in (clinician, guest_of_platform):
        error = error_of(Functions(client).create_execution, FUNCTION, json.dumps({"action": "status"}))
        assert error.code == 401


@pytest.fixture
def guest_of_platform(platform) -> Client:
    return Client().set_endpoint(platform.endpoint).set_project(platform.project_id)


def test_sync_from_trud_then_unchanged_release_is_skipped_without_download(platform_admin, pharmacy_admin, trud):
    set_variable(platform_admin, "TRUD_API_KEY", "good-key")
    trud.requests.clear()
    code, body = execute(pharmacy_admin, {"action": "sync"})
    assert code == 200 and body["status"] == "complete", body
    assert body["release"] == "11.2.0_20261116000001"
    assert any(p.startswith("/download/") for p in trud.requests)
    assert body["counts"]["medicines"] == {
        "vtm": {"records": 30, "written": 30},
        "vmp": {"records": 70, "written": 70},
        "vmpp": {"records": 105, "written": 105},
        "amp": {"records": 240, "written": 240},
        "ampp": {"records": 270, "written": 270},
    }
    assert body["counts"]["records_parsed"]["gtindata"] == 150 and body["counts"]["orphans"] == {}
    rows = all_rows(platform_admin, "medicines")
    assert {k: d for k, d in ((i, r["digest"]) for i, r in rows.items())} == expected_rows(SMALL)

    release = TablesDB(platform_admin).get_row("main", "dmd_releases", "11.2.0_20261116000001")
    assert (
        release.data["status"] == "complete"
        and release.data["sha256"] == hashlib.sha256(SMALL.read_bytes()).hexdigest()
    )
    assert release.data["version"] == "11.2.0" and release.data["release_date"].startswith("2026-11-16")
    assert "good-key" not in release.data["trud"]  # provenance keeps TRUD's JSON without the keyed URLs

    trud.requests.clear()
    code, body = execute(pharmacy_admin, {"action": "sync"})
    assert code == 200 and body == {"status": "skipped", "release": "11.2.0_20261116000001", "reason": "unchanged"}
    assert not any(p.startswith("/download/") for p in trud.requests)

    code, status = execute(pharmacy_admin, {"operation": "status"})  # the deprecated selector still works
    assert status["lastComplete"]["$id"] == "11.2.0_20261116000001"
    assert status["lastComplete"]["counts"]["medicines"]["ampp"]["records"] == 270


def test_rows_carry_the_catalogue_fields_clients_need(platform_admin):
    rows = all_rows(platform_admin, "medicines")
    morphine = next(r for r in rows.values() if r["type"] == "vmp" and r["name"].startswith("Morphine sulfate"))
    assert morphine["cd_schedule"] == "2" and morphine["controlled"] is True
    assert morphine["cd_category"] == "Schedule 2 (CD)" and morphine["vtm_code"]
    packs = [r for r in rows.values() if r["type"] == "ampp" and r["vmp_code"] == morphine["code"]]
    assert packs and all(p["cd_schedule"] == "2" and p["legal_category"] == "POM" for p in packs)
    pack = packs[0]
    amp = rows[pack["amp_code"]]
    assert amp["vmp_code"] == morphine["code"] and rows[pack["vmpp_code"]]["vmp_code"] == morphine["code"]
    assert pack["supplier"] == amp["supplier"] and pack["form"] == morphine["form"] == "oral solution"
    details = json.loads(pack["details"])
    assert int(details["PRICE_INFO"][0]["PRICE"]) == pack["price_pence"]
    gtin_packs = [
        r for r in rows.values() if r["type"] == "ampp" and len(json.loads(r["details"]).get("GTINDATA", [])) == 2
    ]
    assert gtin_packs, "the release has packs with an expired and a current GTIN"
    for row in gtin_packs:
        old, new = json.loads(row["details"])["GTINDATA"]
        assert old["ENDDT"] and "ENDDT" not in new and row["gtin"] == new["GTIN"]
    assert any(r["gtin"] and r["gtin"].startswith("0") and len(r["gtin"]) == 14 for r in rows.values())
    assert any("Théa" in (r["supplier"] or "") for r in rows.values())
    assert any("&" in (r["supplier"] or "") for r in rows.values())
    assert {r["legal_category"] for r in rows.values() if r["type"] == "ampp"} == {"GSL", "P", "POM", "NA"}
    assert any(r["discontinued"] and not r["available"] for r in rows.values())
    lookups = all_rows(platform_admin, "dmd_lookups")
    assert len(lookups) == 211 and any(r["table"] == "SUPPLIER" and r["invalid"] for r in lookups.values())
    assert len(all_rows(platform_admin, "dmd_ingredients")) == 40


def test_medicine_search_for_a_signed_in_clinician(clinician, guest_of_platform, platform_admin):
    tables = TablesDB(clinician)
    found = tables.list_rows("main", "medicines", [Query.search("name", "morphine"), Query.equal("type", "vmp")])
    assert found.total >= 1 and all("Morphine" in r.data["name"] for r in found.rows)
    code = found.rows[0].id
    assert tables.get_row("main", "medicines", code).data["code"] == code  # lookup by code
    pack = tables.list_rows("main", "medicines", [Query.is_not_null("gtin"), Query.limit(1)]).rows[0]
    by_gtin = tables.list_rows("main", "medicines", [Query.equal("gtin", pack.data["gtin"])])
    assert [r.id for r in by_gtin.rows] == [pack.id]
    controlled = tables.list_rows(
        "main",
        "medicines",
        [
            Query.equal("type", "ampp"),
            Query.equal("controlled", True),
            Query.equal("available", True),
            Query.equal("legal_category", "POM"),
            Query.limit(100),
        ],
    )
    assert controlled.total > 0 and all(r.data["cd_schedule"] for r in controlled.rows)
    tablets = tables.list_rows("main", "medicines", [Query.equal("form", "tablets"), Query.limit(5)])
    assert tablets.total > 0 and all(r.data["form"] == "tablets" for r in tablets.rows)
    assert error_of(TablesDB(guest_of_platform).list_rows, "main", "medicines").code == 401
    # provenance is for admins
    assert error_of(TablesDB(clinician).list_rows, "main", "dmd_releases").code == 401


def test_a_derived_release_changes_adds_and_retires_exactly(platform_admin, pharmacy_admin, releases):
    before = all_rows(platform_admin, "medicines")
    path, diff = releases["gen1"]
    code, body = execute(
        pharmacy_admin, {"action": "sync", "bucketId": "dmd_uploads", "fileId": upload(platform_admin, path)}
    )
    assert code == 200 and body["status"] == "complete", body
    key = body["release"]
    assert key == path.name[len("nhsbsa_dmd_") : -4]
    after = all_rows(platform_admin, "medicines")
    touched = {row_id for row_id, row in after.items() if row["release"] == key}
    added = set().union(*diff.added.values())
    changed = set().union(*diff.changed.values())
    removed = set().union(*diff.removed.values())
    assert touched == added | changed | removed
    assert added == set(after) - set(before)
    assert all(after[i]["retired"] and not after[i]["available"] for i in removed)
    assert not any(after[i]["retired"] for i in set(after) - removed)
    for row_id in set(before) - touched:
        assert after[row_id] == before[row_id]  # untouched rows are not rewritten
    for appid in diff.changed["ampp"]:
        price = int(json.loads(after[appid]["details"])["PRICE_INFO"][0]["PRICE"])
        assert after[appid]["price_pence"] == price
    assert body["counts"]["tables"]["medicines"]["retired"] == len(removed)
    live = {i: r["digest"] for i, r in after.items() if not r["retired"]}
    assert live == expected_rows(path)


def test_an_interrupted_sync_is_never_complete_and_a_rerun_ends_like_a_clean_one(
    platform_admin, pharmacy_admin, releases
):
    path, diff = releases["gen2"]

    class Crash(BaseException):
        """Stands for the process dying mid-sync (not an exception the sync could record)."""

    class CrashingStore(AppwriteCatalogue):
        writes = 0

        def upsert(self, table, row):
            CrashingStore.writes += 1
            if CrashingStore.writes > 12:
                raise Crash
            super().upsert(table, row)

    store = CrashingStore(platform_admin, batch_size=5)  # two batches reach the server, then the crash
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(Crash):
        DmdSync(store, log=lambda _: None).run(Source(str(path), path.name, sha, path.stat().st_size, "test"))
    store.close()
    key = path.name[len("nhsbsa_dmd_") : -4]
    assert key not in complete_releases(platform_admin)
    assert TablesDB(platform_admin).get_row("main", "dmd_releases", key).data["status"] == "running"

    file_id = upload(platform_admin, path)
    code, body = execute(pharmacy_admin, {"action": "sync", "bucketId": "dmd_uploads", "fileId": file_id})
    assert code == 409 and body["type"] == "dmd_sync_running"  # looks alive: no second writer
    code, body = execute(
        pharmacy_admin, {"action": "sync", "bucketId": "dmd_uploads", "fileId": file_id, "force": True}
    )
    assert code == 200 and body["status"] == "complete", body
    assert body["counts"]["tables"]["medicines"]["written"] < body["counts"]["tables"]["medicines"]["records"]
    after = all_rows(platform_admin, "medicines")
    assert {i: r["digest"] for i, r in after.items() if not r["retired"]} == expected_rows(path)
    assert {i for i in set().union(*diff.removed.values())} <= {i for i, r in after.items() if r["retired"]}
    assert key in complete_releases(platform_admin)


def broken_archive(tmp_path, kind: str):
    path = tmp_path / f"nhsbsa_dmd_12.0.0_2026120{len(kind)}000001.zip"
    if kind == "not a zip":
        path.write_bytes(b"this is not a zip archive at all")
        return path
    with zipfile.ZipFile(SMALL) as source, zipfile.ZipFile(path, "w") as out:
        for item in source.infolist():
            data = source.read(item)
            if kind == "missing file" and item.filename.startswith("f_vmp2"):
                continue
            if kind == "malformed XML" and item.filename.startswith("f_amp2"):
                data = data[: len(data) // 2]  # cut off mid-file
            out.writestr(item, data)
    return path


@pytest.mark.parametrize(
    "kind,status,error_type,needle",
    [
        ("not a zip", 400, "dmd_archive_invalid", "not a readable zip"),
        ("missing file", 400, "dmd_archive_invalid", "missing the vmp file"),
        ("malformed XML", 400, "dmd_archive_invalid", "f_amp2_3121126.xml: malformed XML"),
    ],
)
def test_bad_archives_give_clear_errors_and_are_never_complete(
    tmp_path, platform_admin, pharmacy_admin, kind, status, error_type, needle
):
    path = broken_archive(tmp_path, kind)
    code, body = execute(
        pharmacy_admin, {"action": "sync", "bucketId": "dmd_uploads", "fileId": upload(platform_admin, path)}
    )
    assert (code, body["type"]) == (status, error_type) and needle in body["message"]
    assert path.name[len("nhsbsa_dmd_") : -4] not in complete_releases(platform_admin)


def test_a_wrong_checksum_from_trud_is_refused(platform_admin, pharmacy_admin, trud, tmp_path, releases):
    trud.archive = releases["gen2"][0]
    trud.sha256_override = "AB" * 32
    try:
        code, body = execute(pharmacy_admin, {"action": "sync", "force": True})
    finally:
        trud.sha256_override = None
    assert code == 502 and body["type"] == "dmd_checksum_mismatch" and "nothing was synced" in body["message"]


def test_bad_requests_are_appwrite_shaped(pharmacy_admin):
    assert execute(pharmacy_admin, {"action": "rebuild"})[1]["type"] == "general_argument_invalid"
    code, body = execute(pharmacy_admin, {"action": "sync", "bucketId": "dmd_uploads"})
    assert code == 400 and "bucketId" in body["message"]
    code, body = execute(pharmacy_admin, {"action": "sync", "force": "yes"})
    assert code == 400 and "force" in body["message"]
    assert os.environ.get("TRUD_API_KEY") is None  # the tests never need a real key
