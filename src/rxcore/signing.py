"""Prescriber signatures: Ed25519 over the prescription's canonical form.

Each practitioner has one key pair. The private key is stored only encrypted (AES-256-GCM under a key derived
from the RX_PRACTITIONER_KEY_SECRET function variable, bound to the practitioner's id) in a table no client role
can read; the public key and its fingerprint are on the practitioner's row, so anyone can verify."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from rxcore.errors import NotConfigured

_RAW = serialization.Encoding.Raw


def _wrapping_key(secret: str) -> bytes:
    if len(secret) < 32:
        raise NotConfigured(
            "signing_not_configured", "RX_PRACTITIONER_KEY_SECRET is missing or shorter than 32 characters."
        )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"rx-practitioner-key-v1").derive(secret.encode())


def new_key_pair(secret: str, practitioner_id: str) -> tuple[str, str]:
    """(encrypted private key, public key), both base64."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    nonce = os.urandom(12)
    sealed = AESGCM(_wrapping_key(secret)).encrypt(nonce, raw, practitioner_id.encode())
    public = private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    return base64.b64encode(nonce + sealed).decode(), base64.b64encode(public).decode()


def sign(secret: str, practitioner_id: str, sealed_private: str, message: bytes) -> str:
    blob = base64.b64decode(sealed_private)
    raw = AESGCM(_wrapping_key(secret)).decrypt(blob[:12], blob[12:], practitioner_id.encode())
    return base64.b64encode(Ed25519PrivateKey.from_private_bytes(raw).sign(message)).decode()


def verify(public_key: str, message: bytes, signature: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key)).verify(base64.b64decode(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def fingerprint(public_key: str) -> str:
    """SHA-256 of the raw public key, as 16 groups of 4 hex digits (printed on the PDF)."""
    digest = hashlib.sha256(base64.b64decode(public_key)).hexdigest().upper()
    return " ".join(digest[i : i + 4] for i in range(0, 64, 4))
