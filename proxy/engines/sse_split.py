"""Server-sent events split out of a byte stream, as it arrives in reads of any size.

The one place the project reads the SSE format, in two shapes: :class:`DataSplitter` hands over
each event's data only (what the chat and responses engines and the wire client need: a JSON
object, or ``[DONE]``; on the hot path of every relayed token, so measured and kept lean), and
:class:`EventSplitter` each event's name and data (the assistants engine, whose events are told
apart by name). Both split the bytes on the blank line that ends an event; of its lines, ``data``
fields are kept (several in one event joined with a newline, as the SSE standard says), and
``event`` for the name (``message`` without one); comments, ids, retry hints and unknown fields
are skipped, and an event without data is dropped.

Lines may end with LF, CRLF or CR. A read may end anywhere, inside a line, between the CR and
the LF of one line ending, or inside a UTF-8 character: nothing is decoded here, the bytes of one
event's data are handed over whole, for one JSON decode. A byte order mark is skipped at the
start of the stream only.

At the end of the stream, an event whose last line ended but whose blank line never came is
handed over too (some servers end that way); an event whose last line is cut off in the middle
is dropped, as the standard drops an unfinished event.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ("DataSplitter", "EventSplitter")

_BOM = b"\xef\xbb\xbf"
_T = TypeVar("_T")


class _Splitter(Generic[_T]):
    """The line handling of both splitters: the events' blocks of lines, handed to ``_of``."""

    __slots__ = ("_rest", "_skip_lf", "_started")

    def __init__(self) -> None:
        self._rest = b""  # the unfinished event, its line endings already LF
        self._skip_lf = False  # the last read ended with CR: an LF opening the next one is its pair
        self._started = False

    @staticmethod
    def _of(blocks: list[bytes]) -> list[_T]:
        """What the events of ``blocks`` (their lines joined by LF) are handed over as."""
        raise NotImplementedError

    def feed(self, chunk: bytes) -> list[_T]:
        """The next read of the stream; returns the events it completed."""
        if self._skip_lf:
            self._skip_lf = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        rest = self._rest
        buf = rest + chunk if rest else chunk
        if not self._started:
            if len(buf) < len(_BOM) and _BOM.startswith(buf):
                self._rest = buf  # too short yet to tell whether the stream opens with a BOM
                return []
            self._started = True
            if buf.startswith(_BOM):
                buf = buf[len(_BOM) :]
        if b"\n\n" not in buf:
            self._rest = buf
            return []
        *blocks, self._rest = buf.split(b"\n\n")
        return self._of(blocks)

    def finish(self) -> list[_T]:
        """At the end of the stream: the last event if its last line ended (see the module)."""
        rest, self._rest = self._rest, b""
        if not rest.endswith(b"\n"):
            return []  # cut inside a line (or nothing left)
        return self._of([rest])


def _fields(block: bytes) -> tuple[bytes | None, bytes | None]:
    """An event's name and data, ``None`` where it has no such field."""
    name = data = None
    for line in block.split(b"\n"):
        field, _, value = line.partition(b":")
        if field == b"data":
            value = value[1:] if value[:1] == b" " else value
            data = value if data is None else data + b"\n" + value
        elif field == b"event":
            name = value[1:] if value[:1] == b" " else value
    return name, data  # comments (":..."), ids, retry hints, unknown fields and blank lines skipped


def _data_of(blocks: list[bytes]) -> list[bytes]:
    out = []
    for block in blocks:
        # the two usual shapes first: "data: X" (chat) and "event: E\ndata: X" (responses)
        if block.startswith(b"data: "):
            if b"\n" not in block:
                out.append(block[6:])
                continue
        elif block.startswith(b"event:"):
            line_end = block.find(b"\n")
            if line_end > 0 and block.startswith(b"data: ", line_end + 1) and block.find(b"\n", line_end + 1) < 0:
                out.append(block[line_end + 7 :])
                continue
        data = _fields(block)[1]
        if data is not None:
            out.append(data)
    return out


def _events_of(blocks: list[bytes]) -> list[tuple[str, bytes]]:
    out = []
    for block in blocks:
        name, data = _fields(block)
        if data is not None:
            out.append(((name or b"message").decode("utf-8", "replace"), data))
    return out


class DataSplitter(_Splitter[bytes]):
    """Feed it the stream's reads in order; each call returns the data of the events completed."""

    __slots__ = ()
    _of = staticmethod(_data_of)

    def feed(self, chunk: bytes) -> list[bytes]:
        # The usual read: whole events, each one ``data: X`` line (a chat completion's chunks), LF
        # line ends, nothing left over from the last read. Every LF of it is then one of the pair
        # that ends an event, and each pair but the last is followed by ``data: ``: its events' data
        # is one split away, made in C, where the general way takes a step of Python per event.
        whole = not self._rest and self._started and not self._skip_lf
        if whole and chunk.endswith(b"\n\n") and chunk.startswith(b"data: ") and b"\r" not in chunk:
            body = chunk[6:-2]
            if body.count(b"\n") == 2 * body.count(b"\n\ndata: "):
                return body.split(b"\n\ndata: ")
        return super().feed(chunk)


class EventSplitter(_Splitter[tuple[str, bytes]]):
    """Feed it the stream's reads in order; each call returns the ``(name, data)`` of the events
    completed (``message`` for an event without a name)."""

    __slots__ = ()
    _of = staticmethod(_events_of)
