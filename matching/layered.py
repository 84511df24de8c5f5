"""A list and a mapping that successive states of an index share: :class:`LayeredList`, :class:`LayeredMap`.

Each holds a *base* that nothing changes once it is made, shared by every copy, and the changes made since,
its own. Copying one (:meth:`fork`) copies the changes only, so a state of the index may be copied, changed
and published while rankings go on reading the previous one, at a cost that follows the changes, not the
pool; :meth:`fold` makes a new base of both from time to time (the index's merge), so that the changes stay few.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, Self, TypeVar

__all__ = ["LayeredList", "LayeredMap"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

_ABSENT: Any = object()  # no such key
_GONE: Any = object()  # a change: the base's key was removed


class _Layered:
    """What both share: a base nothing changes, this copy's own changes since, and the length."""

    __slots__ = ("_base", "_changes", "_len")
    _base: Any
    _changes: dict[Any, Any]
    _len: int

    def fork(self) -> Self:
        """A copy sharing this one's base: changing either leaves the other as it was."""
        new = object.__new__(type(self))
        new._base, new._changes, new._len = self._base, self._changes.copy(), self._len
        return new

    def fold(self) -> None:
        """Make the changes part of a new base (this one is left to the other copies)."""
        if self._changes:
            self._base = self._folded()
            self._changes = {}

    def _folded(self) -> Any:
        raise NotImplementedError


class LayeredList(_Layered, Generic[T]):
    """A list grown by :meth:`append` and changed by item, whose copies share their base (see the module)."""

    __slots__ = ()

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._base: list[T] = list(items)
        self._changes: dict[int, T] = {}  # by position, appended ones included
        self._len = len(self._base)

    def _folded(self) -> list[T]:
        base = self._base.copy()
        base.extend([None] * (self._len - len(base)))  # type: ignore[list-item]  # every added position is a change
        for i, value in self._changes.items():
            base[i] = value
        return base

    def _position(self, i: int) -> int:
        at = i + self._len if i < 0 else i
        if not 0 <= at < self._len:
            raise IndexError("list index out of range")
        return at

    def __getitem__(self, i: int) -> T:
        # read for every candidate a ranking returns: kept to two lookups
        if i in self._changes:
            return self._changes[i]
        if i >= 0:
            return self._base[i]  # beyond the base: out of range, as every added position is a change
        return self[self._position(i)]

    def take(self, positions: list[int]) -> list[T]:
        """The items at ``positions`` (each in range, none negative): what a ranking reads of its rows, in one
        call rather than one per row."""
        changes, base = self._changes, self._base
        if not changes:
            return list(map(base.__getitem__, positions))
        return [changes[i] if i in changes else base[i] for i in positions]

    def __setitem__(self, i: int, value: T) -> None:
        self._changes[self._position(i)] = value

    def append(self, value: T) -> None:
        self._changes[self._len] = value
        self._len += 1

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[T]:
        return iter(self._folded() if self._changes else self._base)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LayeredList):
            other = list(other)
        return isinstance(other, list) and list(self) == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LayeredList({list(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # kept (pickled, deep-copied) as one plain list
        return LayeredList, (self._folded() if self._changes else self._base,)


class LayeredMap(_Layered, Mapping[K, V]):
    """A dict changed by ``m[k] = v`` and :meth:`pop`, whose copies share their base (see the module)."""

    __slots__ = ()

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._base: dict[K, V] = dict(items or {})
        self._changes: dict[K, V] = {}  # a value, or _GONE for a key of the base removed
        self._len = len(self._base)

    def _folded(self) -> dict[K, V]:
        base = self._base.copy()
        for key, value in self._changes.items():
            if value is _GONE:
                del base[key]
            else:
                base[key] = value
        return base

    def get(self, key: K, default: Any = None) -> Any:
        if key in self._changes:
            value = self._changes[key]
            return default if value is _GONE else value
        return self._base.get(key, default)

    def __getitem__(self, key: K) -> V:
        value = self.get(key, _ABSENT)
        if value is _ABSENT:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    def __contains__(self, key: object) -> bool:
        return self.get(key, _ABSENT) is not _ABSENT  # type: ignore[arg-type]

    def __setitem__(self, key: K, value: V) -> None:
        if key not in self:
            self._len += 1
        self._changes[key] = value

    def pop(self, key: K, default: Any = None) -> Any:
        value = self.get(key, _ABSENT)
        if value is _ABSENT:
            return default
        if key in self._base:
            self._changes[key] = _GONE
        else:
            del self._changes[key]
        self._len -= 1
        return value

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[K]:
        return iter(self._folded() if self._changes else self._base)

    def __repr__(self) -> str:
        return f"LayeredMap({dict(self.items())!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # kept (pickled, deep-copied) as one plain dict
        return LayeredMap, (self._folded() if self._changes else self._base,)
