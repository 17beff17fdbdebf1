"""The event bus: every write through the API publishes Appwrite's event name with its payload.

Listeners (function triggers and realtime, issue 3) subscribe with `listen`. Publishing never fails the
request that caused it: a listener that raises is logged and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .permissions import roles_for

log = logging.getLogger("appwrite_local.events")


@lru_cache(maxsize=1024)
def _table_readers(permissions: tuple[str, ...]) -> frozenset[str]:
    return frozenset(roles_for(list(permissions), "read"))


@dataclass(frozen=True)
class Event:
    name: str  # concrete, e.g. databases.main.tables.posts.rows.r1.create
    payload: dict[str, Any]  # the resource as the REST API returned it
    read_roles: frozenset[str] | None = None  # who may see it (realtime); None = decided by the listener
    user_id: str = ""  # the user who caused it, when one did


Listener = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a broken listener must not fail the write that already happened
                log.exception("event listener failed for %s", event.name)

    def emit(
        self, name: str, payload: dict[str, Any], read_roles: frozenset[str] | None = None, user_id: str = ""
    ) -> None:
        self.publish(Event(name, payload, read_roles, user_id))

    def row_changed(self, schema: Any, row: dict[str, Any], action: str) -> None:
        """A row write: the event name uses TablesDB's vocabulary; listeners mirror it to the legacy forms."""
        name = f"databases.{schema.database_id}.tables.{schema.id}.rows.{row['$id']}.{action}"
        readers = _table_readers(tuple(schema.permissions))
        if schema.row_security:
            readers = readers | frozenset(roles_for(row["$permissions"], "read"))
        self.publish(Event(name, row, readers))
