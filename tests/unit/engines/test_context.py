"""The chain kept as a thread's provider id, and what a probed server's answers mean."""

from __future__ import annotations

import pytest

from proxy.engines.context import Chain, ProviderContext, is_conversation_id


def test_a_chain_survives_being_kept_as_text() -> None:
    chain = Chain("resp_1", ({"type": "function_call_output", "call_id": "call_1", "output": "42"},))
    assert Chain.load(chain.dump()) == chain
    assert not is_conversation_id(chain.dump())


@pytest.mark.parametrize("state", [None, "", "conv_123", "{not json", '{"other": 1}', '["resp_1"]'])
def test_anything_else_is_no_chain(state: str | None) -> None:
    assert Chain.load(state) is None


def test_conversation_ids_are_told_from_chains() -> None:
    assert is_conversation_id("conv_123")
    assert not is_conversation_id(None)


@pytest.mark.parametrize(
    ("conversations", "stored", "mode"),
    [(True, None, "conversations"), (False, True, "previous_response"), (False, False, "history")],
)
def test_the_mode_follows_what_the_server_offers(conversations: bool, stored: bool | None, mode: str) -> None:
    assert ProviderContext("http://x/v1", conversations, stored).mode == mode


def test_problems_name_the_endpoint_and_the_setting() -> None:
    bare = ProviderContext("http://llm.local/v1", conversations=False, stored_responses=False)
    assert bare.problem("auto") is None and bare.problem("history") is None
    conversations = bare.problem("conversations") or ""
    assert "http://llm.local/v1 has no Conversations API (POST /conversations answered 404)" in conversations
    assert 'Set context = "auto"' in conversations
    chain = bare.problem("previous_response") or ""
    assert "does not store responses" in chain and 'Set context = "history"' in chain
