"""Counting the bytes an index writes without keeping them: how adapters whose library can
save its index (but not report its size) measure it, with no copy of the index in memory."""

from __future__ import annotations

import pickle
from collections.abc import Callable


class ByteCounter:
    """A write-only file that keeps nothing and counts what is written to it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data) -> int:
        written = memoryview(data).nbytes
        self.size += written
        return written

    def tell(self) -> int:
        return self.size

    def seekable(self) -> bool:
        return False

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) not in ((self.size, 0), (0, 1), (0, 2)):
            raise OSError("a byte counter cannot seek")
        return self.size

    def flush(self) -> None:
        pass


def counted_bytes(save: Callable[[ByteCounter], object]) -> int:
    """The number of bytes ``save(file)`` writes."""
    counter = ByteCounter()
    save(counter)
    return counter.size


def pickled_bytes(value: object) -> int:
    """The size of ``value`` pickled (protocol 5), for a library whose index is a Python
    object holding numpy arrays."""
    return counted_bytes(lambda file: pickle.dump(value, file, protocol=5))
