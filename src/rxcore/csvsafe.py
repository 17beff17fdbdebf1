"""CSV the platform writes for people to open in a spreadsheet: no cell may run as a formula.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is taken by Excel, LibreOffice and Google
Sheets as a formula (`=HYPERLINK(...)` in an uploaded patient list came back live in the error report). Such a cell
is written with a leading apostrophe, which spreadsheets show as text (OWASP's "CSV injection" advice). Every CSV
the platform writes goes through `writer`."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """`value`, made inert if it is text a spreadsheet would run (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class writer:  # noqa: N801 - named after csv.writer, which it wraps
    def __init__(self, out: TextIO, **options: Any):
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([cell(value) for value in row])
