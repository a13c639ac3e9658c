from __future__ import annotations

import json

from proxy.offline import ToolSpec
from proxy.simulator.script import Entry, ModelInput, Pace, Reply, ToolResult, split_arguments, split_tokens
from proxy.simulator.script import decide as model_decide

DEFAULTS = Pace(ttft_ms=0, gap_ms=0, tokens=40)


def decide(model_input: ModelInput, defaults: Pace) -> Reply:
    """The echo model, which these tests describe."""
    return model_decide(model_input, defaults, model="echo")


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


SEARCH = ToolSpec(
    "search_products",
    "Search the shop's product catalog.",
    {"type": "object", "properties": {"query": {"type": "string"}, "max_price": {"type": "number"}}},
)
LEAD = ToolSpec(
    "capture_lead",
    "Save the visitor's contact details.",
    {
        "type": "object",
        "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "message": {"type": "string"}},
        "required": ["name", "email"],
    },
)


def offline(text: str, *entries: Entry, specs: tuple[ToolSpec, ...] = (SEARCH, LEAD)) -> ModelInput:
    transcript = [*entries, Entry("user", text)]
    return ModelInput.from_entries(transcript, tools=[s.name for s in specs], specs=specs)


def test_the_offline_model_answers_by_default_and_calls_tools_from_their_schemas() -> None:
    reply = model_decide(offline("Do you have boots under 80 euros?"), DEFAULTS)
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("search_products", {"query": "boots", "max_price": 80, "currency": "EUR"})
    ]
    lead = model_decide(offline("My name is Jane Doe, please contact me at jane.doe@example.com"), DEFAULTS)
    assert json.loads(lead.tool_calls[0].arguments)["name"] == "Jane Doe"


def test_the_offline_model_writes_its_answer_from_the_outputs() -> None:
    output = json.dumps(
        {"query": "boots", "products": [{"id": "prod_1", "name": "Trail Boots", "prices": ["79.00 EUR"]}]}
    )
    reply = model_decide(offline("asdfghjkl qwrtzp"), DEFAULTS)
    assert reply.tool_calls == () and "I can" in reply.text  # a message it cannot map: what it can do
    transcript = ModelInput.from_entries(
        [
            Entry("user", "Do you have boots?"),
            Entry("assistant", '{"query":"boots"}', "search_products"),
            Entry("tool", output, "search_products"),
        ],
        tools=["search_products"],
        specs=[SEARCH],
    )
    answer = model_decide(transcript, DEFAULTS)
    assert "Trail Boots" in answer.text and "79.00 EUR" in answer.text and "{" not in answer.text
    assert answer.tokens == split_tokens(answer.text) and len(answer.tokens) > 3  # streamed word by word


def test_directives_and_the_echo_model_behave_as_before() -> None:
    steered = model_decide(offline("boots [[reply:no]]"), DEFAULTS)
    assert (steered.tool_calls, steered.text) == ((), "no")
    echoed = model_decide(offline("Do you have boots?"), DEFAULTS, model="echo")
    assert echoed.tool_calls == () and echoed.text.startswith("Echo: Do you have boots?. This is message 1")


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
