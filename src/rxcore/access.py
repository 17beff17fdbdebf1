"""Shared by the functions: the caller, parallel reads, request checks, and who may do what, decided from the
user Appwrite identified (`x-appwrite-user-id`) and our rows.

A practitioner row (id = the user's id) says whether the user is an active prescriber or pharmacist and of which
clinics. Anything about another clinic's records answers 404, so its existence is not revealed."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appwrite.query import Query

from rxcore.audit import AuditEvent
from rxcore.errors import ServiceError
from rxcore.function_shell import FunctionRequest
from rxcore.tables import Tables

_POOL = ThreadPoolExecutor(max_workers=6, thread_name_prefix="rx-read")  # kept warm between executions


def gather(**calls: Callable[[], Any]) -> dict[str, Any]:
    """Run independent reads at once; answers by name. The first error is raised."""
    futures = {name: _POOL.submit(call) for name, call in calls.items()}
    return {name: future.result() for name, future in futures.items()}


def row_permissions(clinic_id: str, patient: dict[str, Any]) -> list[str]:
    """Clinic staff read the clinic's records; a patient linked to a user account reads their own."""
    permissions = [f'read("team:{clinic_id}")']
    if patient.get("user_id"):
        permissions.append(f'read("user:{patient["user_id"]}")')
    return permissions


def require_keys(body: dict[str, Any], allowed: set[str]) -> None:
    """Unknown keys are refused, so a caller cannot slip in `userId` or `prescriberId` and expect it to count."""
    unknown = sorted(set(body) - allowed - {"action"})
    if unknown:
        raise ServiceError(
            400,
            "general_argument_invalid",
            f"Unknown field(s) {', '.join(unknown)}. The caller is the signed-in user; allowed: "
            + ", ".join(sorted(allowed)),
        )


def text_field(body: dict[str, Any], key: str, *, required: bool = True, limit: int = 200) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ServiceError(400, "general_argument_invalid", f"`{key}` must be text of 1 to {limit} characters.")
    return value.strip()


@dataclass
class Caller:
    request: FunctionRequest
    tables: Tables
    user_id: str
    now: datetime

    def event(
        self,
        role: str,
        action: str,
        entity_type: str,
        entity_id: str,
        clinic_id: str,
        patient_id: str | None,
        **detail: Any,
    ) -> AuditEvent:
        return AuditEvent(
            actor_id=self.user_id,
            actor_role=role,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            clinic_id=clinic_id,
            patient_id=patient_id,
            ip=self.request.client_ip,
            detail=detail,
        )

    def now_fresh(self) -> datetime:
        """Now (not the start of the request), for long-running work."""
        return self.request.now()

    def prescription_event(self, role: str, action: str, prescription: dict[str, Any], **detail: Any) -> AuditEvent:
        """An event about a prescription, naming its number, clinic and patient."""
        return self.event(
            role,
            action,
            "prescription",
            prescription["$id"],
            prescription["clinic_id"],
            prescription["patient_id"],
            number=prescription["number"],
            **detail,
        )


def caller(request: FunctionRequest, *, guests: bool = False) -> Caller:
    """The caller of an execution; a guest (no `x-appwrite-user-id`) is refused unless `guests`, and is then
    "anonymous" until the function knows better."""
    if not request.user_id and not guests:
        raise ServiceError(401, "user_unauthorized", "Sign in first: this function acts for a signed-in user.")
    database = request.env.get("RX_DATABASE_ID", "main")
    return Caller(request, Tables(request.client, database), request.user_id or "anonymous", request.now())


def practitioner_of(row: dict[str, Any] | None, role: str, clinic_id: str | None = None) -> dict[str, Any]:
    """The caller's practitioner row if they are an active `role` (of `clinic_id` when given); otherwise 403/404."""
    if row is None or row["role"] != role or not row.get("active"):
        raise ServiceError(403, "practitioner_not_authorised", f"Only an active {role} may do this.")
    if clinic_id is not None and clinic_id not in (row.get("clinic_ids") or []):
        raise ServiceError(404, "clinic_not_found", "No clinic with this id is yours.")
    return row


def clinic_member(c: Caller, clinic_id: str, roles: set[str]) -> dict[str, Any]:
    """The clinic, if the caller is a confirmed member of its team holding one of `roles` (needs the function's
    `teams.read` scope); otherwise 404, so another clinic's existence is not revealed."""
    path = f"/teams/{clinic_id}/memberships"
    queries = [Query.equal("userId", c.user_id), Query.limit(1)]
    reads = gather(
        members=lambda: c.tables.call("get", path, {"queries": queries}).get("memberships", []),
        clinic=lambda: c.tables.get("clinics", clinic_id),
    )
    member = reads["members"][0] if reads["members"] else None
    if member is None or not member.get("confirm") or not roles & set(member.get("roles", [])) or not reads["clinic"]:
        raise ServiceError(404, "clinic_not_found", "No clinic with this id is yours.")
    return reads["clinic"]
