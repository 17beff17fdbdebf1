"""Reading supplier price-list cells (rxcore/suppliers/cells.py): the notations real lists use, and refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rxcore.suppliers import cells
from rxcore.suppliers.cells import Amount, CellError


def _a(op: str, low: str, high: str, unit: str) -> Amount:
    return Amount(op, Decimal(low), Decimal(high), unit)


@pytest.mark.parametrize(
    ("cell", "unit", "want"),
    [
        ("25%", None, _a("=", "25", "25", "%")),
        ("<1%", None, _a("<", "1", "1", "%")),
        ("20-24 %", None, _a("=", "20", "24", "%")),
        ("20–24%", None, _a("=", "20", "24", "%")),
        ("10 mg/mL", None, _a("=", "10", "10", "mg/mL")),
        ("THC 28%", None, _a("=", "28", "28", "%")),
        ("5 mg/piece", None, _a("=", "5", "5", "mg/unit")),
        ("ND", "%", _a("=", "0", "0", "%")),
        (25, "%", _a("=", "25", "25", "%")),
    ],
)
def test_amounts(cell, unit, want):
    assert cells.amount(cell, unit) == want


def test_a_percent_formatted_cell_is_a_fraction_and_bare_numbers_need_a_unit():
    assert cells.amount(0.19, "%", fraction_is_percent=True) == _a("=", "19", "19", "%")
    with pytest.raises(CellError, match="no unit"):
        cells.amount(25, None)
    for bad in ("lots", "24-20%", "Batch dependant"):
        with pytest.raises(CellError):
            cells.amount(bad, "%")


@pytest.mark.parametrize(
    ("cell", "thc", "cbd"),
    [
        ("THC 20% / CBD <1%", _a("=", "20", "20", "%"), _a("<", "1", "1", "%")),
        ("T20:C5", _a("=", "20", "20", "%"), _a("=", "5", "5", "%")),
        ("CBD 100 mg/mL, THC <1 mg/mL", _a("<", "1", "1", "mg/mL"), _a("=", "100", "100", "mg/mL")),
        ("THC 2.7 mg/spray : CBD 2.5 mg/spray", _a("=", "2.7", "2.7", "mg/unit"), _a("=", "2.5", "2.5", "mg/unit")),
        ("THC 10 mg/mL", _a("=", "10", "10", "mg/mL"), None),
    ],
)
def test_strengths_in_one_cell(cell, thc, cbd):
    assert cells.strengths(cell, "%") == (thc, cbd)


def test_a_bare_ratio_is_refused():
    with pytest.raises(CellError, match="name each cannabinoid"):
        cells.strengths("20:5", "%")


def test_prices_schedules_categories_forms_and_packs():
    assert cells.price("$1,250.50") == cells.Price(Decimal("1250.50"), None)
    assert cells.price("$99 inc GST") == cells.Price(Decimal("99.00"), "inc")
    assert cells.price(92.5) == cells.Price(Decimal("92.50"), None)
    assert cells.price("N/A") is None
    with pytest.raises(CellError):
        cells.price("POA")
    assert [cells.schedule(v) for v in ("S8", "8", "Schedule 8", "Sch 4", "CD")] == ["S8", "S8", "S8", "S4", "S8"]
    with pytest.raises(CellError, match="prohibited"):
        cells.schedule("S9")
    assert [cells.category(v) for v in ("5", "Cat 5", "Category 1 – CBD", 3.0)] == [5, 5, 1, 3]
    assert [cells.form(v) for v in ("Dried Herb", "Oral Liquid", "Oromucosal spray", "Gummies", "Resin Cartridge")] == [
        "flower", "oil", "spray", "pastille", "vape_cartridge"]  # fmt: skip
    assert cells.pack("15g", None) == (Decimal("15"), "g")
    assert cells.pack("30 pieces", None) == (Decimal("30"), "units")
    assert cells.pack(25.0, "mL") == (Decimal("25"), "mL")
    assert cells.pathways("SAS-B or Authorised Prescriber") == ("AP", "SAS-B")
    assert cells.artg("AUST R 123456") == "123456" and cells.artg("N/A") is None
    with pytest.raises(CellError):
        cells.artg("pending")


def test_the_computed_category_is_only_given_when_the_figures_decide_it():
    assert cells.computed_category(_a("=", "27", "27", "%"), _a("=", "0", "0", "%")) == 5
    assert cells.computed_category(_a("=", "19", "19", "%"), _a("=", "0.5", "0.5", "%")) == 4  # 97.4 % THC
    assert cells.computed_category(_a("=", "28", "28", "%"), _a("<", "1", "1", "%")) is None  # 4 or 5
    assert cells.computed_category(_a("<", "1", "1", "mg/mL"), _a("=", "100", "100", "mg/mL")) == 1
    assert cells.computed_category(_a("=", "2", "2", "mg/mL"), _a("=", "50", "50", "mg/mL")) == 2  # a "CBD oil", S8
    assert cells.computed_category(_a("=", "10", "10", "mg/mL"), _a("=", "10", "10", "%")) is None  # units differ
