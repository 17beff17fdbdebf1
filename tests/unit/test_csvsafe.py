"""Cells a spreadsheet would run as formulas are written as text (issue 14.8)."""

from __future__ import annotations

import csv
import io

from rxcore import csvsafe


def test_formula_cells_are_inert_and_everything_else_is_unchanged():
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(['=HYPERLINK("http://evil.example","click")', "+44 7400", "-2+3", "@SUM(A1)", "\tx", "Jane", 5, -5])
    row = next(csv.reader(io.StringIO(out.getvalue())))
    assert row == [
        '\'=HYPERLINK("http://evil.example","click")',
        "'+44 7400",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "Jane",
        "5",
        "-5",
    ]
