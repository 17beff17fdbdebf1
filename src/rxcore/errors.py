"""Errors that functions return to callers in Appwrite's shape: {"message", "code", "type"}."""

from __future__ import annotations


class ServiceError(Exception):
    def __init__(self, code: int, type_: str, message: str):
        super().__init__(message)
        self.code = code
        self.type = type_
        self.message = message

    def to_json(self) -> dict[str, object]:
        return {"message": self.message, "code": self.code, "type": self.type}
