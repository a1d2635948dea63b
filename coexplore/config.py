"""Base for typed configuration records: validated at construction, JSON round trip.

``from_dict`` rebuilds nested records and tuples from plain JSON values and refuses unknown
fields; ``json_schema`` describes a record for the REST layer (which exposes it unchanged).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
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

    Subclasses validate in ``__post_init__`` and raise :class:`ConfigError`. Fields may be
    scalars, ``X | None``, ``tuple[X, ...]``, ``dict[str, X]`` or nested ``ConfigBase``
    records; ``from_dict(to_dict(c)) == c`` for every record.
    """

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} is read from a JSON object, got {data!r}.")
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(
                f"{cls.__name__} has no field(s) {', '.join(unknown)}; "
                f"valid fields: {', '.join(sorted(fields))}."
            )
        hints = typing.get_type_hints(cls)
        kwargs = {k: _coerce(hints[k], v, f"{cls.__name__}.{k}") for k, v in data.items()}
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a required field is missing
            raise ConfigError(f"{cls.__name__}: {exc}.") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{cls.__name__}: not valid JSON ({exc}).") from None
        return cls.from_dict(data)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """JSON Schema (draft 2020-12) of the record as ``to_dict`` writes it."""
        return _record_schema(cls)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Turns a JSON value into the declared type (nested records, tuples); a value of the
    wrong JSON type is refused here, naming the field, the type and the value."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None) and _matches(arg, value):
                return _coerce(arg, value, where)
        raise _wrong_type(hint, value, where)
    if isinstance(hint, type) and issubclass(hint, ConfigBase):
        if not isinstance(value, dict):
            raise _wrong_type(hint, value, where)
        return hint.from_dict(value)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _wrong_type(hint, value, where)
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _wrong_type(hint, value, where)
        args = typing.get_args(hint)
        item = args[1] if len(args) == 2 else Any
        return {k: _coerce(item, v, f"{where}.{k}") for k, v in value.items()}
    if hint in _SCALARS and not _matches(hint, value):
        raise _wrong_type(hint, value, where)
    return value


def _matches(hint: Any, value: Any) -> bool:
    """Whether a JSON value has the shape of ``hint`` (an int is a float; a bool is not an
    int)."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        return isinstance(value, list | tuple)
    if origin is dict or (isinstance(hint, type) and issubclass(hint, ConfigBase)):
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if origin is tuple:
        return "a list"
    if origin is dict or (isinstance(hint, type) and issubclass(hint, ConfigBase)):
        return "an object"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             type(None): "null"}  # fmt: skip
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _wrong_type(hint: Any, value: Any, where: str) -> ConfigError:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return ConfigError(f"`{where}` must be {_type_name(hint)}, but got {shown}.")


_SCALARS = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}


def _type_schema(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(a) for a in typing.get_args(hint)]}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(hint))}
    if origin is tuple:
        args = typing.get_args(hint)
        return {"type": "array", "items": _type_schema(args[0]) if args else {}}
    if origin is dict:
        args = typing.get_args(hint)
        return {"type": "object", "additionalProperties": _type_schema(args[1]) if args else {}}
    if isinstance(hint, type) and issubclass(hint, ConfigBase):
        return _record_schema(hint)
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]} if hint is not float else {"type": ["number", "integer"]}
    return {}


def _record_schema(cls: type[ConfigBase]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        schema = _type_schema(hints[f.name])
        if f.default is not dataclasses.MISSING:
            schema["default"] = list(f.default) if isinstance(f.default, tuple) else f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            schema["default"] = value.to_dict() if isinstance(value, ConfigBase) else value
        else:
            required.append(f.name)
        props[f.name] = schema
    out: dict[str, Any] = {
        "title": cls.__name__,
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }
    if cls.__doc__:
        out["description"] = cls.__doc__.strip().splitlines()[0]
    if required:
        out["required"] = required
    return out
