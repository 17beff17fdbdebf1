"""The one retry loop: run a step again, after a growing pause, while it fails in a way worth retrying.

Used for conflicts between writers (a short random pause, many attempts: rxcore.tables.retry_conflicts), for
transient API failures (exponential backoff: rxcore.tables.Tables with `transient_retries`), and for TRUD's
downloads (rxcore.dmd.trud)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def exponential(base: float, cap: float) -> Callable[[int], float]:
    """Pauses base, 2·base, 4·base ... up to cap."""
    return lambda attempt: min(base * 2**attempt, cap)


def jittered(low: float, high: float, ramp: int = 8) -> Callable[[int], float]:
    """A random pause in [low, high] seconds, scaled up with the attempt (to `ramp` times): racing writers spread
    out instead of colliding again in step."""
    return lambda attempt: random.uniform(low, high) * min(attempt + 1, ramp)


def retry(
    step: Callable[[], T],
    *,
    worth_retrying: Callable[[BaseException], bool],
    attempts: int,
    pause: Callable[[int], float],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`step()`, run up to `attempts` times while what it raises is `worth_retrying`; the last failure is raised."""
    for attempt in range(attempts):
        try:
            return step()
        except Exception as exc:
            if not worth_retrying(exc) or attempt == attempts - 1:
                raise
        sleep(pause(attempt))
    raise AssertionError("unreachable")
