"""Bounded memo tables keyed by value, for the loaders and the sweep's resolver.

A key is built of frozen data (strings, numbers, tuples of them, digests), never of ``id()`` of an
object: an id is reused once its object is collected, and an entry that holds its object to stop that
keeps every such object alive. Each table keeps at most ``maxsize`` entries, dropping the least recently
used first, so a long sweep or a long-lived worker process does not grow without bound.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable


class Memo:
    """A least-recently-used table of at most ``maxsize`` entries (``maxsize`` ≥ 1)."""

    __slots__ = ("maxsize", "_data")

    def __init__(self, maxsize: int):
        if maxsize < 1:
            raise ValueError(f"Memo: maxsize {maxsize}; expected at least 1")
        self.maxsize = int(maxsize)
        self._data: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value stored under ``key`` (now the most recently used), or ``default``."""
        try:
            self._data.move_to_end(key)
        except KeyError:
            return default
        return self._data[key]

    def __setitem__(self, key: Hashable, value: Any) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def get_or(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The value under ``key``, made by ``make()`` and stored on a miss (an exception stores nothing)."""
        try:
            self._data.move_to_end(key)
            return self._data[key]
        except KeyError:
            value = make()
            self[key] = value
            return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        """Forget every entry."""
        self._data.clear()
