"""The provider streams' splitters: each event's data, or its name and data, whatever the reads'
boundaries. Both read the format the same way, so the same cases run for each."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from proxy.engines.sse_split import DataSplitter, EventSplitter

# a stream with everything a provider may send: a BOM, comments, event names (with and without the
# space after the colon), ids, retry hints, CRLF and CR line endings, a multi-line data field, a
# non-ASCII character, an event without data, a data field without a colon
STREAM = (
    b"\xef\xbb\xbf: keep-alive comment\r\n\r\n"
    b"event: response.created\r\n"
    b'data: {"type": "response.created"}\r\n\r\n'
    b'id: 7\nretry: 1000\ndata: {"text": "gr\xc3\xbc\xc3\x9fe"}\n\n'
    b"event: ping\n\n"
    b'event:thread.message.delta\rdata: {"a":\rdata: 1}\r\r'
    b"event: empty\ndata\n\n"
    b"data:[DONE]\n\n"
)
EVENTS = [
    ("response.created", b'{"type": "response.created"}'),
    ("message", b'{"text": "gr\xc3\xbc\xc3\x9fe"}'),
    ("thread.message.delta", b'{"a":\n1}'),
    ("empty", b""),
    ("message", b"[DONE]"),
]


@dataclass(frozen=True)
class Kind:
    """A splitter and what it makes of ``(name, data)`` events."""

    splitter: Callable[[], DataSplitter | EventSplitter]
    shown: Callable[[list[tuple[str, bytes]]], list[Any]]

    def split(self, *reads: bytes) -> list[Any]:
        splitter = self.splitter()
        out: list[Any] = []
        for read in reads:
            out += splitter.feed(read)
        return out + splitter.finish()

    def of(self, *data: bytes | tuple[str, bytes]) -> list[Any]:
        """The events with these data (named ``message``), or these ``(name, data)``."""
        return self.shown([item if isinstance(item, tuple) else ("message", item) for item in data])


DATA = Kind(DataSplitter, lambda events: [data for _, data in events])
NAMED = Kind(EventSplitter, list)


@pytest.fixture(params=[DATA, NAMED], ids=["data", "named"])
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param  # type: ignore[no-any-return]


def test_the_stream_in_one_read(kind: Kind) -> None:
    assert kind.split(STREAM) == kind.of(*EVENTS)


def test_one_byte_at_a_time(kind: Kind) -> None:
    assert kind.split(*(STREAM[i : i + 1] for i in range(len(STREAM)))) == kind.of(*EVENTS)


def test_every_pair_of_boundaries(kind: Kind) -> None:
    """Two cuts anywhere: inside the BOM, a CRLF, a field name, a UTF-8 character, a blank line."""
    expected = kind.of(*EVENTS)
    for i, j in itertools.combinations(range(1, len(STREAM)), 2):
        assert kind.split(STREAM[:i], STREAM[i:j], STREAM[j:]) == expected, (i, j)


def test_events_are_handed_over_as_soon_as_their_blank_line_arrives(kind: Kind) -> None:
    splitter = kind.splitter()

    assert splitter.feed(b'data: {"n": 1}\n') == []
    assert splitter.feed(b"\n") == kind.of(b'{"n": 1}')
    assert splitter.feed(b'data: {"n": 2}\r\n\r') == kind.of(b'{"n": 2}')
    assert splitter.feed(b"\n") == []  # the LF of the CRLF above: no second blank line, no event


def test_several_events_in_one_read(kind: Kind) -> None:
    assert kind.split(b"data: 1\n\ndata: 2\n\ndata: 3\n\n") == kind.of(b"1", b"2", b"3")


def test_multi_line_data_is_joined_with_newlines(kind: Kind) -> None:
    assert kind.split(b'data: {\ndata:  "a": 1\ndata: }\n\n') == kind.of(b'{\n "a": 1\n}')


def test_comments_and_other_fields_are_skipped(kind: Kind) -> None:
    stream = b": hello\nevent: x\nid: 1\nretry: 5\ndatabase: no\neventual: y\nfoo\ndata: 1\n\n: only a comment\n\n"
    assert kind.split(stream) == kind.of(("x", b"1"))


def test_the_space_after_the_colon_is_optional_and_only_one_is_removed(kind: Kind) -> None:
    stream = b"data:1\n\nevent:  e\ndata:  2\n\ndata\n\n"
    assert kind.split(stream) == kind.of(b"1", (" e", b" 2"), b"")


def test_a_last_event_without_its_blank_line_still_counts(kind: Kind) -> None:
    assert kind.split(b"data: 1\n\nevent: e\ndata: 2\n") == kind.of(b"1", ("e", b"2"))
    assert kind.split(b"data: 1\n\ndata: 2\r") == kind.of(b"1", b"2")


def test_an_event_whose_last_line_is_cut_in_the_middle_is_dropped(kind: Kind) -> None:
    assert kind.split(b'data: 1\n\ndata: {"cut', b"") == kind.of(b"1")
    assert kind.split(b'data: 1\n\nevent: e\ndata: {"a": 1}\ndata: {"cut') == kind.of(b"1")


def test_empty_reads_and_an_empty_stream(kind: Kind) -> None:
    assert kind.split() == []
    assert kind.split(b"", b"data: 1\n", b"", b"\n") == kind.of(b"1")


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", b""])
def test_a_byte_order_mark_only_at_the_start_is_ignored(kind: Kind, bom: bytes) -> None:
    assert kind.split(bom[:1], bom[1:] + b"data: 1\n\n") == kind.of(b"1")
    # later, it is part of a field name
    assert kind.split(b"data: 1\n\n\xef\xbb\xbfdata: 2\n\n") == kind.of(b"1")


def test_done_is_data_like_any_other(kind: Kind) -> None:
    """The reader decides what ``[DONE]`` means (the end); the splitter hands it over as it came."""
    assert kind.split(b"data: [DONE]\n\ndata: 1\n\n") == kind.of(b"[DONE]", b"1")


def test_an_empty_or_repeated_name() -> None:
    stream = b"event\ndata: 1\n\nevent:\ndata: 2\n\nevent: a\nevent: b\ndata: 3\n\n"
    assert NAMED.split(stream) == [("message", b"1"), ("message", b"2"), ("b", b"3")]


def test_a_name_that_is_not_utf8_is_decoded_with_replacements() -> None:
    assert NAMED.split(b"event: caf\xe9\ndata: 1\n\n") == [("caf\ufffd", b"1")]


# reads of whole events, after a first read: the data splitter's one-split way must say what the
# general way says (the named splitter has only the general way), whatever else the read holds
WHOLE_READS = [
    b"data: 1\n\ndata: 2\n\ndata: 3\n\n",
    b"data: \n\ndata:x\n\n",
    b'data: {"c":"data: y"}\n\n',
    b"data: 1\n\n\n\ndata: 2\n\n",
    b"data: 1\n\n\ndata: 2\n\n",
    b"data: 1\nid: 4\n\ndata: 2\n\n",
    b"data: 1\ndata: 2\n\n",
    b"data: 1\n\nevent: e\ndata: 2\n\n",
    b"data: 1\n\n: ping\n\ndata: 2\n\n",
    b"data: 1\r\n\r\ndata: 2\n\n",
    b"data: [DONE]\n\n",
]


@pytest.mark.parametrize("read", WHOLE_READS)
def test_a_read_of_whole_events_split_at_once_as_the_general_way_would(read: bytes) -> None:
    for before in (b"data: 0\n\n", b"data: 0\r", b"data: 0\n\ndata: cut"):
        assert DATA.split(before, read) == [data for _, data in NAMED.split(before, read)], (before, read)
