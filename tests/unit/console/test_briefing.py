"""What the assistant is told on its first turn after a person handed the conversation back."""

from __future__ import annotations

from proxy.console.takeover import briefed


def test_nothing_to_tell_leaves_the_message_alone() -> None:
    assert briefed("Hello", ()) == "Hello"


def test_the_human_part_comes_first_in_order_with_who_said_it() -> None:
    text = briefed(
        "Thanks, I'll take two.",
        [("user", "Is it in stock?", None), ("assistant", "Yes, three left.", "Sam"), ("assistant", "Hi", None)],
    )
    said = text.splitlines()
    assert said[1:4] == ["Visitor: Is it in stock?", "Sam (staff): Yes, three left.", "Assistant: Hi"]
    assert said[0].startswith("[While you were away, a member of our staff took over")
    assert said[-1] == "Thanks, I'll take two."
