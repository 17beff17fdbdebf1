"""Prescribing rules, pure: which products may be prescribed, controlled-drug requirements, validity.

UK: Human Medicines Regulations 2012 reg 217 (6 months; repeatables first dispensed within 6 months),
Misuse of Drugs Regulations 2001 (Schedules 2 and 3: total quantity in words and figures, a dose, the form,
no repeats; Schedules 2-4 valid 28 days) and the DHSC 30-day supply guidance (a warning that needs a recorded
justification). Australia: the Poisons Standard (S8: authority or permit number, repeats only with an interval,
quantity in words and figures, one S8 item per prescription; S4 valid 12 months, S8 6 months) and the PBS
default of 20 days between supplies for items with more than 4 repeats. Sources and confidence:
../shared/reference/identifiers-and-rules.md sections 4 and 8."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from rxcore.errors import ServiceError
from rxcore.prescribing.words import words_to_number

MAX_ITEMS = 20
MAX_REPEATS = 12
PRESCRIBABLE_TYPES = ("vmp", "amp", "sup")  # "sup": an Australian medicinal-cannabis supplier product
SUPPLIER_FORMS = {"flower": "dried flower", "oil": "oral liquid", "capsule": "capsule", "pastille": "pastille",
                  "spray": "oromucosal spray", "vape_cartridge": "vaporiser cartridge"}  # fmt: skip
UK_WORDS_SCHEDULES = ("2", "3")  # total quantity in words and figures, no repeats, a real dose
UK_28_DAY_SCHEDULES = ("2", "3", "4")
PBS_DEFAULT_INTERVAL_DAYS = 20
_AS_DIRECTED = re.compile(r"^(?:(?:take|use|apply|give)\s+)?as\s+directed\.?$", re.IGNORECASE)


class RuleViolation(ServiceError):
    """A prescription the rules refuse: 400 with a specific type and a message naming the item."""

    def __init__(self, type_: str, message: str):
        super().__init__(400, type_, message)


@dataclass(frozen=True)
class Product:
    """The facts of a `medicines` row that prescribing depends on."""

    code: str
    type: str
    name: str
    form: str | None
    legal_category: str | None
    cd_schedule: str | None  # UK Misuse of Drugs Regulations schedule "1".."5"
    au_schedule: str | None  # Australian Poisons Standard schedule "S2".."S9"
    discontinued: bool
    invalid: bool
    available: bool
    retired: bool
    artg: str | None = None  # supplier products: the ARTG number when registered (almost none are)
    tga_category: int | None = None  # supplier products: TGA medicinal-cannabis category 1-5

    @classmethod
    def from_supplier_row(cls, row: dict[str, Any]) -> Product:
        """A supplier-import product as prescribing sees it; its item code is short (the items table's code column
        holds 18 characters) and the full id is kept on the item as `supplier_product_id`."""
        return cls(
            code=supplier_code(row["$id"]),
            type="sup",
            name=supplier_name(row),
            form=SUPPLIER_FORMS.get(row["form"], row["form"]),
            legal_category="POM",
            cd_schedule=None,
            au_schedule=row.get("schedule"),
            discontinued=row.get("status") != "active",
            invalid=False,
            available=row.get("available", True) is not False,
            retired=False,
            artg=row.get("artg"),
            tga_category=row.get("tga_category"),
        )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Product:
        return cls(
            code=row["code"],
            type=row["type"],
            name=row["name"],
            form=row.get("form"),
            legal_category=row.get("legal_category"),
            cd_schedule=row.get("cd_schedule"),
            au_schedule=row.get("au_schedule"),
            discontinued=bool(row.get("discontinued")),
            invalid=bool(row.get("invalid")),
            available=row.get("available", True) is not False,
            retired=bool(row.get("retired")),
        )


def supplier_code(product_id: str) -> str:
    return "SP" + product_id[:16]


def _amount_text(row: dict[str, Any], prefix: str) -> str | None:
    high = row.get(f"{prefix}_max")
    if high is None:
        return None
    low, op, unit = row.get(f"{prefix}_min"), row.get(f"{prefix}_op"), row.get(f"{prefix}_unit") or ""
    figure = f"{low:g}-{high:g}" if low is not None and low != high else f"{high:g}"
    return f"{prefix.upper()} {'<' if op == '<' else ''}{figure} {unit}".replace(" %", "%")


def supplier_name(row: dict[str, Any]) -> str:
    """Name, strength, form and pack, as a prescription must state them (QLD: a TGA category alone is not
    lawful): "Tasmanian Botanics THC 27 Royale Sunflower (THC 27%, CBD 0%) dried flower, 15 g"."""
    strength = ", ".join(filter(None, (_amount_text(row, "thc"), _amount_text(row, "cbd"))))
    pack = f"{row['pack_size']:g} {row['pack_unit']}" if row.get("pack_size") and row.get("pack_unit") else ""
    brand = row.get("brand") or ""
    name = row["product_name"] if row["product_name"].startswith(brand) else f"{brand} {row['product_name']}".strip()
    form = SUPPLIER_FORMS.get(row["form"], row["form"])
    return f"{name} ({strength}) {form}{', ' + pack if pack else ''}"[:800]


@dataclass(frozen=True)
class ItemRequest:
    code: str
    dose: str
    quantity: Decimal
    unit: str
    quantity_words: str | None
    repeats: int
    repeat_interval_days: int | None
    days_supply: int | None
    justification: str | None
    supplier: bool = False  # `code` is a supplier product id
    pathway: str | None = None
    approval_number: str | None = None
    no_brand_substitution: bool = False  # Australia (PBS): the brand prescribed is the brand supplied


@dataclass(frozen=True)
class CheckedItem:
    line: int
    product: Product
    request: ItemRequest
    schedule: str | None  # the controlled-drug schedule that applied: UK "2".."5" or AU "S8"
    controlled: bool
    first_dispense_days: tuple[int, str]  # (amount, "days" | "months") from the appropriate date
    validity: tuple[int, str]
    min_interval_days: int  # between the start of one supply and the next


def _label(line: int, product: Product) -> str:
    return f"Item {line} ({product.name})"


def _check_product(line: int, request: ItemRequest, product: Product | None) -> Product:
    code = request.code
    if product is None and request.supplier:
        raise RuleViolation("supplier_product_not_found", f"Item {line}: no supplier product has the id {code}.")
    if product is None:
        raise RuleViolation("medicine_not_found", f"Item {line}: no medicine has the dm+d code {code}.")
    label = _label(line, product)
    if product.type not in PRESCRIBABLE_TYPES:
        raise RuleViolation(
            "medicine_not_prescribable",
            f"{label} is a {product.type.upper()}; prescribe a VMP (generic) or AMP (brand) code.",
        )
    if product.retired or product.invalid:
        raise RuleViolation("medicine_not_prescribable", f"{label} is no longer valid in dm+d.")
    if product.type == "sup" and product.discontinued:
        raise RuleViolation("medicine_not_prescribable", f"{label} has been discontinued by its supplier.")
    if product.discontinued or not product.available:
        raise RuleViolation("medicine_not_prescribable", f"{label} is discontinued or not available.")
    return product


def _check_words(label: str, request: ItemRequest, required: bool, rule: str) -> None:
    if request.quantity_words is None:
        if required:
            raise RuleViolation(
                "controlled_drug_quantity_words_required",
                f"{label}: {rule} needs the total quantity in words and figures (`quantityWords`).",
            )
        return
    in_words = words_to_number(request.quantity_words)
    if in_words != request.quantity:
        # The error names what is wrong: words given for any item must match; only controlled drugs need them.
        raise RuleViolation(
            "controlled_drug_quantity_words_mismatch" if required else "quantity_words_mismatch",
            f"{label}: the quantity in words ({request.quantity_words!r}) does not match the figures "
            f"({request.quantity.normalize():f}).",
        )


def _check_dose(label: str, request: ItemRequest, rule: str) -> None:
    if _AS_DIRECTED.match(request.dose):
        raise RuleViolation(
            "controlled_drug_dose_required", f"{label}: {rule} needs a dose; 'as directed' alone is not one."
        )


def check_uk_item(line: int, product: Product, request: ItemRequest) -> CheckedItem:
    label = _label(line, product)
    schedule = product.cd_schedule
    if schedule == "1":
        raise RuleViolation("medicine_not_prescribable", f"{label} is a Schedule 1 controlled drug.")
    rule = f"a Schedule {schedule} controlled drug"
    if schedule in UK_WORDS_SCHEDULES:
        _check_words(label, request, True, rule)
        _check_dose(label, request, rule)
        if request.repeats:
            raise RuleViolation(
                "controlled_drug_repeats_not_allowed", f"{label}: {rule} cannot be on a repeatable prescription."
            )
        if not product.form:
            raise RuleViolation("controlled_drug_form_required", f"{label}: {rule} needs its form in dm+d.")
    else:
        _check_words(label, request, False, rule)
    if schedule in UK_28_DAY_SCHEDULES:
        if request.days_supply is None:
            raise RuleViolation(
                "controlled_drug_days_supply_required", f"{label}: {rule} needs `daysSupply` (at most 30 advised)."
            )
        if request.days_supply > 30 and not request.justification:
            raise RuleViolation(
                "controlled_drug_supply_over_30_days",
                f"{label}: more than 30 days' supply of {rule} needs a `clinicalJustification` (DHSC guidance).",
            )
        first = (28, "days")
        validity = (28, "days") if not request.repeats else (6, "months")
    else:
        first = (6, "months")
        validity = (12, "months") if request.repeats else (6, "months")
    return CheckedItem(
        line=line,
        product=product,
        request=request,
        schedule=schedule,
        controlled=schedule is not None,
        first_dispense_days=first,
        validity=validity,
        min_interval_days=request.repeat_interval_days or 0,
    )


def au_schedule(product: Product) -> str | None:
    """The Poisons Standard schedule: the catalogue's own value, else the one the UK facts settle without doubt
    (a UK Schedule 2 CD is an S8 drug of dependence; a non-CD POM is S4). UK Schedules 3-5 map to different
    Australian schedules drug by drug (temazepam S4, buprenorphine S8), so they are never guessed."""
    if product.au_schedule:
        return product.au_schedule
    if product.cd_schedule == "2":
        return "S8"
    if product.cd_schedule is None and product.legal_category == "POM":
        return "S4"
    return None


def _check_supplier_access(label: str, product: Product, request: ItemRequest) -> None:
    """An unapproved medicinal-cannabis product (no ARTG number: nearly all of them) is reached through a TGA
    scheme, which the prescription names with the prescriber's approval: SAS-B approval or Authorised Prescriber
    number (SAS-A: the notification's reference). Registered products (Sativex, Epidyolex) need neither."""
    if product.artg:
        return
    if request.pathway is None:
        raise RuleViolation(
            "supplier_pathway_required",
            f"{label} is not on the ARTG: name its access pathway (`pathway`: SAS-B, AP or SAS-A).",
        )
    if not request.approval_number:
        raise RuleViolation(
            "supplier_approval_required",
            f"{label}: an unapproved product needs the prescriber's {request.pathway} approval number "
            "(`approvalNumber`).",
        )


def check_au_item(line: int, product: Product, request: ItemRequest, authority: str | None) -> CheckedItem:
    label = _label(line, product)
    if product.type == "sup":
        _check_supplier_access(label, product, request)
    schedule = au_schedule(product)
    if schedule is None:
        raise RuleViolation(
            "medicine_schedule_unknown",
            f"{label} has no Australian schedule in the catalogue; it cannot be prescribed.",
        )
    if schedule == "S9":
        raise RuleViolation("medicine_not_prescribable", f"{label} is a Schedule 9 prohibited substance.")
    if schedule == "S8":
        rule = "an S8 controlled drug"
        if not authority:
            raise RuleViolation(
                "s8_authority_required", f"{label}: {rule} needs an authority or permit number (`authorityNumber`)."
            )
        if request.repeats and request.repeat_interval_days is None:
            raise RuleViolation(
                "s8_repeat_interval_required", f"{label}: {rule} with repeats needs `repeatIntervalDays`."
            )
        _check_words(label, request, True, rule)
        _check_dose(label, request, rule)
        validity = (6, "months")
    else:
        _check_words(label, request, False, f"a {schedule} medicine")
        validity = (12, "months")
    interval = request.repeat_interval_days
    if interval is None and request.repeats > 4:
        interval = PBS_DEFAULT_INTERVAL_DAYS
    return CheckedItem(
        line=line,
        product=product,
        request=request,
        schedule=schedule,
        controlled=schedule == "S8",
        first_dispense_days=validity,
        validity=validity,
        min_interval_days=interval or 0,
    )


def check_items(
    country: str, requests: list[ItemRequest], products: dict[str, Product], authority: str | None
) -> list[CheckedItem]:
    checked = []
    for line, request in enumerate(requests, start=1):
        product = _check_product(line, request, products.get(request.code))
        if country == "UK" and product.type == "sup":
            raise RuleViolation(
                "supplier_product_not_in_uk", f"Item {line}: supplier products are prescribed in Australia only."
            )
        if country == "UK" and request.no_brand_substitution:
            raise RuleViolation(
                "brand_substitution_au_only",
                f"Item {line}: `brandSubstitutionNotPermitted` is an Australian (PBS) mark; in the UK a product "
                "prescribed by brand is supplied as that brand.",
            )
        if country == "UK":
            checked.append(check_uk_item(line, product, request))
        else:
            checked.append(check_au_item(line, product, request, authority))
    if country == "AU" and len(checked) > 1 and any(item.schedule == "S8" for item in checked):
        raise RuleViolation("s8_must_be_only_item", "An S8 controlled drug must be the only item on its prescription.")
    return checked


def check_patient(country: str, items: list[CheckedItem], patient: dict[str, Any]) -> None:
    """Controlled-drug prescriptions name the patient's address (and, in Australia, date of birth)."""
    if not any(item.controlled for item in items):
        return
    if not (patient.get("address") or "").strip():
        raise RuleViolation("patient_address_required", "A controlled-drug prescription needs the patient's address.")
    if country == "AU" and not patient.get("date_of_birth"):
        raise RuleViolation("patient_dob_required", "An S8 prescription needs the patient's date of birth.")


def add_period(start: date, period: tuple[int, str]) -> date:
    amount, unit = period
    if unit == "days":
        return start + timedelta(days=amount)
    month_index = start.month - 1 + amount
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Validity:
    appropriate_date: date
    first_dispense_by: date
    expires_on: date


def period_text(period: tuple[int, str]) -> str:
    """How an item stores its periods between drafting and signing: "28 days", "6 months"."""
    return f"{period[0]} {period[1]}"


def parse_period(text: str) -> tuple[int, str]:
    amount, unit = text.split()
    return int(amount), unit


def validity(
    periods: list[tuple[tuple[int, str], tuple[int, str]]], signed_on: date, start_date: date | None
) -> Validity:
    """`periods` holds each item's (first dispense within, valid for). The appropriate date is the later of the
    signing date and any start date the prescriber gives; the strictest item sets the whole prescription's dates
    (one controlled drug makes it a 28-day prescription). Dates are the last day on which dispensing is allowed:
    "valid 28 days" from 1 March ends on 28 March."""
    appropriate = max(signed_on, start_date) if start_date else signed_on
    day = timedelta(days=1)
    return Validity(
        appropriate_date=appropriate,
        first_dispense_by=min(add_period(appropriate, first) for first, _ in periods) - day,
        expires_on=min(add_period(appropriate, valid) for _, valid in periods) - day,
    )
