"""Local-only control routes under `/_local/` (no Appwrite route uses that prefix).

Registered only when the server runs with `--local-control`, and usable only with the project's API key.
They let tests move the server's clock forward and run at once whatever that makes due (cron schedules,
scheduled executions), so expiry and reminder logic is testable without waiting.
"""

from __future__ import annotations

from ..api import Ctx, RouteTable, json_response
from ..clock import format_datetime
from ..errors import AppwriteError

routes = RouteTable()


def _require_key(ctx: Ctx) -> None:
    if not ctx.principal.is_key:
        raise AppwriteError("general_unauthorized_scope", "Local control routes need the project's API key.")


@routes.route("GET", "/clock", None)
def clock_get(ctx: Ctx):
    _require_key(ctx)
    return json_response({"now": format_datetime(ctx.services.clock.now())})


@routes.route("POST", "/clock/advance", None)
async def clock_advance(ctx: Ctx):
    _require_key(ctx)
    seconds = ctx.number("seconds")
    if seconds < 0:
        raise AppwriteError("general_argument_invalid", "Invalid `seconds` param: the clock only moves forward.")
    ctx.services.clock.advance(seconds)
    started = await ctx.services.scheduler.tick()
    return json_response({"now": format_datetime(ctx.services.clock.now()), "started": started})
