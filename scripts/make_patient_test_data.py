"""Writes the patient-import fixtures in test_data/patients/ (deterministic; see test_data/README.md).

    PYTHONPATH=src .venv/bin/python scripts/make_patient_test_data.py [--out test_data/patients]
    PYTHONPATH=src .venv/bin/python scripts/make_patient_test_data.py --rows 100000 --out .bench/patients-100k.csv

NHS numbers come from the never-issued 999 000 0000 - 999 999 9999 test range (mod 11 valid), phones from Ofcom's
drama ranges where they are valid (07400 / 07512 blocks as observed with phonenumbers), emails under example.test."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from rxcore.checkdigits import nhs_mod11_digit  # noqa: E402

HEADER = ["NHS Number", "First name", "Surname", "DOB", "Sex", "Postcode", "Email", "Mobile", "Address"]
UK_MAPPING = {  # patient-import's column mapping for these files
    "NHS Number": "nhs_number", "First name": "given_name", "Surname": "family_name", "DOB": "date_of_birth",
    "Sex": "sex", "Postcode": "postcode", "Email": "email", "Mobile": "phone", "Address": "address",
}  # fmt: skip
GIVEN = ["Olivia", "Amelia", "Isla", "Ava", "Mia", "Noah", "Oliver", "George", "Leo", "Arthur", "Aisha", "Mohammed"]
FAMILY = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "O'Brien"]
POSTCODES = ["LS1 4AP", "M1 1AE", "B33 8TH", "CR2 6XH", "EC1A 1BB", "W1A 0AX", "DN55 1PT", "SW1A 1AA"]


def import_request(clinic_id: str, file_id: str, mapping: dict[str, str] | None = None, mode: str = "create") -> dict:
    """The patient-import request for an uploaded list of these files (the UK layout unless `mapping` says)."""
    return {
        "action": "import",
        "clinicId": clinic_id,
        "fileId": file_id,
        "mapping": UK_MAPPING if mapping is None else mapping,
        "mode": mode,
        "dryRun": False,
    }


def nhs_numbers(start: int = 0):
    """Valid test-range NHS numbers, in order."""
    n = start
    while True:
        stem = f"999{n:06d}"
        check = nhs_mod11_digit(stem)
        if check is not None and len(set(stem + str(check))) > 1:
            yield stem + str(check)
        n += 1


def patient_row(i: int, nhs: str) -> list[str]:
    return [
        f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}" if i % 3 == 0 else nhs,
        GIVEN[i % len(GIVEN)],
        FAMILY[(i // 3) % len(FAMILY)],
        f"{1 + i % 28:02d}/{1 + i % 12:02d}/{1940 + i % 80}",
        "F" if i % 2 else "M",
        POSTCODES[i % len(POSTCODES)].lower() if i % 4 == 0 else POSTCODES[i % len(POSTCODES)],
        f"patient{i}@example.test",
        f"07400 {100000 + i % 900000:06d}",
        f"{1 + i % 200} High Street, Leeds",
    ]


def write_csv(path: Path, rows: list[list[str]], *, delimiter: str = ",", bom: bool = False, crlf: bool = True) -> None:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    path.write_bytes(("\ufeff" if bom else "").encode() + out.getvalue().encode())


def fixtures(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    numbers = nhs_numbers(1000)
    valid = [HEADER] + [patient_row(i, next(numbers)) for i in range(10)]
    write_csv(out / "valid_uk.csv", valid, crlf=False)

    good = [patient_row(100 + i, next(numbers)) for i in range(4)]
    bad = [
        HEADER,
        good[0],  # line 2: fine
        ["943 476 5918", "Bad", "Check", "01/01/1980", "F", "LS1 4AP", "", "", ""],  # 3: NHS check digit
        [next(numbers), "Future", "Born", "01/01/2999", "M", "LS1 4AP", "", "", ""],  # 4: DOB in the future
        [next(numbers), "No", "Postcode", "01/01/1980", "M", "QA1 1AA", "", "", ""],  # 5: postcode
        [next(numbers), "Bad", "Email", "01/01/1980", "F", "M1 1AE", "not-an-email", "", ""],  # 6: email
        [next(numbers), "Bad", "Phone", "01/01/1980", "F", "M1 1AE", "", "07700 900123", ""],  # 7: phone (drama range)
        [next(numbers), "Nameless", "", "01/01/1980", "F", "M1 1AE", "", "", ""],  # 8: surname missing
        [good[0][0], "Again", "Duplicate", "01/01/1980", "F", "M1 1AE", "", "", ""],  # 9: same NHS number as line 2
        good[1][:6] + ["someone@mailinator.com", "", ""],  # 10: imported, disposable email flagged
        good[2][:3] + ["01/01/1900"] + good[2][4:],  # 11: imported, age flagged
        ["", "No", "Number", "01/01/1980", "F", "M1 1AE", "", "", ""],  # 12: NHS number missing
        good[3][:4] + ["Q"] + good[3][5:],  # 13: sex not known
    ]
    write_csv(out / "bad_rows_uk.csv", bad)

    multiline = [HEADER] + [patient_row(200 + i, next(numbers)) for i in range(3)]
    multiline[2][8] = 'Flat 2\r\n10 Quay Street, "The Docks"'
    write_csv(out / "bom_crlf_uk.csv", multiline, bom=True)
    write_csv(
        out / "semicolons_uk.csv", [HEADER] + [patient_row(300 + i, next(numbers)) for i in range(5)], delimiter=";"
    )

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Patients"
    sheet.append(HEADER)
    from datetime import date

    for i in range(6):
        row = patient_row(400 + i, next(numbers))
        day, month, year = map(int, row[3].split("/"))
        sheet.append(
            [int(row[0].replace(" ", "")), *row[1:3], date(year, month, day), *row[4:]]
        )  # number and date cells
    book.create_sheet("Notes").append(["ignored: only the first sheet is read"])
    book.properties.created = book.properties.modified = __import__("datetime").datetime(2026, 1, 1)
    book.save(out / "patients_uk.xlsx")

    dupes = [HEADER] + [
        valid[1],
        valid[2],
        patient_row(500, next(numbers)),
        valid[1][:1] + ["Same", "Number"] + valid[1][3:],
    ]
    write_csv(out / "duplicates_uk.csv", dupes)

    au = [
        ["Medicare", "IRN", "IHI", "Given", "Family", "Born", "State", "Postcode", "Phone"],
        ["2123456701", "1", "", "Liam", "Smith", "1975-06-30", "VIC", "3182", "0412 345 678"],
        ["2428778132", "2", "8003608333647212", "Chloe", "Ng", "1990-01-15", "NSW", "2000", ""],
        ["", "", "8003608833357361", "Ava", "Brown", "2001-12-01", "qld", "4000", ""],
        ["2123456711", "1", "", "Bad", "Medicare", "1980-01-01", "VIC", "3000", ""],
        ["2950101201", "", "", "No", "IRN", "1980-01-01", "VIC", "3000", ""],
    ]
    write_csv(out / "au_patients.csv", au)


def large(path: Path, rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    numbers = nhs_numbers(10_000)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(patient_row(i, next(numbers)))


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--out", type=Path, default=REPO / "test_data" / "patients")
    cli.add_argument("--rows", type=int, help="write one CSV of this many valid rows to --out (a file path)")
    args = cli.parse_args(argv)
    if args.rows:
        large(args.out, args.rows)
    else:
        fixtures(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
