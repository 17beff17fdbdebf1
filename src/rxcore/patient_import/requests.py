"""The requests patient-import takes (their JSON Schemas are in docs/functions/patient-import.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rxcore.actions import RequestModel, RowId


class RunImport(RequestModel):
    file_id: RowId = Field(description="the uploaded CSV or Excel file in the patient_imports bucket")
    clinic_id: RowId
    mapping: dict[str, str] = Field(min_length=1, max_length=60, description="{file column: patient field}")
    mode: Literal["create", "upsert"] = Field("create", description="upsert also updates patients already there")
    dry_run: bool = Field(False, description="check and count only; write no patient")


class ImportStatus(RequestModel):
    batch_id: RowId
