"""A send that did not happen, and whether trying again later may help (429, 5xx, a timeout, a file not there yet)
or not (an invalid number, a refused request, nothing configured)."""

from __future__ import annotations


class SendFailed(Exception):
    def __init__(self, reason: str, retry: bool):
        super().__init__(reason)
        self.reason, self.retry = reason, retry
