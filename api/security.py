"""What a job spec submitted over REST may name: no Python code (``package.module:factory``)
and no file of the server unless the server was started with the flag that allows it."""

from __future__ import annotations

import dataclasses
from typing import Any

from coexplore.accel_model.user_workloads import is_factory_ref

__all__ = ["refused_references"]

# fields that name a file on the server (a study storage URL names a database file or server)
_FILE_FIELDS = ("weights", "data", "eval_data", "cache_dir", "study_storage")
# fields that name a network: a built-in name, a file, or code
_NETWORK_FIELDS = ("network", "model")


def refused_references(spec: Any, settings: Any) -> str | None:
    """Why ``spec`` is refused under ``settings``, or ``None`` when it is accepted."""
    for path, field, value in _string_fields(spec):
        if field in _NETWORK_FIELDS and is_factory_ref(value) and not settings.allow_user_code:
            return (f"`{path}` names Python code ({value!r}); this server runs no code "
                    "from requests. Start it with --allow-user-code to accept model "
                    "factories.")  # fmt: skip
        is_file = field in _FILE_FIELDS or (
            field in _NETWORK_FIELDS and value.lower().endswith((".json", ".yaml", ".yml",
                                                                 ".onnx", ".pt", ".pth", ".th"))
        )  # fmt: skip
        if is_file and not settings.allow_local_files:
            return (f"`{path}` names a file on the server ({value!r}); this server reads no "
                    "files named in requests. Start it with --allow-local-files to accept "
                    "them.")  # fmt: skip
    return None


def _string_fields(obj: Any, prefix: str = "spec") -> list[tuple[str, str, str]]:
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = f"{prefix}.{f.name}"
        if isinstance(value, str) and value:
            out.append((path, f.name, value))
        elif dataclasses.is_dataclass(value):
            out.extend(_string_fields(value, path))
    return out
