"""The ``tools`` parameter: which functions a request offers the model.

Chat Completions and Assistants nest the function (``{"type": "function", "function": {"name", ...}}``),
the Responses API does not (``{"type": "function", "name", ...}``); each endpoint checks its own
shape with the API's 400 ``Missing required parameter``, which catches a tool sent in the wrong one.
Tools of other types (``web_search``, ``file_search``...) are echoed back and never called.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from proxy.offline import ToolSpec
from proxy.simulator.errors import invalid_request, missing_parameter

__all__ = ("flat_function_tools", "function_specs", "nested_function_tools")


def _tool_list(raw: Any) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_request("Invalid type for 'tools': expected an array.", param="tools")
    return raw


def nested_function_tools(raw: Any) -> tuple[list[Any], list[str]]:
    """The tools as given and the function names, for Chat Completions and Assistants."""
    tools = _tool_list(raw)
    names: list[str] = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        function = tool.get("function")
        if not isinstance(function, dict):
            raise missing_parameter(f"tools[{index}].function")
        if not isinstance(function.get("name"), str):
            raise missing_parameter(f"tools[{index}].function.name")
        names.append(function["name"])
    return tools, names


def flat_function_tools(raw: Any) -> tuple[list[Any], list[str]]:
    """The tools as a response echoes them (defaults filled in) and the function names."""
    echoed: list[Any] = []
    names: list[str] = []
    for index, tool in enumerate(_tool_list(raw)):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            echoed.append(tool)
            continue
        if not isinstance(tool.get("name"), str):
            raise missing_parameter(f"tools[{index}].name")
        names.append(tool["name"])
        echoed.append(
            {
                "type": "function",
                "name": tool["name"],
                "description": tool.get("description"),
                "parameters": tool.get("parameters"),
                "strict": tool.get("strict", True),
            }
        )
    return echoed, names


def function_specs(tools: list[Any], names: Iterable[str]) -> tuple[ToolSpec, ...]:
    """Name, description and JSON schema of the function tools named in ``names`` (either shape)."""
    wanted = set(names)
    specs: list[ToolSpec] = []
    for tool in tools:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        nested = tool.get("function")
        function: dict[str, Any] = nested if isinstance(nested, dict) else tool
        name = function.get("name")
        if not isinstance(name, str) or name not in wanted:
            continue
        parameters = function.get("parameters")
        description = function.get("description")
        specs.append(
            ToolSpec(
                name,
                description if isinstance(description, str) else "",
                parameters if isinstance(parameters, dict) else {},
            )
        )
    return tuple(specs)
