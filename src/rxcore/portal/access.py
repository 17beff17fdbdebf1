"""Identifying a patient for the portal: NHS number + date of birth + postcode (UK) or Medicare number + IRN +
date of birth (Australia); all must match, and the answer never says which was wrong. One person may be registered
at several clinics: the token issued (rxcore.patient_tokens) covers each of their records. Both rate limits count
every attempt before any lookup."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from typing import Any

from appwrite.query import Query

from rxcore import audit, patient_tokens
from rxcore.clock import iso
from rxcore.errors import Unauthorized
from rxcore.identifiers import InvalidIdentifier
from rxcore.identifiers.au import normalise_medicare
from rxcore.identifiers.uk import normalise_nhs_number, normalise_postcode
from rxcore.identity import MAX_PATIENT_RECORDS, Caller
from rxcore.portal.ratelimit import Limit, hit
from rxcore.portal.requests import Identify

PER_IP = Limit("portal-identify-ip", 20, timedelta(minutes=5))
PER_NHS_NUMBER = Limit("portal-identify-nhs", 30, timedelta(hours=1))
NOT_MATCHED = "These details do not match our records."


def _identity_queries(body: Identify) -> tuple[str, list[str] | None]:
    """(the key rate limits count against, the patient query) for what the caller gave: UK, NHS number + date of
    birth + postcode; Australia, Medicare number + IRN + date of birth. Malformed details match nobody."""
    born = body.date_of_birth
    born_ok = isinstance(born, str) and len(born) == 10
    if body.medicare_number is not None:
        raw = body.medicare_number
        try:
            medicare, irn = normalise_medicare(raw, body.medicare_irn)
            if not irn or not born_ok:
                raise InvalidIdentifier("IRN and date of birth")
        except InvalidIdentifier:
            return f"malformed:{raw!s:.20}", None
        query = [Query.equal("medicare_number", medicare), Query.equal("medicare_irn", irn)]
        return f"medicare:{medicare}", [*query, Query.equal("date_of_birth", born), Query.limit(MAX_PATIENT_RECORDS)]
    raw = body.nhs_number
    try:
        nhs = normalise_nhs_number(raw)
        postcode = normalise_postcode(body.postcode, allow_pseudo=True)
        if not born_ok:
            raise InvalidIdentifier("date of birth")
    except InvalidIdentifier:
        return f"malformed:{raw!s:.20}", None
    query = [Query.equal("nhs_number", nhs), Query.equal("date_of_birth", born), Query.equal("postcode", postcode)]
    return nhs, [*query, Query.limit(MAX_PATIENT_RECORDS)]


def identify(c: Caller, body: Identify) -> dict[str, Any]:
    """The patient's details → a portal token (rate limited per IP address and per identifier)."""
    ip = c.request.client_ip
    hit(c.tables, PER_IP, ip or "unknown", c.now)
    key, query = _identity_queries(body)
    hit(c.tables, PER_NHS_NUMBER, key, c.now)
    matches = c.tables.list("patients", query) if query else []
    if not matches:
        event = audit.AuditEvent(
            "anonymous",
            "patient",
            "portal.identification_failed",
            "patient",
            "-",
            None,
            None,
            ip,
            {"identifier_hash": hashlib.sha256(key.encode()).hexdigest()[:16]},
        )
        audit.append(c.tables, [event], iso(c.now))
        raise Unauthorized("portal_identification_failed", NOT_MATCHED)
    # One person may be registered at several clinics: the token covers each of their records.
    secret = c.settings.portal_token_secret.get_secret_value()  # type: ignore[attr-defined]
    token, expires = patient_tokens.issue(secret, [p["$id"] for p in matches], c.now)
    for patient in matches:
        event = c.event("patient", "portal.identified", "patient", patient["$id"], patient["clinic_id"], patient["$id"])
        # The person who proved these details is the patient: the actor, as on every later action by token.
        audit.append(c.tables, [replace(event, actor_id=patient["$id"])], iso(c.now))
    return {"token": token, "expiresAt": iso(expires), "patients": [p["$id"] for p in matches]}
