"""Who is calling, decided in one place for every function.

The user is only ever the one Appwrite identified (`x-appwrite-user-id`); what they may do comes from our rows:
a practitioner row (id = the user's id) says whether they are an active prescriber or pharmacist and of which
clinics; a clinic's team membership says whether they are its admin or staff; a patient is a signed-in account
linked to patient records, or holds a short-lived portal token (rxcore.patient_tokens). Anything about another
clinic's records answers 404, so its existence is not revealed."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from appwrite.query import Query
from appwrite.services.teams import Teams
from appwrite.services.users import Users

from rxcore import patient_tokens
from rxcore.audit import AuditEvent
from rxcore.errors import Forbidden, NotFound, Unauthorized
from rxcore.function_shell import FunctionRequest
from rxcore.settings import Settings
from rxcore.tables import Tables

PARALLEL_READS = 8
MAX_PATIENT_RECORDS = 10  # one person's records across clinics


@dataclass
class Caller:
    request: FunctionRequest
    tables: Tables
    user_id: str
    now: datetime
    settings: Settings = field(default_factory=Settings)
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _batch_pool: ThreadPoolExecutor | None = field(default=None, repr=False)

    def gather(self, **calls: Callable[[], Any]) -> dict[str, Any]:
        """Run independent reads at once; answers by name. The first error is raised. The threads live as long
        as this execution (`close`), so no state outlives a request."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=PARALLEL_READS, thread_name_prefix="rx-read")
        futures = {name: self._pool.submit(call) for name, call in calls.items()}
        return {name: future.result() for name, future in futures.items()}

    def each(self, call: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        """`call` for every item, PARALLEL_READS at a time, answers in order; the first error is raised. Its own
        threads (not `gather`'s), so a call may itself gather without waiting for a thread it holds."""
        if self._batch_pool is None:
            self._batch_pool = ThreadPoolExecutor(max_workers=PARALLEL_READS, thread_name_prefix="rx-each")
        return list(self._batch_pool.map(call, items))

    def close(self) -> None:
        for pool in (self._pool, self._batch_pool):
            if pool is not None:
                pool.shutdown(wait=False)
        self._pool = self._batch_pool = None

    def event(
        self,
        role: str,
        action: str,
        entity_type: str,
        entity_id: str,
        clinic_id: str | None,
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

    # --- practitioners and clinic staff ------------------------------------------------------------------------
    def practitioner(self, role: str, clinic_id: str | None = None) -> dict[str, Any]:
        """The caller's practitioner row if they are an active `role` (of `clinic_id` when given); else 403/404."""
        return practitioner_of(self.tables.get("practitioners", self.user_id), role, clinic_id)

    def clinic_member(self, clinic_id: str, roles: set[str]) -> dict[str, Any]:
        """The clinic, if the caller is a confirmed member of its team holding one of `roles` (needs the
        function's `teams.read` scope); otherwise 404, so another clinic's existence is not revealed."""
        teams = Teams(self.request.client)
        queries = [Query.equal("userId", self.user_id), Query.limit(1)]
        reads = self.gather(
            members=lambda: teams.list_memberships(clinic_id, queries=queries).memberships,
            clinic=lambda: self.tables.get("clinics", clinic_id),
        )
        member = reads["members"][0] if reads["members"] else None
        if member is None or not member.confirm or not roles & set(member.roles) or not reads["clinic"]:
            raise NotFound("clinic_not_found", "No clinic with this id is yours.")
        return reads["clinic"]

    # --- patients -----------------------------------------------------------------------------------------------
    def patient(self, token: str | None, wanted: str | None) -> dict[str, Any]:
        """The patient row this call is about: from a portal token, or from the signed-in account's linked
        records (`wanted` picks one of several; the first otherwise)."""
        if token:
            secret = self.settings.portal_token_secret.get_secret_value()  # type: ignore[attr-defined]
            ids = patient_tokens.patients_of(secret, token, self.now)
            if wanted is not None and wanted not in ids:
                raise NotFound("patient_not_found", "No patient record of yours has this id.")
            patient = self.tables.get("patients", wanted or ids[0])
            if patient is None:
                raise Unauthorized("portal_token_invalid", "The portal session has expired; identify again.")
            return patient
        if not self.request.user_id:
            raise Unauthorized("user_unauthorized", "Sign in, or identify with your NHS number first.")
        query = [Query.equal("user_id", self.request.user_id), Query.limit(MAX_PATIENT_RECORDS)]
        chosen = [p for p in self.tables.list("patients", query) if wanted in (None, p["$id"])]
        if not chosen:
            raise NotFound("patient_not_found", "No patient record is linked to this account.")
        return chosen[0]


def system_only(c: Caller) -> None:
    """Refuse anything but Appwrite's own triggers (an event, the schedule): `x-appwrite-trigger` is set by the
    server, never by a caller, whose request gets 404 as for an action that does not exist."""
    if c.request.trigger not in ("event", "schedule"):
        raise NotFound("general_route_not_found", "This action is only run by Appwrite events and schedules.")


def is_platform_admin(c: Caller) -> bool:
    """A platform operator: the `admin` label on their Appwrite account (set by an API key, never by a user)."""
    return "admin" in (Users(c.request.client).get(c.user_id).labels or [])


def practitioner_of(row: dict[str, Any] | None, role: str, clinic_id: str | None = None) -> dict[str, Any]:
    """`row` if it is an active `role` (of `clinic_id` when given); otherwise 403/404."""
    if row is None or row["role"] != role or not row.get("active"):
        raise Forbidden("practitioner_not_authorised", f"Only an active {role} may do this.")
    if clinic_id is not None and clinic_id not in (row.get("clinic_ids") or []):
        raise NotFound("clinic_not_found", "No clinic with this id is yours.")
    return row


def caller(request: FunctionRequest, *, guests: bool = False, settings: Settings | None = None) -> Caller:
    """The caller of an execution; a guest (no `x-appwrite-user-id`) is refused unless `guests`, and is then
    "anonymous" until the function knows better."""
    if not request.user_id and not guests:
        raise Unauthorized("user_unauthorized", "Sign in first: this function acts for a signed-in user.")
    settings = settings or Settings.from_env(request.env)
    tables = Tables(request.client, settings.database_id)
    return Caller(request, tables, request.user_id or "anonymous", request.now(), settings)
