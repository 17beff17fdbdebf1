"""Errors that functions return to callers in Appwrite's shape: {"message", "code", "type"}.

Each class carries its HTTP status, so a service says what went wrong (`NotFound("prescription_not_found", ...)`)
and the function shell answers with the right code. `ServiceError(status, type, message)` remains for a status no
class names."""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    status: ClassVar[int] = 500

    def __init__(self, *args: object):
        if len(args) == 3:  # ServiceError(status, type, message)
            code, type_, message = args
        else:
            (type_, message), code = args, self.status
        super().__init__(message)
        self.code = int(code)  # type: ignore[call-overload]
        self.type = str(type_)
        self.message = str(message)

    def to_json(self) -> dict[str, object]:
        return {"message": self.message, "code": self.code, "type": self.type}


class BadRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    status = 401


class PaymentRequired(ServiceError):
    status = 402


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class TooManyRequests(ServiceError):
    status = 429


class NotConfigured(ServiceError):
    """The function's settings are missing or wrong: the operator's problem, not the caller's."""

    status = 500


def invalid_argument(message: str) -> BadRequest:
    """The one type for a request whose shape is wrong (a missing, unknown or malformed field)."""
    return BadRequest("general_argument_invalid", message)
