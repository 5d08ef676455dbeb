"""A stream that gives at most a fixed number of bytes: how archives from a source (npm
tarballs, sdists) are inflated without letting a decompression bomb take the memory."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any


class CappedStream(io.RawIOBase):
    """A read-only stream over `inner` that raises `refused(limit)` once more than `limit`
    bytes in total have been asked for: the caller names the archive and what it sought."""

    def __init__(self, inner: Any, limit: int, refused: Callable[[int], Exception]) -> None:
        self.inner, self.left, self.limit, self.refused = inner, limit, limit, refused

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            raise self.refused(self.limit)
        data = self.inner.read(min(len(buffer), self.left))
        self.left -= len(data)
        buffer[: len(data)] = data
        return len(data)
