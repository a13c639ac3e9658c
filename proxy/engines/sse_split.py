"""The ``data`` of each server-sent event in a byte stream, as it arrives in reads of any size.

What the chat and responses engines need of a provider's stream is each event's data (a JSON
object, or ``[DONE]``); event names, ids, retry hints and comments are not used. So the bytes are
split on the blank line that ends an event, and only ``data:`` lines are kept: several in one
event are joined with a newline (as the SSE standard says), and an event without any is skipped.
Lines may end with LF, CRLF or CR. A read may end anywhere, inside a line, between the CR and
the LF of one line ending, or inside a UTF-8 character: nothing is decoded here, the bytes of one
event are handed over whole, for one JSON decode.

At the end of the stream, an event whose last line ended but whose blank line never came is
handed over too (some servers end that way); a line cut off in the middle is dropped, as the
standard drops an unfinished event.
"""

from __future__ import annotations

__all__ = ("DataSplitter",)

_BOM = b"\xef\xbb\xbf"


class DataSplitter:
    """Feed it the stream's reads in order; each call returns the data of the events completed."""

    __slots__ = ("_rest", "_skip_lf", "_started")

    def __init__(self) -> None:
        self._rest = b""  # the unfinished event, its line endings already LF
        self._skip_lf = False  # the last read ended with CR: an LF opening the next one is its pair
        self._started = False

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._skip_lf:
            self._skip_lf = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._skip_lf = chunk.endswith(b"\r")
            chunk = _lf(chunk)
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
        return _data_of(blocks)

    def finish(self) -> list[bytes]:
        """At the end of the stream: the last event if its last line ended (see the module)."""
        rest, self._rest = self._rest, b""
        if not rest.endswith(b"\n"):
            return []  # cut inside a line (or nothing left)
        return _data_of([rest])


def _lf(buf: bytes) -> bytes:
    return buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


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
        data = _joined_data(block)
        if data is not None:
            out.append(data)
    return out


def _joined_data(block: bytes) -> bytes | None:
    data = None
    for line in block.split(b"\n"):
        if not line.startswith(b"data"):
            continue  # comments (":..."), event, id, retry, unknown fields, blank lines
        if len(line) == 4:
            value = b""
        elif line[4] == 0x3A:  # "data:"
            value = line[6:] if line[5:6] == b" " else line[5:]
        else:
            continue  # a field named otherwise ("database: ...")
        data = value if data is None else data + b"\n" + value
    return data
