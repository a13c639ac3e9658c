"""The provider stream's splitter: each event's data, whatever the reads' boundaries."""

from __future__ import annotations

import itertools

import pytest

from proxy.engines.sse_split import DataSplitter

# a stream with everything a provider may send: a BOM, comments, event names, ids, retry hints,
# CRLF and CR line endings, a multi-line data field, a non-ASCII character, an event without data
STREAM = (
    b"\xef\xbb\xbf: keep-alive comment\r\n\r\n"
    b"event: response.created\r\n"
    b'data: {"type": "response.created"}\r\n\r\n'
    b'id: 7\nretry: 1000\ndata: {"text": "gr\xc3\xbc\xc3\x9fe"}\n\n'
    b"event: ping\n\n"
    b'data: {"a":\rdata: 1}\r\r'
    b"data:[DONE]\n\n"
)
EXPECTED = [b'{"type": "response.created"}', b'{"text": "gr\xc3\xbc\xc3\x9fe"}', b'{"a":\n1}', b"[DONE]"]


def split(*reads: bytes) -> list[bytes]:
    splitter = DataSplitter()
    out: list[bytes] = []
    for read in reads:
        out += splitter.feed(read)
    return out + splitter.finish()


def test_the_stream_in_one_read() -> None:
    assert split(STREAM) == EXPECTED


def test_one_byte_at_a_time() -> None:
    assert split(*(STREAM[i : i + 1] for i in range(len(STREAM)))) == EXPECTED


def test_every_pair_of_boundaries() -> None:
    """Two cuts anywhere: inside the BOM, a CRLF, a field name, a UTF-8 character, a blank line."""
    for i, j in itertools.combinations(range(1, len(STREAM)), 2):
        assert split(STREAM[:i], STREAM[i:j], STREAM[j:]) == EXPECTED, (i, j)


def test_events_are_handed_over_as_soon_as_their_blank_line_arrives() -> None:
    splitter = DataSplitter()

    assert splitter.feed(b'data: {"n": 1}\n') == []
    assert splitter.feed(b"\n") == [b'{"n": 1}']
    assert splitter.feed(b'data: {"n": 2}\r\n\r') == [b'{"n": 2}']
    assert splitter.feed(b"\n") == []  # the LF of the CRLF above: no second blank line, no event


def test_several_events_in_one_read() -> None:
    assert split(b"data: 1\n\ndata: 2\n\ndata: 3\n\n") == [b"1", b"2", b"3"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert split(b'data: {\ndata:  "a": 1\ndata: }\n\n') == [b'{\n "a": 1\n}']


def test_comments_and_other_fields_are_skipped() -> None:
    stream = b": hello\nevent: x\nid: 1\nretry: 5\ndatabase: no\nfoo\ndata: 1\n\n: only a comment\n\n"
    assert split(stream) == [b"1"]


def test_the_space_after_the_colon_is_optional_and_only_one_is_removed() -> None:
    assert split(b"data:1\n\ndata:  2\n\ndata\n\n") == [b"1", b" 2", b""]


def test_a_last_event_without_its_blank_line_still_counts() -> None:
    assert split(b"data: 1\n\ndata: 2\n") == [b"1", b"2"]
    assert split(b"data: 1\n\ndata: 2\r") == [b"1", b"2"]


def test_a_last_line_cut_in_the_middle_is_dropped() -> None:
    assert split(b'data: 1\n\ndata: {"cut', b"") == [b"1"]
    assert split(b'data: 1\n\ndata: {"a": 1}\ndata: {"cut') == [b"1"]


def test_empty_reads_and_an_empty_stream() -> None:
    assert split() == []
    assert split(b"", b"data: 1\n", b"", b"\n") == [b"1"]


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", b""])
def test_a_byte_order_mark_only_at_the_start_is_ignored(bom: bytes) -> None:
    assert split(bom[:1], bom[1:] + b"data: 1\n\n") == [b"1"]
    assert split(b"data: 1\n\n\xef\xbb\xbfdata: 2\n\n") == [b"1"]  # later, it is part of a field name


def test_done_is_data_like_any_other() -> None:
    """The reader decides what ``[DONE]`` means (the end); the splitter hands it over as it came."""
    assert split(b"data: [DONE]\n\ndata: 1\n\n") == [b"[DONE]", b"1"]
