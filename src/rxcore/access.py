"""Who may read a clinical record: the row and file permissions the functions write.

(Who the caller is lives in rxcore.identity.)"""

from __future__ import annotations

from typing import Any


def row_permissions(clinic_id: str, patient: dict[str, Any]) -> list[str]:
    """Clinic staff read the clinic's records; a patient linked to a user account reads their own."""
    permissions = [f'read("team:{clinic_id}")']
    if patient.get("user_id"):
        permissions.append(f'read("user:{patient["user_id"]}")')
    return permissions
