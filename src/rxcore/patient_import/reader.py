"""Reading patient spreadsheets: CSV (UTF-8 with or without a BOM, CRLF or LF, quoted fields with newlines,
`,` or `;` between fields) and .xlsx (the first sheet). Yields (line, {column: text}) with the file's own line
numbers (the line a CSV record starts on; the Excel row), so an error report points at what the user sees."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime

from rxcore.errors import ServiceError

XLSX_MAGIC = b"PK\x03\x04"


class FileInvalid(ServiceError):
    def __init__(self, message: str):
        super().__init__(400, "import_file_invalid", message)


def _delimiter(first_line: str) -> str:
    """`;` when the header has more semicolons than commas outside quotes (spreadsheets saved in European locales)."""
    counts = {",": 0, ";": 0}
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    return ";" if counts[";"] > counts[","] else ","


def _header(names: list[str]) -> list[str]:
    header = [name.strip() for name in names]
    if not any(header):
        raise FileInvalid("The first row must name the columns.")
    seen = set()
    for name in header:
        if name and name in seen:
            raise FileInvalid(f"The column {name!r} appears twice in the header.")
        seen.add(name)
    return header


def read_csv(content: bytes) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileInvalid(f"The file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8.") from None
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first))
    try:
        header = _header(next(reader))
    except StopIteration:
        raise FileInvalid("The file is empty.") from None

    def records() -> Iterator[tuple[int, dict[str, str]]]:
        start = reader.line_num + 1
        try:
            for fields in reader:
                if any(field.strip() for field in fields):
                    yield start, {name: value for name, value in zip(header, fields, strict=False) if name}
                start = reader.line_num + 1
        except csv.Error as exc:
            raise FileInvalid(f"Line {start}: {exc}") from None

    return header, records()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an NHS number typed into a number cell
    return str(value)


def read_xlsx(content: bytes) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged file
        raise FileInvalid("The Excel file cannot be read (is it a .xlsx workbook?).") from None
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    try:
        header = _header([_cell(v) for v in next(rows)])
    except StopIteration:
        raise FileInvalid("The first sheet is empty.") from None

    def records() -> Iterator[tuple[int, dict[str, str]]]:
        for number, values in enumerate(rows, start=2):
            cells = [_cell(v) for v in values]
            if any(c.strip() for c in cells):
                yield number, {name: value for name, value in zip(header, cells, strict=False) if name}
        book.close()

    return header, records()


def read_table(content: bytes, filename: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    if content.startswith(XLSX_MAGIC) or filename.lower().endswith(".xlsx"):
        return read_xlsx(content)
    return read_csv(content)
