"""Typed tool registry: async functions with a JSON schema, enabled per tenant.

A tool never crashes a turn: unknown names, arguments that are not a JSON object, exceptions and
timeouts all come back as a truthful error text for the model (``ToolOutcome.ok = False``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from proxy.console.marks import TurnMarks, mark, note_tool_result
from proxy.shop.embedders import EmbedderCache  # at run time: the app's services are resolved by annotation
from proxy.tools.errors import ToolError as ToolError  # re-exported: tools import it from here
from proxy.visitors import Visitor

if TYPE_CHECKING:
    from proxy.store.db import Database
    from proxy.tenants import TenantConfig

logger = logging.getLogger(__name__)

ToolFunc = Callable[["ToolContext", dict[str, Any]], Awaitable[Any]]


TOOL_TIMEOUT = 20.0  # seconds a tool may run before the model is told it timed out


def _no_emit(event: str, data: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ToolServices:
    """The process-wide objects tools and turns use besides the database; None where the process has none."""

    embedders: EmbedderCache | None = None  # the shop tools' embedders (without: each call resolves its own)
    marks: TurnMarks | None = None  # the dashboard's turn marks (the console is part of the app)


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a tool may know about the call: whose shop, which thread, which visitor.

    ``emit(event, data)`` adds an event of the tool's own (e.g. ``handoff``) to the visitor's
    stream. ``services`` carries the process-wide objects other than the database.
    """

    tenant: str
    thread_id: str
    visitor: Visitor = field(default_factory=Visitor)
    tenant_config: TenantConfig | None = None
    db: Database | None = None
    run_id: str | None = None
    call_id: str | None = None  # the model's id for this call: makes retried calls idempotent
    page_url: str | None = None  # the page the visitor is chatting on, when the browser said
    emit: Callable[[str, dict[str, Any]], None] = _no_emit
    services: ToolServices = field(default_factory=ToolServices)


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    func: ToolFunc
    timeout: float = TOOL_TIMEOUT

    def responses_schema(self) -> dict[str, Any]:
        """The Responses API's flat function-tool shape."""
        return {"type": "function", "name": self.name, "description": self.description, "parameters": self.parameters}

    def function_schema(self) -> dict[str, Any]:
        """The nested shape of Chat Completions and Assistants."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    ok: bool
    output: str  # what the model reads


def _render(result: Any) -> str:
    if isinstance(result, str):
        return result
    return json.dumps(result, default=str, ensure_ascii=False, separators=(",", ":"))


class ToolRegistry:
    """All tools the process knows; a tenant sees the subset it enables (``ToolSet``)."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, tool: Tool) -> Tool:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool
        return tool

    def tool(
        self, *, name: str, description: str, parameters: dict[str, Any], timeout: float = TOOL_TIMEOUT
    ) -> Callable[[ToolFunc], ToolFunc]:
        """Decorator form of :meth:`register`."""

        def decorate(func: ToolFunc) -> ToolFunc:
            self.register(Tool(name, description, parameters, func, timeout))
            return func

        return decorate

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def subset(self, enabled: Iterable[str]) -> ToolSet:
        unknown = [n for n in enabled if n not in self._tools]
        if unknown:
            raise KeyError(", ".join(unknown))
        return ToolSet({n: self._tools[n] for n in enabled})


class ToolSet:
    """The tools one tenant has enabled, and the dispatcher the engines call."""

    def __init__(self, tools: Mapping[str, Tool]) -> None:
        self._tools = dict(tools)

    def __bool__(self) -> bool:
        return bool(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._tools.values())

    def responses_schemas(self) -> list[dict[str, Any]]:
        return [t.responses_schema() for t in self._tools.values()]

    def function_schemas(self) -> list[dict[str, Any]]:
        return [t.function_schema() for t in self._tools.values()]

    async def dispatch(
        self, name: str, raw_arguments: str | None, ctx: ToolContext, *, call_id: str | None = None
    ) -> ToolOutcome:
        if call_id is not None:
            ctx = dataclasses.replace(ctx, call_id=call_id)
        tool = self._tools.get(name)
        if tool is None:
            return ToolOutcome(False, f"Error: unknown tool {name!r}. Available: {', '.join(self._tools) or 'none'}.")
        try:
            args = json.loads(raw_arguments or "{}")
        except json.JSONDecodeError as exc:
            return ToolOutcome(False, f"Error: the arguments for {name} are not valid JSON ({exc.msg}).")
        if not isinstance(args, dict):
            return ToolOutcome(False, f"Error: the arguments for {name} must be a JSON object.")
        try:
            with anyio.fail_after(tool.timeout):
                result = await tool.func(ctx, args)
        except ToolError as exc:
            mark(ctx.services.marks, ctx.tenant, ctx.thread_id, ctx.run_id, "refusal", name)  # for the dashboard
            return ToolOutcome(False, f"Error: {exc}")
        except TimeoutError:
            return ToolOutcome(False, f"Error: {name} did not finish within {tool.timeout:g} seconds.")
        except Exception:
            logger.exception("tool %s failed", name, extra={"tenant": ctx.tenant, "thread_id": ctx.thread_id})
            return ToolOutcome(False, f"Error: {name} failed unexpectedly; tell the visitor it is unavailable.")
        note_tool_result(ctx.services.marks, ctx.tenant, ctx.thread_id, ctx.run_id, name, result)  # for the dashboard
        return ToolOutcome(True, _render(result))
