"""The requests patient-portal takes (their JSON Schemas are in docs/functions/patient-portal.md)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from rxcore.actions import RequestModel, RowId

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class Identify(RequestModel):
    """UK: NHS number + date of birth + postcode; Australia: Medicare number + IRN + date of birth. Details in
    the wrong form simply match nobody (the answer never says which detail was wrong)."""

    nhs_number: str | None = Field(None, max_length=40)
    date_of_birth: str | None = Field(None, max_length=40)
    postcode: str | None = Field(None, max_length=40)
    medicare_number: str | None = Field(None, max_length=40)
    medicare_irn: str | int | None = None


class PatientRequest(RequestModel):
    """Every action after identification: the portal token, or a signed-in account linked to the records."""

    token: str | None = Field(None, max_length=4000)
    patient_id: RowId | None = Field(None, description="which of the caller's records (the first by default)")


class History(PatientRequest):
    limit: int = Field(20, ge=1, le=50)
    cursor: RowId | None = None
    first: date | None = Field(None, alias="from")
    last: date | None = Field(None, alias="to")


class PrescriptionOfPatient(PatientRequest):
    prescription_id: RowId


class Preferences(PatientRequest):
    """Only the fields given change; a quiet-hours field given as null clears it."""

    email: bool | None = None
    sms: bool | None = None
    whatsapp: bool | None = None
    quiet_hours_start: str | None = Field(None, pattern=HHMM)
    quiet_hours_end: str | None = Field(None, pattern=HHMM)
