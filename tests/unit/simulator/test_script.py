from __future__ import annotations

import json

import pytest

from proxy.simulator.script import Entry, ModelInput, Pace, ToolResult, decide, split_arguments, split_tokens

DEFAULTS = Pace(ttft_ms=0, gap_ms=0, tokens=40)


def ask(
    text: str,
    *,
    users: int = 1,
    tools: tuple[str, ...] = (),
    results: tuple[ToolResult, ...] = (),
    instructions: str = "",
) -> ModelInput:
    return ModelInput(text, users, instructions, frozenset(tools), results)


def test_tokens_are_words_with_their_following_whitespace() -> None:
    assert split_tokens("Hi there,\nfriend ") == ("Hi ", "there,\n", "friend ")
    assert "".join(split_tokens("  leading and trailing  ")) == "  leading and trailing  "
    assert split_arguments('{"query":"red shoes"}') == ('{"query":"re', 'd shoes"}')


def test_default_reply_echoes_counts_and_pads_to_the_token_budget() -> None:
    reply = decide(ask("Where is my order #123?", users=3), DEFAULTS)
    assert reply.text.startswith("Echo: Where is my order #123?. This is message 3 of this conversation. The simulator")
    assert len(reply.tokens) == 40
    assert reply.output_tokens == 40
    assert reply.tool_calls == ()
    assert decide(ask("Where is my order #123?", users=3), DEFAULTS) == reply  # deterministic


def test_the_echo_is_never_cut_below_its_own_length() -> None:
    reply = decide(ask("x" * 100 + " [[pace:tokens=2]]"), DEFAULTS)
    assert reply.text == f"Echo: {'x' * 60}. This is message 1 of this conversation."
    assert reply.pace == Pace(0, 0, 2)


def test_echo_instructions_on_request() -> None:
    reply = decide(
        ask(
            "hi [[echo-instructions]] [[pace:tokens=0]]",
            instructions="You are   Ada, a shop assistant for a very long time",
        ),
        DEFAULTS,
    )
    assert (
        reply.text
        == "Echo: hi. This is message 1 of this conversation. Instructions: You are Ada, a shop assistant for a very"
    )


def test_tool_directives_become_parallel_calls_when_offered() -> None:
    reply = decide(
        ask('[[tool:lookup {"q": 1}]] [[tool:weather {"city": "Rome"}]]', tools=("lookup", "weather")), DEFAULTS
    )
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("lookup", '{"q":1}'), ("weather", '{"city":"Rome"}')]
    assert reply.text == ""
    assert reply.output_tokens == sum(len(c.fragments) for c in reply.tool_calls)


def test_tools_not_offered_are_refused_in_words() -> None:
    reply = decide(ask("[[tool:weather {}]] [[reply:Sorry.]]", tools=("lookup",)), DEFAULTS)
    assert reply.tool_calls == ()
    assert reply.text == "The tool weather is not available. Sorry."


def test_after_tool_outputs_the_model_quotes_them() -> None:
    results = (ToolResult("lookup", "a" * 400), ToolResult("weather", "sunny"))
    reply = decide(
        ask("[[tool:lookup {}]] [[tool:weather {}]]", tools=("lookup", "weather"), results=results), DEFAULTS
    )
    assert reply.text == f"lookup returned: {'a' * 300}\nweather returned: sunny"
    assert (
        decide(ask("[[tool:lookup {}]] [[reply:Done.]]", tools=("lookup",), results=results), DEFAULTS).text == "Done."
    )


def test_tool_loop_never_stops_calling() -> None:
    first = decide(ask("[[tool-loop:lookup]]", tools=("lookup",)), DEFAULTS)
    assert [(c.name, c.arguments) for c in first.tool_calls] == [("lookup", '{"round":1}')]
    results = (ToolResult("lookup", "x"),) * 4
    later = decide(ask("[[tool-loop:lookup]]", tools=("lookup",), results=results), DEFAULTS)
    assert [(c.name, c.arguments) for c in later.tool_calls] == [("lookup", '{"round":5}')]
    withheld = decide(ask("[[tool-loop:lookup]]", results=results), DEFAULTS)
    assert withheld.tool_calls == () and withheld.text.startswith("lookup returned: x")


@pytest.mark.parametrize(
    "message",
    [
        "Do you have a product for dry skin?",
        "What is the price of the blue one",
        "I'm looking for a gift",
        "Can you recommend boots?",
    ],
)
def test_demo_heuristic_searches_products(message: str) -> None:
    reply = decide(ask(message, tools=("search_products", "capture_lead")), DEFAULTS)
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [("search_products", {"query": message})]


def test_demo_heuristic_captures_leads_with_an_email() -> None:
    message = "My name is Jane Doe, please contact me at jane.doe@example.com about a quote"
    reply = decide(ask(message, tools=("search_products", "capture_lead")), DEFAULTS)
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("capture_lead", {"name": "Jane Doe", "email": "jane.doe@example.com", "message": message})
    ]
    nameless = decide(ask("call me: bob.smith@example.org", tools=("capture_lead",)), DEFAULTS)
    assert json.loads(nameless.tool_calls[0].arguments)["name"] == "Bob Smith"


def test_demo_heuristic_needs_the_tool_and_no_directive() -> None:
    assert decide(ask("any product deals?"), DEFAULTS).tool_calls == ()
    assert decide(ask("contact me at a@b.co", tools=("search_products",)), DEFAULTS).tool_calls == ()
    steered = decide(ask("product [[reply:no]]", tools=("search_products",)), DEFAULTS)
    assert (steered.tool_calls, steered.text) == ((), "no")


def test_pace_and_fault_come_from_the_message() -> None:
    reply = decide(ask("[[pace:ttft=250,gap=20]] [[fault:stall]]"), Pace(1, 2, 3))
    assert reply.pace == Pace(250, 20, 3)
    assert (reply.pace.ttft, reply.pace.gap) == (0.25, 0.02)
    assert reply.fault == "stall"


def test_model_input_from_a_transcript() -> None:
    entries = [
        Entry("user", "first question"),
        Entry("assistant", "an answer"),
        Entry("tool", "stale output", "lookup"),
        Entry("user", "second [[tool:lookup {}]]"),
        Entry("assistant", "{}"),
        Entry("tool", "fresh output", "lookup"),
    ]
    model_input = ModelInput.from_entries(entries, instructions="Be brief.", tools=["lookup"])
    assert model_input.user_text == "second [[tool:lookup {}]]"
    assert model_input.user_messages == 2
    assert model_input.tool_results == (ToolResult("lookup", "fresh output"),)
    assert model_input.input_tokens == 2 + 2 + 2 + 2 + 3 + 1 + 2
    assert model_input.tools == frozenset({"lookup"})
