"""Short-lived portal tokens: what a patient holds after identifying with their NHS (or Medicare) details.

A token is `<payload>.<signature>`: the payload (base64url JSON) names the patient records it covers and its expiry;
the signature is HMAC-SHA256 with the function's RX_PORTAL_TOKEN_SECRET. Pure: no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta

from rxcore.errors import NotConfigured, Unauthorized

LIFETIME = timedelta(minutes=15)
MIN_SECRET = 32


def _key(secret: str) -> bytes:
    if len(secret) < MIN_SECRET:
        raise NotConfigured("portal_not_configured", "RX_PORTAL_TOKEN_SECRET is missing or shorter than 32 characters.")
    return secret.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def issue(secret: str, patient_ids: list[str], now: datetime) -> tuple[str, datetime]:
    expires = now + LIFETIME
    payload = _b64(json.dumps({"p": patient_ids, "e": int(expires.timestamp())}).encode())
    signature = _b64(hmac.new(_key(secret), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}", expires


def patients_of(secret: str, token: str, now: datetime) -> list[str]:
    """The patient ids a valid, unexpired token covers; 401 otherwise."""
    try:
        payload, signature = token.split(".")
        expected = _b64(hmac.new(_key(secret), payload.encode(), hashlib.sha256).digest())
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        patients, expiry = claims["p"], claims["e"]
    except (ValueError, TypeError, KeyError):
        patients, expiry, expected, signature = [], 0, "", "x"
    if not hmac.compare_digest(expected, signature) or expiry < now.timestamp() or not patients:
        raise Unauthorized("portal_token_invalid", "The portal session has expired; identify again.")
    return patients
