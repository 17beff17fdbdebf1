"""What the server says on its terminal while it runs (`--access-log`; `make up` turns it on unless
APPWRITE_LOCAL_QUIET=1): one line per request, one per execution with the function's logs and errors, and the
logs of a long execution as it writes them, so a dm+d sync or an import shows its progress.

Secret function variables' values are replaced by `***` wherever they would appear in a function's output.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

TAIL_EVERY = 1.0  # seconds between looks at a running execution's log
MAX_LINES = 40  # of an execution's logs or errors printed at its end


class Console:
    def __init__(self, enabled: bool, services: Any):
        self.enabled = enabled
        self.services = services

    def _say(self, line: str) -> None:
        print(line, file=sys.stdout, flush=True)

    def request(self, method: str, path: str, status: int, started: float, who: str) -> None:
        if self.enabled:
            took = 1000 * (time.perf_counter() - started)
            self._say(f"{time.strftime('%H:%M:%S')} {status} {method:6s} {path} {took:.1f} ms {who}")

    def _redact(self, function_id: str, text: str) -> str:
        for value in self.services.functions.secret_values(function_id):
            if len(value) >= 4:
                text = text.replace(value, "***")
        return text

    def execution(self, function_id: str, execution_id: str, trigger: str, outcome: Any, shown: int) -> None:
        """The end of an execution; `shown` characters of its logs were already printed while it ran."""
        if not self.enabled:
            return
        state = "completed" if outcome.status < 500 else "failed"
        self._say(
            f"{time.strftime('%H:%M:%S')} execution {execution_id} {function_id} ({trigger}) {state} "
            f"{outcome.status} in {1000 * outcome.duration:.0f} ms"
        )
        for label, text in (("log", outcome.logs[shown:]), ("error", outcome.errors)):
            lines = self._redact(function_id, text).splitlines()
            for line in lines[-MAX_LINES:]:
                self._say(f"    {label}: {line}")

    async def tail(self, function_id: str, path: Path, shown: list[int]) -> None:
        """Print a running execution's log as it grows; `shown[0]` counts the characters printed."""
        while True:
            await asyncio.sleep(TAIL_EVERY)
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                continue
            fresh = text[shown[0] :]
            complete = fresh[: fresh.rfind("\n") + 1]  # whole lines only
            for line in self._redact(function_id, complete).splitlines():
                self._say(f"    {function_id}: {line}")
            shown[0] += len(complete)
