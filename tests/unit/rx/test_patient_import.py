"""Reading spreadsheets and validating rows for patient-import."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import Workbook

from rxcore.patient_import.reader import FileInvalid, read_csv, read_table, read_xlsx
from rxcore.patient_import.validate import identity_key, validate_row

TODAY = date(2026, 11, 21)


def rows(content: bytes):
    header, records = read_csv(content)
    return header, list(records)


def test_csv_variants_give_the_same_records_with_file_line_numbers():
    plain = b'a,b\n1,"x"\n2,y\n'
    assert rows(plain) == (["a", "b"], [(2, {"a": "1", "b": "x"}), (3, {"a": "2", "b": "y"})])
    assert rows(b"\xef\xbb\xbfa,b\r\n1,x\r\n2,y\r\n")[1] == [(2, {"a": "1", "b": "x"}), (3, {"a": "2", "b": "y"})]
    assert rows(b"a;b\n1;x,z\n")[1] == [(2, {"a": "1", "b": "x,z"})]
    header, records = rows(b'a,b\n1,"two\r\nlines"\n2,y\n\n,\n3,z\n')
    assert records == [(2, {"a": "1", "b": "two\r\nlines"}), (4, {"a": "2", "b": "y"}), (7, {"a": "3", "b": "z"})]
    assert rows(b'"a;x",b\n1,2\n')[0] == ["a;x", "b"]  # a semicolon inside quotes does not decide


@pytest.mark.parametrize("content", [b"", b"a,a\n1,2\n", b"\xff\xfe\x00a", b",\n1\n"])
def test_csv_that_cannot_be_read(content):
    with pytest.raises(FileInvalid):
        rows(content)


def test_xlsx_first_sheet_with_typed_cells():
    book = Workbook()
    sheet = book.active
    sheet.append(["NHS", "Born", "Name"])
    sheet.append([9990000018, date(1980, 2, 29), "Jane"])
    sheet.append([None, None, None])
    sheet.append([9990000026.0, "01/02/1990", "Tom"])
    book.create_sheet("Other").append(["ignored"])
    out = io.BytesIO()
    book.save(out)
    header, records = read_table(out.getvalue(), "upload.bin")  # recognised by content, not name
    assert header == ["NHS", "Born", "Name"]
    assert list(records) == [
        (2, {"NHS": "9990000018", "Born": "1980-02-29", "Name": "Jane"}),
        (4, {"NHS": "9990000026", "Born": "01/02/1990", "Name": "Tom"}),
    ]
    with pytest.raises(FileInvalid):
        read_xlsx(b"PK\x03\x04 not really a workbook")


def test_row_validation_accepts_loose_forms_and_flags():
    ok = validate_row(
        "UK",
        2,
        {
            "nhs_number": "999 000 0018",
            "given_name": "Jane",
            "family_name": "Doe",
            "date_of_birth": "29/2/1980",
            "sex": "F",
            "email": "j@mailinator.com",
        },
        TODAY,
    )
    assert ok.columns["date_of_birth"] == "1980-02-29" and ok.columns["sex"] == "female"
    assert ok.key == "nhs:9990000018" and ok.warnings[0][0] == "email"
    old = validate_row(
        "UK",
        3,
        {"nhs_number": "9990000026", "given_name": "A", "family_name": "B", "date_of_birth": "1900-01-01"},
        TODAY,
    )
    assert old.columns is not None and "age 126" in old.warnings[0][2]
    missing = validate_row("UK", 4, {"given_name": "A", "family_name": "B"}, TODAY)
    assert missing.columns is None and missing.errors == [("nhs_number", "", "an NHS number is required")]
    bad = validate_row("UK", 5, {"nhs_number": "1", "given_name": "", "family_name": "B", "sex": "Q"}, TODAY)
    assert {e[0] for e in bad.errors} == {"nhs_number", "given_name", "sex"}


def test_australian_identity_keys():
    assert identity_key("AU", {"medicare_number": "2123456701", "medicare_irn": "1"}) == "medicare:2123456701:1"
    assert identity_key("AU", {"medicare_number": "2123456701", "ihi": "8003608333647212"}) == "ihi:8003608333647212"
    assert identity_key("AU", {"medicare_number": "2123456701"}) is None
    row = validate_row("AU", 2, {"medicare_number": "2123456701", "given_name": "L", "family_name": "S"}, TODAY)
    assert row.columns is None and "IRN" in row.errors[0][2]
