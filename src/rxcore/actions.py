"""One way for a function to take requests: typed request models and one dispatcher by `action`.

Each action is a function `(caller, params) -> result` registered with its pydantic model:

    actions = Dispatcher("prescription-create", default="create")

    @actions.action("cancel", CancelPrescription)
    def cancel(c: Caller, params: CancelPrescription) -> dict: ...

    def main(context): return run(context, actions)

The body is validated against the action's model in JSON mode and strictly (a quantity of `true`, a flag of
`"yes"`, a field nobody declared: all refused), and any problem answers one error type, 400
`general_argument_invalid`, whose message names the field by its path (`items[2].quantity: ...`). The JSON Schema
of every request is generated from the same models (`schemas()`, published by scripts/function_schemas.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from rxcore.errors import invalid_argument
from rxcore.function_shell import FunctionRequest
from rxcore.identity import Caller, caller
from rxcore.settings import Settings
from rxcore.tables import ID_PATTERN

MAX_ERRORS_SHOWN = 3


class RequestModel(BaseModel):
    """A request's parameters: camelCase on the wire, snake_case in Python; nothing undeclared; no coercion
    beyond JSON's own (a date from "YYYY-MM-DD", a decimal from a number or numeric text)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
    )


# Appwrite's ID rule. It also keeps a caller's id from changing the path it goes into ("../../other/rows/x" would be
# resolved by the HTTP client into another table's row, read with the function's key).
RowId = Annotated[str, StringConstraints(min_length=1, max_length=36, pattern=ID_PATTERN)]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def text(limit: int) -> Any:
    """Text of 1 to `limit` characters after trimming (blank text is refused)."""
    return Annotated[str, StringConstraints(min_length=1, max_length=limit)]


class AppwriteEvent(RequestModel):
    """What an event-triggered execution gets: the event's name and the payload (the row, file ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event: str
    payload: dict[str, Any]


P = TypeVar("P", bound=RequestModel)
Handler = Callable[[Caller, Any], Any]


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def describe(error: ValidationError) -> str:
    """`field.path: what is wrong` for the first few problems."""
    problems = []
    for problem in error.errors(include_url=False)[:MAX_ERRORS_SHOWN]:
        loc = tuple(p for p in problem["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "not a field of this request (the caller is the signed-in user, never a field)"
        problems.append(f"`{_path(loc)}`: {message}" if loc else message)
    more = len(error.errors()) - MAX_ERRORS_SHOWN
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "") + "."


def parse(model: type[P], data: dict[str, Any]) -> P:
    """`data` as `model`, or 400 general_argument_invalid naming the fields at fault."""
    try:
        return model.model_validate_json(json.dumps(data))
    except ValidationError as exc:
        raise invalid_argument(describe(exc)) from None


@dataclass(frozen=True)
class Action(Generic[P]):
    name: str
    model: type[P]
    handler: Handler
    guests: bool  # whether a caller without a signed-in user may reach the handler
    summary: str


class Dispatcher:
    """The actions of one function, chosen by the body's `action` (or `default`; `on_schedule` for a cron
    execution, `on_event` for an Appwrite event, whose handler gets an `AppwriteEvent`). Each execution reads
    the function's `settings` from its environment and resolves the caller (rxcore.identity) once."""

    def __init__(
        self,
        function_id: str,
        *,
        default: str | None = None,
        on_schedule: str | None = None,
        on_event: str | None = None,
        settings: type[Settings] = Settings,
        legacy_selector: str | None = None,
    ):
        self.function_id = function_id
        # Raw HTTP endpoints on the function's domain (a webhook), by path: they get the request itself (raw body,
        # headers) and the settings, never a parsed body or a caller, since no Appwrite user stands behind them.
        self.paths: dict[str, Callable[[FunctionRequest, Any], Any]] = {}
        self.settings = settings
        self.legacy_selector = legacy_selector  # an older name of `action` still accepted (deprecated)
        self.default = default
        self.on_schedule = on_schedule
        self.on_event = on_event
        self.actions: dict[str, Action[Any]] = {}

    def action(self, name: str, model: type[P], *, guests: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            summary = (handler.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
            self.actions[name] = Action(name, model, handler, guests, summary)
            return handler

        return register

    def path(
        self, path: str
    ) -> Callable[[Callable[[FunctionRequest, Any], Any]], Callable[[FunctionRequest, Any], Any]]:
        """Register a raw endpoint for requests to `path` (e.g. `/stripe/webhook`)."""

        def register(handler: Callable[[FunctionRequest, Any], Any]) -> Callable[[FunctionRequest, Any], Any]:
            self.paths[path] = handler
            return handler

        return register

    def _chosen(self, request: FunctionRequest) -> str | None:
        if request.trigger == "schedule" and self.on_schedule:
            return self.on_schedule
        if request.trigger == "event" and self.on_event:
            return self.on_event
        body = request.body
        fallback = self.default
        if self.legacy_selector and self.legacy_selector in body:
            request.log(f"deprecated: `{self.legacy_selector}` selects the action; send `action` instead")
            fallback = body[self.legacy_selector]
        name = body.get("action", fallback)
        return name if isinstance(name, str) else None

    def __call__(self, request: FunctionRequest) -> Any:
        endpoint = self.paths.get(request.path.rstrip("/") or "/") if request.trigger == "http" else None
        if endpoint is not None:
            return endpoint(request, self.settings.from_env(request.env))
        name = self._chosen(request)
        if name not in self.actions:
            raise invalid_argument(f"`action` must be one of {', '.join(self.actions)}.")
        chosen = self.actions[name]
        if request.trigger == "event" and name == self.on_event:
            data: dict[str, Any] = {"event": request.event or "", "payload": request.body}
        else:
            data = {k: v for k, v in request.body.items() if k not in ("action", self.legacy_selector)}
        params = parse(chosen.model, data)
        c = caller(request, guests=chosen.guests, settings=self.settings.from_env(request.env))
        try:
            return chosen.handler(c, params)
        finally:
            c.close()

    def schemas(self) -> dict[str, dict[str, Any]]:
        """The JSON Schema of each action's request body (with its `action` selector)."""
        out = {}
        for name, chosen in self.actions.items():
            schema = chosen.model.model_json_schema(by_alias=True)
            schema.setdefault("properties", {})
            schema["properties"] = {"action": {"const": name}} | schema["properties"]
            if name != self.default:
                schema["required"] = ["action", *schema.get("required", [])]
            schema["description"] = chosen.summary
            out[name] = schema
        return out
