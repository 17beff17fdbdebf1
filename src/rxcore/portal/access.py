"""Who the portal caller is: a signed-in account linked to patient records, or a short-lived token obtained by
identifying with NHS number + date of birth + postcode (all three must match; the answer never says which was
wrong). One person may be registered at several clinics: a token covers each of their records, `patientId` picks
one (the first by default). Tokens are HMAC-SHA256 signed with PORTAL_TOKEN_SECRET and carry the patient ids and
the expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from appwrite.query import Query

from rxcore import audit
from rxcore.access import Caller
from rxcore.clock import iso
from rxcore.errors import ServiceError
from rxcore.identifiers import InvalidIdentifier
from rxcore.identifiers.au import normalise_medicare
from rxcore.identifiers.uk import normalise_nhs_number, normalise_postcode
from rxcore.portal.ratelimit import Limit, hit

TOKEN_LIFETIME = timedelta(minutes=15)
PER_IP = Limit("portal-identify-ip", 20, timedelta(minutes=5))
PER_NHS_NUMBER = Limit("portal-identify-nhs", 30, timedelta(hours=1))
NOT_MATCHED = "These details do not match our records."
MAX_RECORDS = 10  # one person's records across clinics


def _secret(c: Caller) -> bytes:
    secret = c.request.env.get("PORTAL_TOKEN_SECRET", "")
    if len(secret) < 32:
        raise ServiceError(
            500, "portal_not_configured", "PORTAL_TOKEN_SECRET is missing or shorter than 32 characters."
        )
    return secret.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def issue_token(c: Caller, patient_ids: list[str]) -> tuple[str, datetime]:
    expires = c.now + TOKEN_LIFETIME
    payload = _b64(json.dumps({"p": patient_ids, "e": int(expires.timestamp())}).encode())
    signature = _b64(hmac.new(_secret(c), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}", expires


def token_patients(c: Caller, token: str) -> list[str]:
    try:
        payload, signature = token.split(".")
        expected = _b64(hmac.new(_secret(c), payload.encode(), hashlib.sha256).digest())
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        claims, expected, signature = {}, "", "x"
    if not hmac.compare_digest(expected, signature) or claims.get("e", 0) < c.now.timestamp():
        raise ServiceError(401, "portal_token_invalid", "The portal session has expired; identify again.")
    return claims["p"]


def _identity_queries(body: dict[str, Any]) -> tuple[str, list[str] | None]:
    """(the key rate limits count against, the patient query) for what the caller gave: UK, NHS number + date of
    birth + postcode; Australia, Medicare number + IRN + date of birth. Malformed details match nobody."""
    born = body.get("dateOfBirth")
    born_ok = isinstance(born, str) and len(born) == 10
    if body.get("medicareNumber") is not None:
        raw = body.get("medicareNumber")
        try:
            medicare, irn = normalise_medicare(raw, body.get("medicareIrn"))
            if not irn or not born_ok:
                raise InvalidIdentifier("IRN and date of birth")
        except InvalidIdentifier:
            return f"malformed:{raw!s:.20}", None
        query = [Query.equal("medicare_number", medicare), Query.equal("medicare_irn", irn)]
        return f"medicare:{medicare}", [*query, Query.equal("date_of_birth", born), Query.limit(MAX_RECORDS)]
    raw = body.get("nhsNumber")
    try:
        nhs = normalise_nhs_number(raw)
        postcode = normalise_postcode(body.get("postcode"), allow_pseudo=True)
        if not born_ok:
            raise InvalidIdentifier("date of birth")
    except InvalidIdentifier:
        return f"malformed:{raw!s:.20}", None
    query = [Query.equal("nhs_number", nhs), Query.equal("date_of_birth", born), Query.equal("postcode", postcode)]
    return nhs, [*query, Query.limit(MAX_RECORDS)]


def identify(c: Caller, body: dict[str, Any], ip: str) -> dict[str, Any]:
    """The patient's details → a token. Counted against both rate limits before any lookup."""
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
        raise ServiceError(401, "portal_identification_failed", NOT_MATCHED)
    # One person may be registered at several clinics: the token covers each of their records.
    token, expires = issue_token(c, [p["$id"] for p in matches])
    for patient in matches:
        event = c.event("patient", "portal.identified", "patient", patient["$id"], patient["clinic_id"], patient["$id"])
        # The person who proved these details is the patient: the actor, as on every later action by token.
        audit.append(c.tables, [replace(event, actor_id=patient["$id"])], iso(c.now))
    return {"token": token, "expiresAt": iso(expires), "patients": [p["$id"] for p in matches]}


def resolve_patient(c: Caller, body: dict[str, Any]) -> dict[str, Any]:
    """The patient row this call is about: from the token, or from the signed-in account's linked records."""
    token = body.get("token")
    wanted = body.get("patientId")
    if isinstance(token, str) and token:
        ids = token_patients(c, token)
        if wanted is not None and wanted not in ids:
            raise ServiceError(404, "patient_not_found", "No patient record of yours has this id.")
        patient = c.tables.get("patients", wanted or ids[0])
        if patient is None:
            raise ServiceError(401, "portal_token_invalid", "The portal session has expired; identify again.")
        return patient
    if not c.request.user_id:
        raise ServiceError(401, "user_unauthorized", "Sign in, or identify with your NHS number first.")
    linked = c.tables.list("patients", [Query.equal("user_id", c.request.user_id), Query.limit(MAX_RECORDS)])
    chosen = [p for p in linked if wanted in (None, p["$id"])]
    if not chosen:
        raise ServiceError(404, "patient_not_found", "No patient record is linked to this account.")
    return chosen[0]
