"""Decoding of ``Content-Encoding: gzip`` and ``deflate`` bodies, chunk by chunk."""

from __future__ import annotations

import zlib
from collections.abc import Callable

__all__ = ("decompressor",)


def decompressor(encoding: bytes) -> Callable[[bytes], bytes] | None:
    """The decoder of a ``Content-Encoding`` value; ``None`` for one left as it is."""
    encoding = encoding.strip().lower()
    if encoding in (b"gzip", b"x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress
    if encoding == b"deflate":
        return _Deflate().decompress
    return None


class _Deflate:
    """``deflate`` as servers send it: zlib-wrapped, or (some) raw."""

    __slots__ = ("_d",)

    def __init__(self) -> None:
        self._d: zlib._Decompress | None = None

    def decompress(self, data: bytes) -> bytes:
        if self._d is None:
            raw = not data or (data[0] & 0x0F) != 8
            self._d = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        return self._d.decompress(data)
