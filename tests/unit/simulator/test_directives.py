from __future__ import annotations

from proxy.simulator.directives import PaceOverride, RequestedCall, parse_directives


def test_plain_text_has_no_directives() -> None:
    parsed = parse_directives("  Hello,\n  world  ")
    assert parsed.text == "Hello, world"
    assert (parsed.calls, parsed.loop, parsed.reply, parsed.fault, parsed.echo_instructions) == (
        (),
        None,
        None,
        None,
        False,
    )
    assert parsed.pace == PaceOverride()


def test_tool_directives_in_order_with_compact_arguments() -> None:
    parsed = parse_directives('Find [[tool:lookup {"q": "shoes", "tags": [["a"]]}]] then [[tool:weather]] please')
    assert parsed.calls == (RequestedCall("lookup", '{"q":"shoes","tags":[["a"]]}'), RequestedCall("weather", "{}"))
    assert parsed.text == "Find then please"


def test_arguments_that_are_not_json_are_passed_as_written() -> None:
    assert parse_directives("[[tool:lookup {not json}]]").calls == (RequestedCall("lookup", "{not json}"),)


def test_reply_is_kept_exactly() -> None:
    assert (
        parse_directives("x [[reply:  Two  spaces, [brackets] and\nlines ]] y").reply
        == "  Two  spaces, [brackets] and\nlines "
    )


def test_pace_fault_loop_and_echo() -> None:
    parsed = parse_directives("[[pace:gap=15, tokens=3]] [[fault:cut]] [[tool-loop:lookup]] [[echo-instructions]]")
    assert parsed.pace == PaceOverride(ttft_ms=None, gap_ms=15, tokens=3)
    assert parsed.fault == "cut"
    assert parsed.loop == "lookup"
    assert parsed.echo_instructions
    assert parsed.text == ""


def test_unknown_directives_stay_in_the_text() -> None:
    parsed = parse_directives("[[fault:meltdown]] [[dance:now]]")
    assert parsed.fault is None
    assert parsed.text == "[[dance:now]]"
