"""A supplier's spreadsheet (xlsx, or csv) read with pandas into raw rows: {field: cell}, each with where it came
from (sheet and line, or column for a transposed sheet), as the supplier's mapping (mapping.py) declares.

What real lists do and this copes with: a title row (or several) above the headers, headers with trailing spaces
or another case, blank separator rows, merged section-header rows (a brand's name across the row), a notes sheet,
one sheet per dose form, a product-per-column "master" sheet. A file that is not a spreadsheet, lacks a required
column or names no sheet the mapping reads is refused as a whole (FileRefused) before anything is written."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rxcore.suppliers.cells import header_key, is_blank, text
from rxcore.suppliers.mapping import Mapping

HEADER_SEARCH_ROWS = 30  # a header is expected within the first rows of a sheet
MAX_ROWS = 25_000  # supplier lists run to hundreds of rows; a bigger file is a mistake or an attack


class FileRefused(ValueError):
    """The file as a whole cannot be imported; the message says why."""


@dataclass(frozen=True)
class RawRow:
    sheet: str
    line: str  # the spreadsheet row number ("12"), or "column D" on a transposed sheet
    cells: dict[str, Any]  # field -> the cell as read
    headers: dict[str, str]  # field -> the header it came from (for the error report)


def workbook(data: bytes, filename: str) -> dict[str, pd.DataFrame]:
    """Every sheet as a grid of raw cells (no header, no type guessing: pandas' object cells)."""
    name = filename.casefold()
    try:
        if name.endswith(".csv"):
            frame = pd.read_csv(io.BytesIO(data), header=None, dtype=object, keep_default_na=False,
                                skip_blank_lines=False, encoding="utf-8-sig")  # fmt: skip
            return {"csv": frame}
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise FileRefused("The file is not an Excel workbook (.xlsx) or a CSV file.")
        return pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, dtype=object, engine="openpyxl")
    except FileRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - pandas and openpyxl raise many kinds for a broken file
        raise FileRefused(f"The file could not be read as a spreadsheet ({type(exc).__name__}).") from None


def rows(sheets: dict[str, pd.DataFrame], mapping: Mapping) -> list[RawRow]:
    chosen = _chosen_sheets(sheets, mapping)
    out: list[RawRow] = []
    for sheet_name in chosen:
        grid = sheets[sheet_name]
        if mapping.layout == "transposed":
            out += _table(sheet_name, grid.T.reset_index(drop=True), mapping, transposed=True)
        else:
            out += _table(sheet_name, grid, mapping, transposed=False)
        if len(out) > MAX_ROWS:
            raise FileRefused(f"The list has more than {MAX_ROWS:,} rows: split it.")
    return out


def _chosen_sheets(sheets: dict[str, pd.DataFrame], mapping: Mapping) -> list[str]:
    if "csv" in sheets and len(sheets) == 1:
        return ["csv"]
    by_key = {header_key(name): name for name in sheets}
    if mapping.sheets:
        found = [by_key[header_key(s)] for s in mapping.sheets if header_key(s) in by_key]
        if not found:
            raise FileRefused(f"No sheet named {' or '.join(mapping.sheets)!r} (the file has: {', '.join(sheets)}).")
        return found
    skipped = {header_key(s) for s in mapping.skip_sheets}
    found = [name for name in sheets if header_key(name) not in skipped]
    if not found:
        raise FileRefused("The workbook has no sheet to read.")
    return found


def _header_row(grid: list[list[Any]], field_of: dict[str, str]) -> int | None:
    """The first row where at least two cells (or every cell, for a one-column sheet) are known headers."""
    for index in range(min(HEADER_SEARCH_ROWS, len(grid))):
        keys = [header_key(v) for v in grid[index]]
        hits = sum(1 for k in keys if k in field_of)
        if hits >= 2 or (hits == 1 and sum(1 for k in keys if k) == 1 and len(field_of) == 1):
            return index
    return None


def _table(sheet: str, frame: pd.DataFrame, mapping: Mapping, transposed: bool) -> list[RawRow]:
    field_of = mapping.field_of()
    grid = frame.to_numpy(dtype=object).tolist()  # plain lists: row access through pandas costs more than parsing
    start = _header_row(grid, field_of)
    if start is None:
        wanted = ", ".join(repr(mapping.columns[f][0]) for f in mapping.required)
        raise FileRefused(f"Sheet {sheet!r}: no header row with the columns this supplier's lists have ({wanted}).")
    headers = grid[start]
    columns: dict[int, str] = {}
    for position, header in enumerate(headers):
        field = field_of.get(header_key(header))
        if field and field not in columns.values():
            columns[position] = field
    missing = [f for f in mapping.required if f not in columns.values() and f not in mapping.defaults]
    if missing and not (mapping.layout == "sheet_per_form" and missing == ["form"]):
        names = "; ".join(f"{f} ({' / '.join(repr(n) for n in mapping.columns.get(f, []))})" for f in missing)
        raise FileRefused(f"Sheet {sheet!r} is missing required column(s): {names}.")
    section_position = next((p for p, f in columns.items() if mapping.sections and f == mapping.sections.column), None)
    section_value: str | None = None
    header_names = {field: str(headers[p]).strip() for p, field in columns.items()}  # shared by the sheet's rows
    out = []
    for index in range(start + 1, len(grid)):
        values = grid[index]
        filled = [p for p in columns if p < len(values) and not is_blank(values[p])]
        if not filled:
            continue  # a blank separator row
        if mapping.sections and section_position is not None and filled == [section_position]:
            section_value = text(values[section_position])  # "El Camino": the rows below are that brand's
            continue
        cells = {field: values[p] if p < len(values) else None for p, field in columns.items()}
        if section_value and mapping.sections and is_blank(cells.get(mapping.sections.field)):
            cells[mapping.sections.field] = section_value
        if mapping.layout == "sheet_per_form" and is_blank(cells.get("form")):
            cells["form"] = sheet
        line = f"column {_column_letter(index)}" if transposed else str(index + 1)
        out.append(RawRow(sheet, line, cells, header_names))
    return out


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters
