"""Synthetic price lists in the five Australian medicinal-cannabis suppliers' layouts (test_data/suppliers/).

    python scripts/make_supplier_fixtures.py                 the five fixtures (committed; rerun to regenerate)
    python scripts/make_supplier_fixtures.py --big 20000 out.xlsx   a Tasmanian-Botanics-layout list of N products

These are NOT real supplier files (those are not public). Product names, strengths and prices follow the
community-compiled and illustrative examples in ../shared/reference/au-medicinal-cannabis.md §6; each file imitates
the mess that section §7 says real lists have. test_data/suppliers/README.md says which file imitates what.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import xlsxwriter
from openpyxl import Workbook
from openpyxl.styles import Font

OUT = Path(__file__).resolve().parents[1] / "test_data" / "suppliers"
TB_HEADER = ["Brand", "Product Name", "Active Ingredients", "Dose Form", "Pack Size", "Packaging Type",
             "Drug Schedule", "TGA Category", "Wholesale Price (exc GST)", "RRP (inc GST)", "How is it available?",
             "ARTG ID"]  # fmt: skip


def _save(book: Workbook, name: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    book.save(path)
    return path


def botanitech(folder: Path) -> Path:
    """One sheet under two title rows; `ARTG No ` with its trailing space; strengths in one cell; no prices;
    a blank separator row; a duplicated product; a notes sheet."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Product List"
    sheet.append(["Botanitech Product Information — synthetic fixture, not a real list"])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([])
    sheet.append(["Trade/Brand name", "Generic name", "Strength", "Dose form", "Pack Size", "Packaging Type",
                  "ARTG No ", "APN", "TGA Category 1-5", "Access mechanism SAS or Authorised Prescriber",
                  "Poison Schedule", "Storage Information"])  # fmt: skip
    rows = [
        ["INC T10 Mango Mint Northern Lights", "Cannabis sativa L. flower", "THC 10% / CBD <1%", "Dried flower",
         "10 g", "Jar", "N/A", "9300000000011", "Cat 5", "SAS B / AP", "S8", "Store below 25°C"],
        ["Botanitech T10:C10 Oral Liquid", "Cannabis extract", "THC 10 mg/mL : CBD 10 mg/mL", "Oral Liquid",
         "25mL", "Amber bottle", "", "9300000000028", "3", "SAS-B or Authorised Prescriber", "Schedule 8",
         "Refrigerate after opening"],
        [],
        ["Botanitech CBD100 Oral Liquid", "Cannabidiol", "CBD 100 mg/mL, THC <1 mg/mL", "Oil", 25.0, "Bottle",
         "-", "9300000000035", "Category 1 – CBD", "SAS B / AP", "S4", "Store below 25°C"],
        ["SAT T22 Lemon Haze", "Cannabis sativa L. flower", "THC 20-24% / CBD <1%", "Flower", "10 g", "Jar", None,
         "9300000000042", "5", "SAS B / AP", "8", "Store below 25°C"],
        ["HYB T18 Pink Kush", "Cannabis sativa L. flower", "THC 18% / CBD 1%", "Dried Herb", "15 g", "Jar", "",
         "9300000000059", "Cat 5", "SAS B / AP", "S8", "Store below 25°C"],
        ["INC T10 Mango Mint Northern Lights", "Cannabis sativa L. flower", "THC 10% / CBD <1%", "Dried flower",
         "10 g", "Jar", "N/A", "9300000000011", "Cat 5", "SAS B / AP", "S8", "Store below 25°C"],
    ]  # fmt: skip
    for row in rows:
        sheet.append(row)
    notes = book.create_sheet("Notes")
    notes.append(["Prices on request from your account manager. Synthetic fixture."])
    return _save(book, "botanitech.xlsx", folder)


def medreleaf(folder: Path) -> Path:
    """One sheet per dose form (the sheet's name is the form); strain-type header differs between sheets; THC and
    CBD in %-formatted cells (0.19 means 19 %) on the flower sheet and mg/g text on the cartridge sheet; prices as
    numbers and as "$" text; an empty cover sheet with notes."""
    book = Workbook()
    cover = book.active
    cover.title = "Notes"
    cover.append(["MedReleaf Australia — synthetic fixture; prices ex GST wholesale, RRP guide"])
    flower = book.create_sheet("Dried Flower")
    flower.append(["Brand", "Product", "Indica/Sativa", "Cultivar", "THC", "CBD", "TGA Cat", "Retail", "Wholesale",
                   "Size"])  # fmt: skip
    for row in [
        ["IndiMed", "Tempo 19", "Sativa", "Delahaze", 0.19, 0.005, 5, 99, 66, "15 g"],
        ["IndiMed", "Tempo 26", "Hybrid", "Sourdough", 0.26, 0.005, 5, "$99.00", "$66.00", "15 g"],
        ["Aurora", "Aurora Pink Kush", "Indica", "Pink Kush ", 0.22, 0.01, 5, 139, 92.5, "10g"],
    ]:
        flower.append(row)
    for cell in ("E2", "F2", "E3", "F3", "E4", "F4"):
        flower[cell].number_format = "0.0%"
    oil = book.create_sheet("Oil")
    oil.append(["Brand", "Product", "Strain Type", "Cultivar", "THC", "CBD", "TGA Cat", "Retail", "Wholesale", "Size"])
    oil.append(["Aurora", "Aurora Balance 10:10", "", "", "10 mg/mL", "10 mg/mL", "Category 3", 150, 100, "25 mL"])
    oil.append(["CraftPlant", "CraftPlant CBD 50", "", "", "<1 mg/mL", "50 mg/mL", "2", 120, 80, "30 mL"])
    cartridge = book.create_sheet("Vape Cartridge")
    cartridge.append(["Brand", "Product", "Strain Type", "Cultivar", "THC", "CBD", "TGA Cat", "Retail", "Wholesale",
                      "Size"])  # fmt: skip
    cartridge.append(
        ["IndiMed", "IndiMed THC Resin Cartridge", "Hybrid", "", "800 mg/g", "<10 mg/g", 5, 130, 85, "1 g"]
    )
    return _save(book, "medreleaf.xlsx", folder)


def alma(folder: Path) -> Path:
    """`Sheet1` whose first header is the brand name `Alma`; section rows (merged across the row) naming ranges
    El Camino, Beta, Heritage; THC/CBD cells with "THC"/"CBD" prefixes; the typo `Cultiva`; a range "20-24%";
    a formula-like product name; a product with no strength (rejected)."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(["Alma", "Heritage", "Strain", "Cultiva", "THC", "CBD", "Schedule", "Category", "Wholesale", "RRP",
                  "Quantity"])  # fmt: skip
    sections = {
        "El Camino": [
            ["Crystal Locomotive THC28", "Heritage", "Sativa", "Crystal Locomotive", "THC 28%", "CBD <1%", "S8",
             "Cat 5", "$105.00", "$159.00", "10"],
            ["El Camino Grape Galena", "Heritage", "Indica", "Grape Galena", "THC 25%", "CBD <1%", "S8", "5",
             "$99.00", "$149.00", "10"],
        ],
        "Beta": [
            ["Beta T20", "", "Hybrid", "TBC", "THC 20-24%", "CBD <1%", "S8", "5", "$70.00", "$100.00", "10"],
            ["=HYPERLINK(\"http://x.example\",\"Beta T24\")", "", "Hybrid", "", "THC 24%", "CBD <1%", "S8", "5",
             "$72.00", "$104.00", "10"],
        ],
        "Heritage": [
            ["Heritage Sunset", "Heritage", "Indica", "Sunset Sherbet", "", "", "S8", "5", "$80.00", "$120.00", "10"],
            ["Heritage Balance", "Heritage", "Hybrid", "Harlequin", "THC 9%", "CBD 9%", "S8", "Cat 3", "$80.00",
             "$120.00", "10"],
        ],
    }  # fmt: skip
    for title, rows in sections.items():
        sheet.append([title])
        sheet.merge_cells(start_row=sheet.max_row, start_column=1, end_row=sheet.max_row, end_column=11)
        for row in rows:
            sheet.append(row)
            name = sheet.cell(sheet.max_row, 1)
            if str(name.value).startswith("="):
                name.data_type = "s"  # text that looks like a formula, as a pasted cell arrives
        sheet.append([])
    return _save(book, "alma.xlsx", folder)


def phytoca(folder: Path) -> Path:
    """A transposed "Product Master": field names down column A, one product per column; prices with "inc GST";
    a pastille in mg per piece; an oil whose declared category (1) the figures contradict (warning)."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    fields = ["Product Brand", "Product Name", "TGA Trade name", "TGA Dosage Form", "Product Size (grams, ml, pieces)",
              "Product Schedule", "TGA Category", "Strain Type (multichoice)", "Strain Name",
              "THC mg/ml/piece and/or %", "CBD mg/ml/piece and/or %", "Cannabinoids",
              "Recommended Wholesale Price", "Recommended Retail Price", "Product Code"]  # fmt: skip
    products = [
        ["Phytoca", "Chapel of Love", "Phytoca Chapel of Love flower", "Flower", "10 g", "S8", "5", "Hybrid",
         "Chapel of Love", "30%", "0%", "THC, CBG", "$66", "$99 inc GST", "PHY-001"],
        ["Phytoca", "Phytoca T5 Pastille", "Phytoca THC 5 mg pastille", "Pastille", "30 pieces", "S8", "5", "",
         "", "5 mg/piece", "<0.5 mg/piece", "THC", "$80", "$120 inc GST", "PHY-002"],
        ["Phytoca", "Phytoca C20:T1 Oil", "Phytoca CBD 20 THC 1 oral liquid", "Oral Liquid", "30 mL", "S8", "1", "",
         "", "1 mg/mL", "20 mg/mL", "CBD, THC", "$93", "$140 inc GST", "PHY-003"],
    ]  # fmt: skip
    for index, name in enumerate(fields):
        sheet.append([name] + [p[index] for p in products])
    return _save(book, "phytoca.xlsx", folder)


def tasmanian_botanics(folder: Path) -> Path:
    """The named sheet `Tasmanian Botanics Product List` below a title row; `RRP (inc GST)`; Althea-branded rows
    (brands change owner); an ARTG-registered row; "POA" in a price (rejected); a blank row; a notes sheet."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Tasmanian Botanics Product List"
    sheet.append(["Tasmanian Botanics — product list (synthetic fixture)"])
    sheet.append(TB_HEADER)
    rows = [
        ["Tasmanian Botanics", "THC 27 Royale Sunflower", "THC 27% / CBD 0%", "Dried Flower", "15g", "Jar", "S8",
         "Category 5", 52.0, 79.0, "SAS-B / AP", ""],
        ["Tasmanian Botanics", "THC 23 Opal", "THC 23%, CBD 0%", "Dried Flower", "10g", "Jar", "S8", "5", 80.0,
         120.0, "SAS-B / AP", "N/A"],
        ["Tasmanian Botanics", "THC 50 Oral Liquid", "THC 50 mg/mL, CBD <2 mg/mL", "Oral Liquid", "25 mL", "Bottle",
         "S8", "5", "$150.00", "$210.00", "SAS-B / AP", ""],
        [],
        ["Althea", "THC 30 Sora", "THC 30% / CBD 0%", "Dried Flower", "10 g", "Jar", "S8", "5", 72.0, 109.0,
         "SAS-B / AP", ""],
        ["Althea", "Althea CBD25 Capsule", "CBD 25 mg/capsule, THC <0.25 mg/capsule", "Capsule", "60 capsules",
         "Blister", "S4", "1", 60.0, 90.0, "SAS-B / AP", ""],
        ["Tasmanian Botanics", "Nabiximols Oromucosal Spray", "THC 2.7 mg/spray : CBD 2.5 mg/spray",
         "Oromucosal spray", "90 sprays", "Vial", "S8", "3", 450.0, 600.0, "ARTG", "AUST R 123456"],
        ["Tasmanian Botanics", "THC 20 Jade", "THC 20% / CBD <1%", "Dried Flower", "10g", "Jar", "S8", "5", "POA",
         "POA", "SAS-B / AP", ""],
    ]  # fmt: skip
    for row in rows:
        sheet.append(row)
    notes = book.create_sheet("Notes")
    notes.append(["Ordering: email orders@tasbot.example (synthetic)"])
    return _save(book, "tasmanian-botanics.xlsx", folder)


def big(count: int, path: Path, price_offset: int = 0) -> Path:
    """`count` distinct flower and oil products in the Tasmanian Botanics layout (for the benchmark and the
    file-size tests), written as Excel writes a sheet: text in the shared-strings table and the sheet's dimension
    stated (XlsxWriter). openpyxl writes every text inline and, in write-only mode, no dimension, which makes a reader
    parse twice as much XML as it would for a supplier's real export. `price_offset` is added to every price."""
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Tasmanian Botanics Product List")
    sheet.write_row(0, 0, TB_HEADER)
    for n in range(count):
        if n % 3:
            thc = 15 + n % 15
            row = ["Tasmanian Botanics", f"THC {thc} Cultivar {n:05d}", f"THC {thc}% / CBD <1%", "Dried Flower",
                   f"{10 + 5 * (n % 3)} g", "Jar", "S8", "5", 50 + n % 40 + price_offset,
                   90 + n % 60 + price_offset, "SAS-B / AP", ""]  # fmt: skip
        else:
            cbd = 10 + n % 90
            row = ["Tasmanian Botanics", f"CBD {cbd} Oil {n:05d}", f"CBD {cbd} mg/mL, THC <1 mg/mL", "Oral Liquid",
                   "25 mL", "Bottle", "S4", "1", 80 + n % 30 + price_offset, 120 + n % 50 + price_offset,
                   "SAS-B / AP", ""]  # fmt: skip
        sheet.write_row(n + 1, 0, row)
    book.close()
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", nargs=2, metavar=("COUNT", "PATH"), help="write one large list instead")
    args = parser.parse_args(argv)
    if args.big:
        print(big(int(args.big[0]), Path(args.big[1])))
        return 0
    for make in (botanitech, medreleaf, alma, phytoca, tasmanian_botanics):
        print(make(OUT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
