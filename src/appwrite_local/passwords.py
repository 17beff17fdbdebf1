"""Password hashes: our own (argon2id) and the imported kinds Appwrite's users.create*User accepts.

Appwrite's default argon2 cost is 64 MiB x 4 passes; a local server that creates many users in tests uses
the OWASP minimum instead (19 MiB x 2). The hash records its parameters, so either verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_ARGON2 = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
ARGON2_OPTIONS = {"type": "argon2", "memoryCost": 19456, "timeCost": 2, "threads": 1}


def hash_password(password: str) -> tuple[str, str, dict[str, Any]]:
    return _ARGON2.hash(password), "argon2", dict(ARGON2_OPTIONS)


def verify_password(password: str, stored: str | None, algo: str | None, options: dict[str, Any]) -> bool:
    if not stored:
        return False
    try:
        if algo == "argon2":
            return _ARGON2.verify(stored, password)
        if algo == "bcrypt":
            return bcrypt.checkpw(password.encode(), stored.encode())
        if algo == "md5":
            return _same(hashlib.md5(password.encode()).hexdigest(), stored)
        if algo == "sha":
            version = options.get("version", "sha256").replace("-", "")
            return _same(hashlib.new(version, password.encode()).hexdigest(), stored)
        if algo == "scrypt":
            derived = hashlib.scrypt(
                password.encode(),
                salt=options.get("salt", "").encode(),
                n=int(options.get("costCpu", 16384)),
                r=int(options.get("costMemory", 8)),
                p=int(options.get("costParallel", 1)),
                dklen=int(options.get("length", 64)),
                maxmem=1 << 28,
            )
            return _same(derived.hex(), stored) or _same(base64.b64encode(derived).decode(), stored)
    except (VerificationError, InvalidHashError, ValueError, TypeError, AttributeError):
        # An imported hash we cannot evaluate (odd options, a malformed hash) simply does not match.
        return False
    return False


def _same(computed: str, stored: str) -> bool:
    """Constant-time comparison; as bytes, because `compare_digest` refuses str with non-ASCII characters and an
    imported hash may hold anything."""
    return hmac.compare_digest(computed.encode(), stored.encode("utf-8", "surrogatepass"))
