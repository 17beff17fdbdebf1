"""The requests supplier-import takes (their JSON Schemas are generated: scripts/function_schemas.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from rxcore.actions import RequestModel, RowId, text

Form = Literal["flower", "oil", "capsule", "pastille", "spray", "vape_cartridge"]
Pathway = Literal["SAS-A", "SAS-B", "AP", "ARTG"]
SupplierId = text(36)


class ImportList(RequestModel):
    """Import an uploaded price list (xlsx or csv in the `supplier_lists` bucket) for a supplier."""

    supplier: SupplierId = Field(description="the supplier's id (its mapping's name): alma, botanitech, ...")
    file_id: RowId
    dry_run: bool = Field(False, description="read, check and count; write nothing")


class ImportRef(RequestModel):
    """An import's counts and its row-level report (CSV, formulas made inert)."""

    import_id: RowId


class Search(RequestModel):
    """Supplier products, by text and filters; paged by `cursor`."""

    query: text(100) | None = Field(None, description="words of the brand, name, generic name or cultivar")
    supplier: SupplierId | None = None
    form: Form | None = None
    schedule: Literal["S3", "S4", "S8"] | None = None
    tga_category: int | None = Field(None, ge=1, le=5)
    pathway: Pathway | None = None
    thc_min: float | None = Field(None, ge=0, description="at least this THC (in the product's own unit)")
    thc_max: float | None = Field(None, ge=0)
    cbd_min: float | None = Field(None, ge=0)
    cbd_max: float | None = Field(None, ge=0)
    price_min: Decimal | None = Field(None, ge=0, description="retail price, dollars")
    price_max: Decimal | None = Field(None, ge=0)
    available: bool | None = None
    include_discontinued: bool = False
    cursor: RowId | None = None
    limit: int = Field(25, ge=1, le=100)

    @model_validator(mode="after")
    def _ranges(self) -> Search:
        for low, high in ((self.thc_min, self.thc_max), (self.cbd_min, self.cbd_max), (self.price_min, self.price_max)):
            if low is not None and high is not None and high < low:
                raise ValueError("a range's maximum is below its minimum")
        return self


class ProductRef(RequestModel):
    """One product with its price history."""

    product_id: RowId


class Compare(RequestModel):
    """Products equivalent to one (same dose form and TGA category: what one SAS-B approval covers) across all
    suppliers, cheapest per mg of THC or CBD first."""

    product_id: RowId
    by: Literal["thc", "cbd"] = "thc"
    limit: int = Field(20, ge=1, le=100)


class Suppliers(RequestModel):
    """The suppliers with a mapping, and each one's latest import."""
