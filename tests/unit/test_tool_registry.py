"""The tool registry turns every failure into a truthful output for the model."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from proxy.console.marks import Mark, TurnMarks
from proxy.tools.registry import ToolContext, ToolError, ToolRegistry, ToolServices

CTX = ToolContext(tenant="t", thread_id="thr_1")
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}


@pytest.fixture
def registry() -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool(name="double", description="Double n", parameters=SCHEMA)
    async def double(ctx: ToolContext, args: dict[str, Any]) -> dict[str, int]:
        return {"n": args["n"] * 2}

    @registry.tool(name="refuse", description="Always refuses", parameters=SCHEMA)
    async def refuse(ctx: ToolContext, args: dict[str, Any]) -> None:
        raise ToolError("not for you")

    @registry.tool(name="bug", description="Has a bug", parameters=SCHEMA)
    async def bug(ctx: ToolContext, args: dict[str, Any]) -> None:
        raise KeyError("secret internal detail")

    @registry.tool(name="find", description="Finds nothing", parameters=SCHEMA)
    async def find(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
        return {"nothing_matches": True, "results": []}

    @registry.tool(name="slow", description="Never ends", parameters=SCHEMA, timeout=0.05)
    async def slow(ctx: ToolContext, args: dict[str, Any]) -> None:
        await anyio.sleep_forever()

    return registry


async def test_success_is_compact_json(registry: ToolRegistry) -> None:
    outcome = await registry.subset(["double"]).dispatch("double", '{"n": 21}', CTX)
    assert (outcome.ok, outcome.output) == (True, '{"n":42}')


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("nope", "{}", "Error: unknown tool 'nope'. Available: double, refuse, bug, slow."),
        ("double", "{not json", "Error: the arguments for double are not valid JSON"),
        ("double", "[1, 2]", "Error: the arguments for double must be a JSON object."),
        ("refuse", "{}", "Error: not for you"),
        ("bug", "{}", "Error: bug failed unexpectedly"),
        ("slow", "{}", "Error: slow did not finish within 0.05 seconds."),
    ],
)
async def test_failures_become_error_outputs(registry: ToolRegistry, name: str, args: str, expected: str) -> None:
    outcome = await registry.subset(["double", "refuse", "bug", "slow"]).dispatch(name, args, CTX)
    assert outcome.ok is False
    assert outcome.output.startswith(expected)
    assert "secret internal detail" not in outcome.output


async def test_disabled_tool_is_unknown_to_the_tenant(registry: ToolRegistry) -> None:
    outcome = await registry.subset(["refuse"]).dispatch("double", '{"n": 1}', CTX)
    assert outcome.ok is False and "unknown tool 'double'" in outcome.output


def test_schemas_in_both_shapes(registry: ToolRegistry) -> None:
    tools = registry.subset(["double"])
    assert tools.responses_schemas() == [
        {"type": "function", "name": "double", "description": "Double n", "parameters": SCHEMA}
    ]
    assert tools.function_schemas()[0]["function"]["name"] == "double"


def test_duplicate_and_unknown_names_are_refused(registry: ToolRegistry) -> None:
    with pytest.raises(ValueError, match="registered twice"):
        registry.tool(name="double", description="", parameters=SCHEMA)(lambda ctx, args: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(KeyError):
        registry.subset(["double", "missing"])


async def test_refusals_and_empty_finds_are_marked_for_the_dashboard(registry: ToolRegistry) -> None:
    marks = TurnMarks(db=None)  # type: ignore[arg-type]  # nothing is flushed here
    ctx = ToolContext(tenant="t", thread_id="thr_1", run_id="run_1", services=ToolServices(marks=marks))
    tools = registry.subset(["double", "refuse", "find"])

    for name in ("double", "refuse", "find"):
        await tools.dispatch(name, '{"n": 1}', ctx)

    assert marks._pending == [
        Mark("t", "thr_1", "run_1", "refusal", "refuse"),
        Mark("t", "thr_1", "run_1", "nothing_found", "find"),
    ]


async def test_without_marks_or_a_run_nothing_is_marked(registry: ToolRegistry) -> None:
    marks = TurnMarks(db=None)  # type: ignore[arg-type]
    outside_a_run = ToolContext(tenant="t", thread_id="thr_1", services=ToolServices(marks=marks))

    assert not (await registry.subset(["refuse"]).dispatch("refuse", "{}", CTX)).ok  # no marks kept: fine
    await registry.subset(["refuse"]).dispatch("refuse", "{}", outside_a_run)

    assert marks._pending == []
