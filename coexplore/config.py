"""Base for typed configuration records: validated at construction, JSON round trip."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Self

from coexplore.errors import ConfigError

__all__ = ["ConfigBase", "check_range", "check_choice"]


def check_range(name: str, value: float, low: float, high: float, fix: str = "") -> None:
    """Raises ConfigError unless ``low <= value <= high``."""
    if not (low <= value <= high):
        hint = f" {fix}" if fix else ""
        raise ConfigError(f"`{name}` must be in [{low}, {high}], but got {value!r}.{hint}")


def check_choice(name: str, value: Any, choices: list[Any] | tuple[Any, ...]) -> None:
    """Raises ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(
            f"`{name}` must be one of {', '.join(map(str, choices))}, but got {value!r}."
        )


@dataclasses.dataclass(frozen=True)
class ConfigBase:
    """Frozen dataclass with ``to_dict``/``from_dict``/``to_json``/``from_json``.

    Subclasses validate in ``__post_init__`` and raise :class:`ConfigError`.
    """

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"{cls.__name__} has no field(s) {', '.join(unknown)}; "
                f"valid fields: {', '.join(sorted(names))}."
            )
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.from_dict(json.loads(text))
