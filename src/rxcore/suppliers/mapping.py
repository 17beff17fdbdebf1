"""A supplier's price-list layout, declared in `mappings/<supplier>.json` (a sixth supplier needs a file, not code).

    {
      "supplier": "tasmanian-botanics",            the id products and imports carry
      "name": "Tasmanian Botanics",
      "layout": "table" | "sheet_per_form" | "transposed",
      "sheets": ["Tasmanian Botanics Product List"],   which sheets to read (absent: every sheet but skip_sheets)
      "skip_sheets": ["Notes"],
      "columns": {"product_name": ["Product Name"], "thc": ["THC"], ...},   field -> the header names it goes by
      "required": ["product_name", "form"],         columns the file must have (else the whole file is refused)
      "defaults": {"brand": "Tasmanian Botanics"},  a field's value when the file has no such column or cell
      "sections": {"column": "product_name", "field": "brand"},   a row with only that cell filled names a section
      "percent_cells": true,                        0.25 in a THC/CBD column means 25 % (a %-formatted cell)
      "prices": {"wholesale": "ex", "retail": "inc"} the tax basis each price column states
    }

Fields: brand, product_name, generic_name, strength (THC and CBD in one cell), thc, cbd, form, pack_size, packaging,
strain_type, cultivar, artg, code (the supplier's product code or barcode), tga_category, schedule, access,
wholesale, retail, available, storage. Headers are matched trimmed and case-folded, so `ARTG No ` is `ARTG No`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rxcore.suppliers.cells import header_key

FIELDS = (
    "brand", "product_name", "generic_name", "strength", "thc", "cbd", "form", "pack_size", "packaging",
    "strain_type", "cultivar", "artg", "code", "tga_category", "schedule", "access", "wholesale", "retail",
    "available", "storage",
)  # fmt: skip
FOLDER = Path(__file__).resolve().parent / "mappings"


class Sections(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str
    field: str


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    supplier: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,35}$")
    name: str
    layout: Literal["table", "sheet_per_form", "transposed"] = "table"
    sheets: list[str] | None = None
    skip_sheets: list[str] = Field(default_factory=list)
    columns: dict[str, list[str]]
    required: list[str] = Field(default_factory=lambda: ["product_name"])
    defaults: dict[str, str] = Field(default_factory=dict)
    sections: Sections | None = None
    percent_cells: bool = False
    prices: dict[Literal["wholesale", "retail"], Literal["ex", "inc", "unknown"]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_fields(self) -> Mapping:
        unknown = (set(self.columns) | set(self.defaults) | set(self.required)) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}; known: {', '.join(FIELDS)}")
        if self.sections and self.sections.column not in self.columns:
            raise ValueError("sections.column must be one of the mapped columns")
        return self

    def field_of(self) -> dict[str, str]:
        """Header key -> field."""
        return {header_key(name): field for field, names in self.columns.items() for name in names}


def load(supplier: str, folder: Path = FOLDER) -> Mapping:
    """The mapping of `supplier`; KeyError when there is none."""
    path = folder / f"{supplier}.json"
    if not path.is_file() or not supplier.replace("-", "").isalnum():
        raise KeyError(supplier)
    return Mapping.model_validate(json.loads(path.read_text()))


def known(folder: Path = FOLDER) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.json"))
