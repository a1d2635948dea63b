"""A name -> object registry per extension point (networks, design spaces, strategies...)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from coexplore.errors import UnknownComponentError

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Generic[T]):
    """Maps names to components; refuses duplicates and lists valid names on a miss.

    Args:
        kind: What the registry holds, used in error messages (e.g. ``"network"``).

    Example:
        >>> nets = Registry[int]("network")
        >>> nets.register("a", 1)
        >>> nets.get("a")
        1
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> None:
        """Adds ``item`` under ``name``.

        Raises:
            ValueError: if ``name`` is already registered (a programming error, not a user one).
        """
        key = name.lower()
        if key in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice; names must be unique.")
        self._items[key] = item

    def decorator(self, name: str) -> Callable[[T], T]:
        """Returns a decorator that registers the decorated object under ``name``."""

        def wrap(item: T) -> T:
            self.register(name, item)
            return item

        return wrap

    def get(self, name: str) -> T:
        """Looks ``name`` up (case-insensitive).

        Raises:
            UnknownComponentError: naming the valid choices.
        """
        try:
            return self._items[name.lower()]
        except KeyError:
            raise UnknownComponentError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}."
            ) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
