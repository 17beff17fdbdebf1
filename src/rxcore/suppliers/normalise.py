"""A raw price-list row (reader.py) as one normalised supplier product, or the problems that keep it out.

Problems are reported per cell (sheet, line, column header, value, message) as patient-import reports them.
Errors reject the row; warnings keep it and are reported (a declared category that the THC/CBD figures contradict,
an ARTG number on a product no pathway calls registered, a wholesale price above the retail price). The rules are
those of ../shared/reference/au-medicinal-cannabis.md §7."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rxcore.csvsafe import FORMULA_STARTS
from rxcore.ids import derived_id
from rxcore.suppliers import cells
from rxcore.suppliers.cells import Amount, CellError
from rxcore.suppliers.mapping import Mapping
from rxcore.suppliers.reader import RawRow

TEXT_LIMITS = {"brand": 100, "product_name": 200, "generic_name": 200, "packaging": 100, "cultivar": 100,
               "storage": 300, "code": 64}  # fmt: skip
_NON_WORD = re.compile(r"\W+")
AVAILABLE_NO = {"no", "n", "out of stock", "unavailable", "discontinued", "false", "0"}


@dataclass(frozen=True)
class Problem:
    sheet: str
    line: str
    column: str
    value: str
    message: str
    severity: str = "error"  # or "warning"


@dataclass
class Product:
    key: str  # stable within the supplier: its code, else brand + name + form + pack
    row: dict[str, Any]  # the `supplier_products` columns this list decides
    line: str
    warnings: list[Problem] = field(default_factory=list)


def _amount_columns(prefix: str, value: Amount | None) -> dict[str, Any]:
    if value is None:
        return {f"{prefix}_op": None, f"{prefix}_min": None, f"{prefix}_max": None, f"{prefix}_unit": None}
    return {f"{prefix}_op": value.op, f"{prefix}_min": float(value.low), f"{prefix}_max": float(value.high),
            f"{prefix}_unit": value.unit}  # fmt: skip


def product(raw: RawRow, mapping: Mapping) -> tuple[Product | None, list[Problem]]:
    problems: list[Problem] = []

    def read(name: str, parse: Any, *args: Any) -> Any:
        value = raw.cells.get(name)
        if cells.is_blank(value):
            value = mapping.defaults.get(name)
        try:
            return parse(value, *args)
        except CellError as exc:
            problems.append(Problem(raw.sheet, raw.line, raw.headers.get(name, name), _shown(value), str(exc)))
            return None

    form = read("form", cells.form)
    strength_unit = cells.STRENGTH_UNIT.get(form or "", None)
    thc = read("thc", _amount, strength_unit, mapping.percent_cells) if "thc" in raw.cells else None
    cbd = read("cbd", _amount, strength_unit, mapping.percent_cells) if "cbd" in raw.cells else None
    if "strength" in raw.cells or "strength" in mapping.defaults:
        pair = read("strength", cells.strengths, strength_unit)
        if pair:
            thc, cbd = thc or pair[0], cbd or pair[1]
    texts = {name: read(name, _text, limit) for name, limit in TEXT_LIMITS.items()}
    row: dict[str, Any] = {
        **texts,
        "form": form,
        **_amount_columns("thc", thc),
        **_amount_columns("cbd", cbd),
        "strain_type": read("strain_type", cells.strain),
        "artg": read("artg", cells.artg),
        "tga_category": read("tga_category", cells.category),
        "schedule": read("schedule", cells.schedule),
        "access": list(read("access", cells.pathways) or ()),
    }
    pack = read("pack_size", cells.pack, cells.PACK_UNIT.get(form or "", None))
    row["pack_size"], row["pack_unit"] = (float(pack[0]), pack[1]) if pack else (None, None)
    wholesale, retail = read("wholesale", cells.price), read("retail", cells.price)
    row["wholesale_price"] = str(wholesale.amount) if wholesale else None
    row["retail_price"] = str(retail.amount) if retail else None
    row["wholesale_gst"] = (wholesale.gst if wholesale and wholesale.gst else mapping.prices.get("wholesale")) or None
    row["retail_gst"] = (retail.gst if retail and retail.gst else mapping.prices.get("retail")) or None
    available = cells.text(raw.cells.get("available"))
    row["available"] = not (available and available.casefold() in AVAILABLE_NO)

    _required(raw, row, thc, cbd, problems)
    if any(p.severity == "error" for p in problems):
        return None, problems
    warnings = _checks(raw, row, thc, cbd, wholesale, retail)
    key = row["code"] or _natural_key(row)
    row["raw"] = json.dumps({k: _shown(v) for k, v in raw.cells.items()}, ensure_ascii=False)[:8000]
    row["content_hash"] = hashlib.sha256(json.dumps({k: v for k, v in row.items() if k != "raw"}, sort_keys=True,
                                                    default=str).encode()).hexdigest()  # fmt: skip
    return Product(key, row, raw.line, warnings), problems + warnings


def _amount(value: object, unit: str | None, percent_cells: bool) -> Amount | None:
    return cells.amount(value, unit, fraction_is_percent=percent_cells and unit == "%")


def _text(value: object, limit: int) -> str | None:
    found = cells.text(value)
    if found is not None and len(found) > limit:
        raise CellError(f"longer than {limit} characters")
    return found


def _shown(value: object) -> str:
    return "" if cells.is_blank(value) else str(value)[:200]


def _required(raw: RawRow, row: dict[str, Any], thc: Amount | None, cbd: Amount | None,
              problems: list[Problem]) -> None:  # fmt: skip
    def missing(name: str, message: str) -> None:
        problems.append(Problem(raw.sheet, raw.line, raw.headers.get(name, name), "", message))

    if not row["product_name"]:
        missing("product_name", "a product needs a name")
    elif row["product_name"].startswith(FORMULA_STARTS):
        column = raw.headers.get("product_name", "product_name")
        message = "a name cannot begin with =, +, -, @ (a spreadsheet formula)"
        problems.append(Problem(raw.sheet, raw.line, column, row["product_name"][:200], message))
    if not row["form"] and not any(p.column == raw.headers.get("form", "form") for p in problems):
        missing("form", "a product needs a dose form")
    strength_columns = {raw.headers.get(n) for n in ("thc", "cbd", "strength")}
    if thc is None and cbd is None and not any(p.column in strength_columns for p in problems):
        column = next((n for n in ("strength", "thc", "cbd") if n in raw.headers), "strength")
        missing(column, "neither THC nor CBD content is given")


def _checks(raw: RawRow, row: dict[str, Any], thc: Amount | None, cbd: Amount | None,
            wholesale: cells.Price | None, retail: cells.Price | None) -> list[Problem]:  # fmt: skip
    def warn(name: str, value: object, message: str) -> Problem:
        return Problem(raw.sheet, raw.line, raw.headers.get(name, name), _shown(value), message, "warning")

    out = []
    computed = cells.computed_category(thc, cbd)
    row["computed_category"] = computed
    declared = row["tga_category"]
    if declared is None and computed is not None:
        row["tga_category"] = declared = computed
    if declared is not None and computed is not None and declared != computed:
        out.append(warn("tga_category", declared, f"declared category {declared}, but the THC and CBD figures "
                                                  f"suggest {computed}: check with the supplier"))  # fmt: skip
    if row["schedule"] is None and declared is not None:
        row["schedule"] = cells.schedule_for_category(declared)
    elif declared is not None and row["schedule"] != cells.schedule_for_category(declared) and row["schedule"] != "S3":
        out.append(warn("schedule", row["schedule"], f"category {declared} products are "
                                                     f"{cells.schedule_for_category(declared)}"))  # fmt: skip
    if row["artg"] and "ARTG" not in row["access"]:
        row["access"] = sorted({*row["access"], "ARTG"})
    if not row["artg"] and not row["access"]:
        row["access"] = ["AP", "SAS-B"]  # an unapproved product: reached through the TGA's schemes
    if wholesale and retail and wholesale.amount > retail.amount:
        out.append(warn("wholesale", wholesale.amount, "the wholesale price is above the retail price"))
    row["tga_dosage_form"] = row["form"]
    return out


def _natural_key(row: dict[str, Any]) -> str:
    parts = [row.get("brand") or "", row["product_name"], row["form"], row.get("pack_size") or "",
             row.get("pack_unit") or ""]  # fmt: skip
    return "k-" + derived_id(*(_NON_WORD.sub(" ", str(p)).strip().casefold() for p in parts))[:24]


def price_per_mg(row: dict[str, Any], cannabinoid: str) -> Decimal | None:
    """Retail dollars per mg of THC or CBD in the whole pack (to compare products across suppliers); None when the
    price, the content or the pack is unknown, or the content is only an upper bound."""
    price, content, size = row.get("retail_price"), row.get(f"{cannabinoid}_max"), row.get("pack_size")
    if not price or not content or not size or row.get(f"{cannabinoid}_op") == "<":
        return None
    per_unit = Decimal(str(content)) * (10 if row.get(f"{cannabinoid}_unit") == "%" else 1)  # 1 % w/w = 10 mg/g
    if row.get(f"{cannabinoid}_unit") not in ("%", "mg/g", "mg/mL", "mg/unit"):
        return None
    return (Decimal(price) / (per_unit * Decimal(str(size)))).quantize(Decimal("0.0001"))
