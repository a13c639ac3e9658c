"""How the responses engine gives a provider the conversation's context, and finding that out.

Three ways (``AssistantProfile.context``):

* ``conversations``: the provider's Conversations API keeps the items (OpenAI).
* ``previous_response``: each response names the one before it (``previous_response_id``); for
  servers that store responses (vLLM with its store on, LiteLLM in front of such a server).
* ``history``: nothing is kept by the provider; our stored history goes out as ``input`` with
  every turn, as the chat engine does (Ollama, vLLM without a store, most gateways).

``auto`` asks the server once per base URL (:class:`ContextProbes`): ``POST /conversations`` (an
empty conversation, deleted at once), else a small stored response and ``GET /responses/{id}``.
The answer is cached for the process and logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import weakref
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
import openai

from proxy.engines.base import EngineError
from proxy.engines.errors import from_provider_exception, status_and_body
from proxy.engines.modes import ContextMode, ContextSetting

logger = logging.getLogger(__name__)

_NOT_OFFERED = (400, 404, 405, 501)  # how servers without an endpoint answer it
_PROBE_INPUT = "Reply with one word: ok"
_PROBE_TOKENS = 16  # the smallest max_output_tokens OpenAI accepts


# -- what a server offers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What one base URL offers for keeping context, as probed."""

    base_url: str
    conversations: bool
    stored_responses: bool | None  # None: not asked (the Conversations API was enough)
    conversations_status: int = 404  # how POST /conversations was answered, when it was refused

    @property
    def mode(self) -> ContextMode:
        if self.conversations:
            return "conversations"
        return "previous_response" if self.stored_responses else "history"

    def describe(self) -> str:
        conv = "yes" if self.conversations else "no"
        stored = {True: "yes", False: "no", None: "not asked"}[self.stored_responses]
        return f"Conversations API: {conv}; stored responses: {stored}"

    def problem(self, wanted: ContextSetting) -> str | None:
        """Why ``wanted`` cannot work with this server, in words an operator can act on; None if it can."""
        if wanted == "conversations" and not self.conversations:
            return no_conversations_api(self.base_url, self.conversations_status)
        if wanted == "previous_response" and self.stored_responses is False:
            return (
                f"The AI provider at {self.base_url} does not store responses (GET /responses/{{id}} found none), "
                'so context = "previous_response" cannot chain them. Set context = "history" (or "auto") '
                "for this tenant in the tenants file, or PROXY_RESPONSES_CONTEXT."
            )
        return None


def no_conversations_api(base_url: str, status: int = 404) -> str:
    return (
        f"The AI provider at {base_url} has no Conversations API (POST /conversations answered {status}). "
        'Set context = "auto" (or "previous_response" / "history") for this tenant in the tenants file, '
        'or PROXY_RESPONSES_CONTEXT, or use engine = "chat".'
    )


def _no_responses_api(base_url: str, model: str, exc: openai.APIStatusError) -> EngineError:
    return EngineError(
        "upstream_not_found",
        f"The AI provider at {base_url} answered POST /responses for model {model!r} with "
        f'{exc.status_code} ({_short(exc)}). If it has no Responses API, use engine = "chat" for this '
        "tenant; otherwise check the tenant's model.",
    )


def _short(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("message") or inner.get("detail") or exc.message)[:200]
    return exc.message[:200]


def _not_offered(exc: BaseException) -> bool:
    return isinstance(exc, openai.APIStatusError) and exc.status_code in _NOT_OFFERED


async def probe(client: openai.AsyncOpenAI, model: str) -> ProviderContext:
    """Ask the server at ``client.base_url`` what it offers; ``EngineError`` if it cannot tell."""
    base_url = str(client.base_url).rstrip("/")
    try:
        conversation = await client.conversations.create()
    except openai.APIStatusError as exc:
        if not _not_offered(exc):
            raise from_provider_exception(exc) from exc
        stored = await _stores_responses(client, model)
        return ProviderContext(base_url, False, stored, conversations_status=exc.status_code)
    except Exception as exc:
        raise from_provider_exception(exc) from exc
    with contextlib.suppress(Exception):
        await client.conversations.delete(conversation.id)
    return ProviderContext(base_url, conversations=True, stored_responses=None)


async def _stores_responses(client: openai.AsyncOpenAI, model: str) -> bool:
    """A small stored response, then ``GET /responses/{id}``: can it be found again?"""
    base_url = str(client.base_url).rstrip("/")
    try:
        created: Any = await client.post(
            "/responses",
            body={"model": model, "input": _PROBE_INPUT, "max_output_tokens": _PROBE_TOKENS, "store": True},
            options={"security": {"bearer_auth": True}},
            cast_to=object,
        )
    except openai.NotFoundError as exc:
        raise _no_responses_api(base_url, model, exc) from exc
    except Exception as exc:
        raise from_provider_exception(exc) from exc
    response_id = created.get("id") if isinstance(created, dict) else None
    if not isinstance(response_id, str) or not response_id:
        return False
    try:
        found: Any = await client.get(
            f"/responses/{response_id}", options={"security": {"bearer_auth": True}}, cast_to=object
        )
    except Exception as exc:
        if _not_offered(exc):
            return False
        raise from_provider_exception(exc) from exc
    return isinstance(found, dict) and bool(found.get("id"))


class ContextProbes:
    """Probe results per base URL, asked once (concurrent askers wait for the first) and logged."""

    def __init__(self) -> None:
        self._found: dict[str, ProviderContext] = {}
        self._locks: dict[str, anyio.Lock] = {}

    def known(self, client: openai.AsyncOpenAI) -> ProviderContext | None:
        return self._found.get(str(client.base_url).rstrip("/"))

    async def get(self, client: openai.AsyncOpenAI, model: str, *, stores: bool = False) -> ProviderContext:
        """What the server offers; with ``stores``, whether it stores responses is asked even when
        the Conversations API would do (for a tenant set to chain responses)."""
        key = str(client.base_url).rstrip("/")
        found = self._found.get(key)
        if found is not None and not (stores and found.stored_responses is None):
            return found
        lock = self._locks.setdefault(key, anyio.Lock())
        async with lock:
            found = self._found.get(key)
            if found is None:
                found = self._found[key] = await probe(client, model)
                logger.info(
                    "responses engine: %s keeps context with %s (%s)",
                    key,
                    found.mode,
                    found.describe(),
                    extra={"base_url": key, "context_mode": found.mode},
                )
            if stores and found.stored_responses is None:
                stored = await _stores_responses(client, model)
                found = self._found[key] = replace(found, stored_responses=stored)
        return found


_PROBES: weakref.WeakKeyDictionary[object, ContextProbes] = weakref.WeakKeyDictionary()


def probes_for(owner: object) -> ContextProbes:
    """The probes shared by every engine built over ``owner`` (the app's connection pool)."""
    probes = _PROBES.get(owner)
    if probes is None:
        probes = _PROBES[owner] = ContextProbes()
    return probes


# -- the chain, kept as the thread's provider id ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chain:
    """Where a ``previous_response`` thread goes on from: the last response, and outputs it still needs.

    ``outputs`` answer function calls of that response that the next request must answer first
    (a turn that ended after the model asked for tools). Kept as JSON in the thread's provider
    id, which otherwise holds a conversation id, so the two never mix.
    """

    response_id: str
    outputs: tuple[dict[str, str], ...] = field(default=())

    def dump(self) -> str:
        return json.dumps({"previous_response": self.response_id, "outputs": list(self.outputs)}, separators=(",", ":"))

    @classmethod
    def load(cls, state: str | None) -> Chain | None:
        """The chain kept in ``state``; None for none, or for a conversation id kept there."""
        if not state or not state.startswith("{"):
            return None
        try:
            data = json.loads(state)
        except json.JSONDecodeError:
            return None
        response_id = data.get("previous_response") if isinstance(data, dict) else None
        if not isinstance(response_id, str) or not response_id:
            return None
        outputs = tuple(o for o in data.get("outputs") or () if isinstance(o, dict))
        return cls(response_id, outputs)


def is_conversation_id(state: str | None) -> bool:
    """A provider id kept by the ``conversations`` way (not a :class:`Chain`)."""
    return bool(state) and not (state or "").startswith("{")


def unknown_previous_response(error: EngineError) -> bool:
    """The provider does not know the response we chain from (expired, lost, or never stored)."""
    found = status_and_body(error.__cause__)
    if found is None:
        return False
    status, inner = found
    if status == 404:
        return True
    if status == 400 and isinstance(inner, dict):
        return inner.get("param") == "previous_response_id" or inner.get("code") == "previous_response_not_found"
    return False
