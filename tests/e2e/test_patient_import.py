"""patient-import through the real server, executor and SDK, with the files in test_data/patients/."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from appwrite.query import Query
from appwrite.services.storage import Storage
from appwrite.services.tables_db import TablesDB
from scripts import make_patient_test_data

from rxcore import clinics
from tests.support.local_server import REPO

DATA = REPO / "test_data" / "patients"
UK_MAPPING = make_patient_test_data.UK_MAPPING
AU_MAPPING = {
    "Medicare": "medicare_number",
    "IRN": "medicare_irn",
    "IHI": "ihi",
    "Given": "given_name",
    "Family": "family_name",
    "Born": "date_of_birth",
    "State": "state",
    "Postcode": "postcode",
    "Phone": "phone",
}


@pytest.fixture
def clinic(rx):
    """A fresh UK clinic per test, run by the world's owner, so counts never depend on test order."""
    return clinics.create_clinic(
        rx.admin, name="Import Clinic", country="UK", admin_user_id=rx.people["owner"].id, ods_code="C83003"
    )["$id"]


def upload(rx, name: str, who: str = "owner") -> str:
    return rx.upload_patients(DATA / name, who)


def run(rx, clinic_id, name=None, file_id=None, who="owner", mapping=UK_MAPPING, **extra):
    body = make_patient_test_data.import_request(clinic_id, file_id or upload(rx, name), mapping) | extra
    return rx.execute(who, "patient-import", body)


def patients_of(rx, clinic_id):
    return rx.tables.list("patients", [Query.equal("clinic_id", clinic_id), Query.limit(1000)])


def counts(batch):
    return {k: batch[k] for k in ("rows", "created", "updated", "skipped", "failed", "warnings")}


def report(rx, batch, who="owner"):
    content = Storage(rx.people[who].client).get_file_download("import_reports", batch["report_file_id"])
    return list(csv.DictReader(io.StringIO(content.decode())))


def test_valid_file_imports_every_row(rx, clinic):
    code, answer = run(rx, clinic, "valid_uk.csv")
    assert code == 200, answer
    batch = answer["batch"]
    assert batch["status"] == "completed" and answer["replayed"] is False
    assert counts(batch) == {"rows": 10, "created": 10, "updated": 0, "skipped": 0, "failed": 0, "warnings": 0}
    rows = patients_of(rx, clinic)
    assert len(rows) == 10
    first = next(r for r in rows if r["given_name"] == "Olivia")
    assert (
        first["nhs_number"].startswith("999")
        and first["postcode"] == "LS1 4AP"
        and first["phone"].startswith("+447400")
    )
    assert first["date_of_birth"] == "1940-01-01" and first["sex"] == "male"
    assert report(rx, batch) == []
    # the clinic's staff read the batch and the patients; another clinic's staff do not
    assert (
        rx.execute("owner", "patient-import", {"action": "status", "batchId": batch["$id"]})[1]["batch"]["created"]
        == 10
    )
    code, hidden = rx.execute("pharmacist2", "patient-import", {"action": "status", "batchId": batch["$id"]})
    assert (code, hidden["type"]) == (404, "clinic_not_found")


def test_bad_rows_are_reported_line_by_line(rx, clinic):
    code, answer = run(rx, clinic, "bad_rows_uk.csv")
    assert code == 200, answer
    batch = answer["batch"]
    assert counts(batch) == {"rows": 12, "created": 3, "updated": 0, "skipped": 0, "failed": 9, "warnings": 2}
    errors = [(r["line"], r["column"], r["severity"]) for r in report(rx, batch)]
    assert errors == [
        ("3", "NHS Number", "error"),
        ("4", "DOB", "error"),
        ("5", "Postcode", "error"),
        ("6", "Email", "error"),
        ("7", "Mobile", "error"),
        ("8", "Surname", "error"),
        ("9", "NHS Number", "error"),
        ("10", "Email", "warning"),
        ("11", "DOB", "warning"),
        ("12", "NHS Number", "error"),
        ("13", "Sex", "error"),
    ]
    rows = {r["line"]: r for r in report(rx, batch)}
    assert rows["3"]["value"] == "943 476 5918" and "check digit" in rows["3"]["message"]
    assert rows["4"]["value"] == "01/01/2999" and "future" in rows["4"]["message"]
    assert "line 2" in rows["9"]["message"]
    assert "disposable" in rows["10"]["message"] and "age" in rows["11"]["message"]
    assert len(patients_of(rx, clinic)) == 3


@pytest.mark.parametrize("name, rows", [("bom_crlf_uk.csv", 3), ("semicolons_uk.csv", 5), ("patients_uk.xlsx", 6)])
def test_file_formats(rx, clinic, name, rows):
    code, answer = run(rx, clinic, name)
    assert code == 200, answer
    assert counts(answer["batch"]) == {
        "rows": rows,
        "created": rows,
        "updated": 0,
        "skipped": 0,
        "failed": 0,
        "warnings": 0,
    }
    imported = patients_of(rx, clinic)
    assert len(imported) == rows and all(len(p["nhs_number"]) == 10 for p in imported)
    if name == "bom_crlf_uk.csv":  # the BOM is not part of the first column; a quoted newline stays in the field
        assert any(p["address"] == 'Flat 2 10 Quay Street, "The Docks"' for p in imported)
    if name == "patients_uk.xlsx":  # number and date cells read as text
        assert all(p["date_of_birth"][4] == "-" for p in imported)


def test_duplicates_in_the_file_and_in_the_clinic(rx, clinic):
    assert run(rx, clinic, "valid_uk.csv")[0] == 200
    code, answer = run(rx, clinic, "duplicates_uk.csv")
    assert counts(answer["batch"]) == {"rows": 4, "created": 1, "updated": 0, "skipped": 2, "failed": 1, "warnings": 0}
    assert [(r["line"], r["column"]) for r in report(rx, answer["batch"])] == [("5", "NHS Number")]
    assert len(patients_of(rx, clinic)) == 11
    # upsert updates a changed row instead of skipping it
    code, answer = run(rx, clinic, "duplicates_uk.csv", mode="upsert")
    assert counts(answer["batch"])["skipped"] == 3  # nothing changed since


def test_same_file_again_creates_nothing_twice(rx, clinic):
    code, first = run(rx, clinic, "valid_uk.csv")
    before = {p["$id"]: p["$updatedAt"] for p in patients_of(rx, clinic)}
    code, again = run(rx, clinic, "valid_uk.csv")  # uploaded again as a new file: same content, same batch
    assert again["replayed"] is True and again["batch"]["$id"] == first["batch"]["$id"]
    assert {p["$id"]: p["$updatedAt"] for p in patients_of(rx, clinic)} == before
    code, dry = run(rx, clinic, "valid_uk.csv", dryRun=True)  # a dry run is its own batch and writes nothing
    assert dry["batch"]["$id"] != first["batch"]["$id"] and counts(dry["batch"])["skipped"] == 10


def test_dry_run_writes_no_patients(rx, clinic):
    code, answer = run(rx, clinic, "bad_rows_uk.csv", dryRun=True)
    assert counts(answer["batch"])["created"] == 3 and answer["batch"]["dry_run"] is True
    assert patients_of(rx, clinic) == [] and len(report(rx, answer["batch"])) == 11


def test_a_batch_stopped_part_way_resumes(rx, clinic):
    file_id = upload(rx, "valid_uk.csv")
    code, done = run(rx, clinic, file_id=file_id)
    batch = done["batch"]
    written = sorted(patients_of(rx, clinic), key=lambda p: p["$createdAt"])
    # Leave things as a run that died after line 6 leaves them: the batch running with a stale heartbeat and
    # its progress at line 6; rows after it never written.
    lines = {p["given_name"]: p for p in written}
    first_five = {p["$id"]: p["$updatedAt"] for p in written[:5]}
    for patient in written[5:]:
        TablesDB(rx.admin).delete_row("main", "patients", patient["$id"])
    stale = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    rx.tables.update(
        "patient_imports",
        batch["$id"],
        {"status": "running", "heartbeat_at": stale, "cursor": 6, "rows": 5, "created": 5, "report_file_id": None},
    )
    code, resumed = run(rx, clinic, file_id=file_id)
    assert code == 200 and resumed["replayed"] is False
    assert counts(resumed["batch"]) == {
        "rows": 10,
        "created": 10,
        "updated": 0,
        "skipped": 0,
        "failed": 0,
        "warnings": 0,
    }
    after = patients_of(rx, clinic)
    assert len(after) == 10 and {p["given_name"] for p in after} == set(lines)
    assert {p["$id"]: p["$updatedAt"] for p in after if p["$id"] in first_five} == first_five  # not rewritten
    # a batch that is still alive is not run twice (alive: without a recorded execution, a fresh heartbeat; with
    # one, an execution still running: tests/e2e/test_crash_safety.py shows a dead one frees the batch at once)
    rx.tables.update(
        "patient_imports",
        batch["$id"],
        {"status": "running", "heartbeat_at": rx.server.now().isoformat(), "execution_id": None},  # the server's clock
    )
    code, busy = run(rx, clinic, file_id=file_id)
    assert (code, busy.get("type")) == (409, "import_in_progress"), busy


def test_australian_identifiers(rx):
    clinic = clinics.create_clinic(
        rx.admin,
        name="AU Import",
        country="AU",
        admin_user_id=rx.people["owner"].id,
        hpio="8003620000000013",
        state="NSW",
    )["$id"]
    code, answer = run(rx, clinic, "au_patients.csv", mapping=AU_MAPPING)
    assert code == 200, answer
    assert counts(answer["batch"]) == {"rows": 5, "created": 3, "updated": 0, "skipped": 0, "failed": 2, "warnings": 0}
    assert [(r["line"], r["column"]) for r in report(rx, answer["batch"])] == [("5", "Medicare"), ("6", "Medicare")]
    imported = {p["given_name"]: p for p in patients_of(rx, clinic)}
    assert imported["Liam"]["medicare_irn"] == "1" and imported["Ava"]["state"] == "QLD"
    assert imported["Liam"]["phone"] == "+61412345678"


def test_refusals(rx, clinic):
    code, answer = run(rx, clinic, "valid_uk.csv", who="stranger")
    assert (code, answer["type"]) == (404, "clinic_not_found")
    code, answer = run(rx, clinic, "valid_uk.csv", mapping={"NHS Number": "nhs_number", "Nope": "given_name"})
    assert (code, answer["type"]) == (400, "general_argument_invalid") and "Nope" in answer["message"]
    code, answer = run(rx, clinic, "valid_uk.csv", mapping={"NHS Number": "password"})
    assert (code, answer["type"]) == (400, "general_argument_invalid")
    code, answer = run(rx, clinic, file_id="missing")
    assert (code, answer["type"]) == (404, "storage_file_not_found")
    someone_elses = upload(rx, "valid_uk.csv", who="pharmacist2")  # another clinic's upload
    code, answer = run(rx, clinic, file_id=someone_elses)
    assert (code, answer["type"]) == (404, "storage_file_not_found")
    code, answer = run(rx, clinic, "valid_uk.csv", mode="merge")
    assert (code, answer["type"]) == (400, "general_argument_invalid")
    assert patients_of(rx, clinic) == []
    json.dumps(answer)


def test_a_batch_whose_run_is_alive_is_not_run_twice(rx, clinic, tmp_path):
    import time
    from concurrent.futures import ThreadPoolExecutor

    from appwrite.services.functions import Functions

    path = tmp_path / "big.csv"
    make_patient_test_data.large(path, 4000)
    file_id = rx.upload_patients(path)
    body = make_patient_test_data.import_request(clinic, file_id)
    # Two warm workers first (two refused requests at once), so the second call below does not wait for a cold
    # start (the function imports pandas) long enough for the first run to finish.
    with ThreadPoolExecutor(2) as pool:
        warm = list(pool.map(lambda _: rx.execute("owner", "patient-import", {"fileId": "x"})[0], range(2)))
    assert warm == [400, 400]
    first = Functions(rx.people["owner"].client).create_execution("patient-import", json.dumps(body), xasync=True)
    deadline = time.monotonic() + 30
    while not rx.tables.list("patient_imports", [Query.equal("clinic_id", clinic)]):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    code, busy = rx.execute("owner", "patient-import", body)
    assert (code, busy.get("type")) == (409, "import_in_progress"), busy
    while Functions(rx.admin).get_execution("patient-import", first.id).status.value in ("waiting", "processing"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    code, done = rx.execute("owner", "patient-import", body)
    assert code == 200 and done["replayed"] is True and done["batch"]["created"] == 4000


def test_the_error_report_never_carries_a_live_formula(rx, clinic, tmp_path):
    """Issue 14.8: a cell such as =HYPERLINK(...) comes back in the report as text, not as a formula."""
    path = tmp_path / "formula.csv"
    formula = '=HYPERLINK("http://evil.example","Click")'
    make_patient_test_data.write_csv(
        path, [make_patient_test_data.HEADER, [formula, "Eve", "Smith", "01/01/1980", "F", "LS1 4AP", "", "", ""]]
    )
    file_id = rx.upload_patients(path)
    code, answer = run(rx, clinic, file_id=file_id)
    assert code == 200 and answer["batch"]["failed"] == 1, answer
    values = [row["value"] for row in report(rx, answer["batch"])]
    assert "'" + formula in values and formula not in values
