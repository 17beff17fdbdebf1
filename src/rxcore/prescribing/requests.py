"""The requests prescription-create and dispensing take (their JSON Schemas are in docs/functions/*.md)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from rxcore.actions import IdempotencyKey, RequestModel, RowId, text
from rxcore.prescribing.rules import MAX_ITEMS, MAX_REPEATS, ItemRequest


class ItemLine(RequestModel):
    """One medicine on a prescription: a dm+d product (`code`), or in Australia a medicinal-cannabis supplier
    product (`supplierProductId`, from supplier-import) with its access pathway and approval."""

    code: text(18) | None = Field(None, description="dm+d VMP or AMP code")
    supplier_product_id: RowId | None = Field(None, description="an Australian supplier product (supplier-import)")
    pathway: Literal["SAS-A", "SAS-B", "AP"] | None = Field(
        None, description="how an unapproved supplier product is reached: SAS-A, SAS-B or Authorised Prescriber"
    )
    approval_number: text(60) | None = Field(
        None, description="the prescriber's SAS-B approval or Authorised Prescriber number for this product"
    )
    dose: text(400) = Field(description="the directions")
    quantity: Decimal = Field(gt=0, le=100000, allow_inf_nan=False)
    unit: text(40) = Field(description="e.g. tablets, mL")
    quantity_words: str | None = Field(None, max_length=400, description="the total quantity in words")
    repeats: int | None = Field(None, ge=0, le=MAX_REPEATS)
    repeat_interval_days: int | None = Field(None, ge=1, le=365)
    days_supply: int | None = Field(None, ge=1, le=366)
    brand_substitution_not_permitted: bool = Field(
        False, description="Australia: the pharmacist may not supply another brand (PBS)"
    )
    clinical_justification: text(2000) | None = None

    @model_validator(mode="after")
    def _one_product(self) -> ItemLine:
        if (self.code is None) == (self.supplier_product_id is None):
            raise ValueError("give a dm+d `code` or a `supplierProductId`, one of them")
        if self.code is not None and (self.pathway or self.approval_number):
            raise ValueError("`pathway` and `approvalNumber` go with a `supplierProductId`")
        return self

    def to_request(self) -> ItemRequest:
        return ItemRequest(
            code=self.code or self.supplier_product_id or "",
            dose=self.dose,
            quantity=self.quantity,
            unit=self.unit,
            quantity_words=self.quantity_words or None,  # blank words are no words
            repeats=self.repeats or 0,
            repeat_interval_days=self.repeat_interval_days,
            days_supply=self.days_supply,
            no_brand_substitution=self.brand_substitution_not_permitted,
            justification=self.clinical_justification,
            supplier=self.supplier_product_id is not None,
            pathway=self.pathway,
            approval_number=self.approval_number,
        )


class CreatePrescription(RequestModel):
    clinic_id: RowId
    patient_id: RowId
    idempotency_key: IdempotencyKey
    items: list[ItemLine] = Field(min_length=1, max_length=MAX_ITEMS)
    authority_number: text(40) | None = None
    start_date: date | None = Field(None, description="post-dated: from today to 6 months on")
    sign: bool = Field(False, description="sign at once (the same as `sign` after `create`)")


class MedicineSearch(RequestModel):
    """Find a medicine to prescribe: every word must match, best first, brands found by their generic name."""

    query: text(100) = Field(description='what the prescriber typed, e.g. "ibuprofen tab"')
    limit: int = Field(20, ge=1, le=50)


class PrescriptionRef(RequestModel):
    prescription_id: RowId


class CancelPrescription(PrescriptionRef):
    reason: text(400)


class NumberRef(RequestModel):
    number: text(40) = Field(description="the prescription's number (UK EPS token or AU number)")


class DispenseLine(RequestModel):
    item_id: RowId
    quantity: Decimal = Field(gt=0, le=100000, allow_inf_nan=False)


class Dispense(NumberRef):
    idempotency_key: IdempotencyKey
    items: list[DispenseLine] = Field(min_length=1, max_length=MAX_ITEMS)
    note: text(400) | None = None

    @model_validator(mode="after")
    def _each_item_once(self) -> Dispense:
        if len({line.item_id for line in self.items}) != len(self.items):
            raise ValueError("each item may appear once per dispense")
        return self


class ControlledDrugReport(RequestModel):
    clinic_id: RowId
    first: date = Field(alias="from", description="the first day, in the clinic's calendar")
    last: date = Field(alias="to", description="the last day (at most a year after `from`)")
    cursor: str | None = Field(None, max_length=20)
    limit: int = Field(50, ge=1, le=100)
    format: Literal["json", "csv"] = "json"

    @model_validator(mode="after")
    def _period(self) -> ControlledDrugReport:
        if self.last < self.first or (self.last - self.first).days > 366:
            raise ValueError("`to` is on or after `from`, at most a year later")
        return self
