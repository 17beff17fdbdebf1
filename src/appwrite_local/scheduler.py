"""Cron schedules, executions scheduled for later, and event triggers: everything that starts a function
without an HTTP call.

The scheduler looks once a second (on the server's clock, which tests can move forward through the
local-only control route) for cron schedules that came due and for `scheduledAt` executions whose time
has come. Each due cron schedule runs once per look, however far the clock jumped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

from croniter import croniter

from .clock import format_datetime
from .errors import APPWRITE_VERSION
from .eventnames import could_match, event_words, generate
from .events import Event

log = logging.getLogger("appwrite_local.scheduler")
TICK_SECONDS = 1.0


class Scheduler:
    def __init__(self, services: Any):
        self.services = services
        self.last_check: datetime = services.clock.now()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - one bad tick must not stop the scheduler
                log.exception("scheduler tick failed")

    async def tick(self) -> list[str]:
        """Start everything due now; returns the execution IDs started."""
        async with self._lock:
            now = self.services.clock.now()
            started = []
            executor = self.services.executor
            for spec, _, _ in self.services.functions.all():
                if not spec.enabled or not spec.schedule:
                    continue
                due = croniter(spec.schedule, self.last_check).get_next(datetime)
                if due <= now:
                    execution_id = executor.create_record(spec, "schedule", "POST", "/", {}, b"", "waiting")
                    executor.run_in_background(execution_id)
                    started.append(execution_id)
            self.last_check = now
            rows = (
                self.services.db.reader()
                .execute(
                    "SELECT id FROM _executions WHERE status = 'scheduled' AND scheduled_at <= ? ORDER BY scheduled_at",
                    (format_datetime(now),),
                )
                .fetchall()
            )
            if rows:
                with self.services.db.write() as conn:
                    conn.executemany("UPDATE _executions SET status = 'waiting' WHERE id = ?", rows)
            for (execution_id,) in rows:
                executor.run_in_background(execution_id)
                started.append(execution_id)
            return started


def event_trigger(services: Any):
    """An event-bus listener that starts every function subscribed to the event."""

    def on_event(event: Event) -> None:
        if event.name.startswith("functions."):
            return  # functions may not trigger on function events
        names = None
        words = None
        for spec, _, _ in services.functions.all():
            if not spec.enabled or not spec.events:
                continue
            words = words or event_words(event.name)
            if not could_match(spec.events, words):
                continue
            names = names or generate(event.name)
            if set(spec.events).isdisjoint(names):
                continue
            executor = services.executor
            body = json.dumps(event.payload, separators=(",", ":")).encode()
            execution_id = executor.create_record(
                spec,
                "event",
                "POST",
                "/",
                {"content-type": "application/json", "user-agent": f"Appwrite/{APPWRITE_VERSION}"},
                body,
                "waiting",
                user_id=event.user_id,
                event=event.name,
            )
            executor.run_in_background(execution_id)

    return on_event
