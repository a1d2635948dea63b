"""The run layer: job specs, results and the run folder every job kind writes.

* :class:`RunSpec` -- a versioned, JSON round-trip description of one job (hardware sweep,
  co-search, data-free co-search, quantize, compare). The same object comes from the CLI,
  the REST API and Python; :data:`SPECS` maps a ``kind`` to its class.
* :class:`RunResult` -- what a job returns: its spec, status, timings, headline metrics, the
  typed result record and the artefacts to save.
* :func:`save_run` writes a run folder atomically (it appears whole or not at all) with a
  ``run.json`` manifest; :func:`read_run` is the one reader, used by the dashboards and the API.
* :func:`atomic_write` is the one helper that writes a file so that a crash never leaves a
  half-written file behind.

Layout of a run folder (the same for every kind)::

    <root>/<YYYYmmdd-HHMMSS>-<name>/
        run.json      manifest: kind, spec, version, status, timings, metrics, artefacts
        spec.json     the spec, as ``RunSpec.to_json`` writes it
        result.json   the typed result record (``to_dict``)
        ...           the kind's artefacts (pareto.csv, quantized.pt, ...)
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

from coexplore.config import ConfigBase
from coexplore.errors import ConfigError
from coexplore.registry import Registry

__all__ = [
    "RunSpec",
    "SPECS",
    "register_spec",
    "spec_from_dict",
    "RunResult",
    "RunManifest",
    "save_run",
    "read_run",
    "atomic_write",
    "MANIFEST",
    "MANIFEST_FORMAT",
]

MANIFEST = "run.json"
MANIFEST_FORMAT = 1
STATUSES = ("succeeded", "failed", "cancelled")


@dataclasses.dataclass(frozen=True)
class RunSpec(ConfigBase):
    """Base of every job spec. Subclasses set ``kind`` and ``VERSION`` and add fields.

    ``version`` is part of the JSON; a spec written by another version is refused with the
    fix rather than read wrongly.
    """

    kind: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    version: int = 1

    def __post_init__(self) -> None:
        if self.version != self.VERSION:
            raise ConfigError(
                f"{type(self).__name__} version {self.version!r} is not the version this "
                f"coexplore reads ({self.VERSION}); write the spec again for this version."
            )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **super().to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} is read from a JSON object, got {data!r}.")
        data = dict(data)
        kind = data.pop("kind", cls.kind)
        if kind != cls.kind:
            raise ConfigError(f"{cls.__name__} has kind {cls.kind!r}, but the JSON says {kind!r}.")
        return super().from_dict(data)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        schema = super().json_schema()
        schema["properties"] = {"kind": {"const": cls.kind}, **schema["properties"]}
        return schema

    @property
    def label(self) -> str:
        """Short name for run folders and job lists (subclasses say more)."""
        return self.kind


SPECS: Registry[type[RunSpec]] = Registry("run kind")


def register_spec(cls: type[RunSpec]) -> type[RunSpec]:
    """Class decorator: adds a spec class to :data:`SPECS` under its ``kind``."""
    SPECS.register(cls.kind, cls)
    return cls


def spec_from_dict(data: dict[str, Any]) -> RunSpec:
    """Builds the spec of the kind named in ``data["kind"]``.

    Raises:
        ConfigError: no ``kind``, or bad fields; UnknownComponentError: an unknown kind.
    """
    if not isinstance(data, dict) or "kind" not in data:
        raise ConfigError(
            f"a run spec is a JSON object with a `kind` ({', '.join(SPECS.names())}); "
            f"got {str(data)[:80]!r}."
        )
    return SPECS.get(str(data["kind"])).from_dict(data)


Writer = Callable[[Path], None]


@dataclasses.dataclass
class RunResult:
    """What one job returns.

    Args:
        spec: The job's spec.
        result: The kind's typed result record (has ``to_dict``).
        metrics: Headline numbers for job lists and dashboards (JSON scalars).
        timings_s: Seconds per phase.
        artefacts: File name -> text or ``writer(path)``; saved beside the manifest.
        status: ``succeeded`` (a job that fails raises instead of returning).
    """

    spec: RunSpec
    result: Any
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    timings_s: dict[str, float] = dataclasses.field(default_factory=dict)
    artefacts: dict[str, str | Writer] = dataclasses.field(default_factory=dict)
    status: str = "succeeded"
    folder: Path | None = None

    @property
    def kind(self) -> str:
        return self.spec.kind

    def to_dict(self) -> dict[str, Any]:
        out = {
            "kind": self.kind,
            "status": self.status,
            "spec": self.spec.to_dict(),
            "metrics": _jsonable(self.metrics),
            "timings_s": _jsonable(self.timings_s),
            "result": _jsonable(self.result.to_dict() if self.result is not None else None),
        }
        if self.folder is not None:
            out["run_folder"] = str(self.folder)
        return out


@dataclasses.dataclass(frozen=True)
class RunManifest:
    """``run.json`` of a run folder, as :func:`read_run` returns it."""

    folder: Path
    kind: str
    spec: dict[str, Any]
    coexplore_version: str
    status: str
    created: str
    timings_s: dict[str, float]
    metrics: dict[str, Any]
    artefacts: tuple[dict[str, Any], ...]

    def load_spec(self) -> RunSpec:
        """The typed spec (its kind must be registered: import ``coexplore.search``)."""
        return spec_from_dict(self.spec)

    def path(self, name: str) -> Path:
        """The file of artefact ``name``; refuses names outside the run folder.

        Raises:
            ConfigError: not an artefact of this run.
        """
        names = {a["name"] for a in self.artefacts}
        if name not in names:
            raise ConfigError(
                f"{name!r} is not an artefact of run {self.folder.name}; it has: "
                f"{', '.join(sorted(names))}."
            )
        return self.folder / name

    def result(self) -> dict[str, Any]:
        """The result record (``result.json``) as JSON."""
        return json.loads(self.path("result.json").read_text())


def atomic_write(path: str | Path, data: str | bytes | Writer) -> Path:
    """Writes ``path`` so that it is either the old file or the whole new one, never half.

    Args:
        path: Target file; its folder is created.
        data: Text, bytes, or ``writer(tmp_path)`` that writes the file (e.g. ``torch.save``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, str):
                f.write(data.encode())
            elif isinstance(data, bytes):
                f.write(data)
        if callable(data):
            data(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_run(result: RunResult, root: str | Path, name: str | None = None) -> Path:
    """Writes ``result`` as a run folder under ``root`` and returns the folder.

    The folder is built under a hidden temporary name and renamed when complete, so a crash
    never leaves a half-written run behind.

    Raises:
        ConfigError: ``root`` cannot be created or written (with the path and the fix).
    """
    from coexplore import __version__

    root = Path(root)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = _safe_name(name or result.spec.label)
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{stamp}-{name}-", dir=root))
    except OSError as exc:
        raise ConfigError(
            f"cannot write run folders under {str(root)!r} ({exc.strerror or exc}); pass "
            "--out with a folder you can write to."
        ) from None
    try:
        files: dict[str, str | Writer] = {
            "spec.json": result.spec.to_json() + "\n",
            "result.json": json.dumps(_jsonable(result.result.to_dict()), indent=2) + "\n",
            **result.artefacts,
        }
        for rel, data in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if callable(data):
                data(target)
            else:
                target.write_text(data)
        manifest = {
            "format": MANIFEST_FORMAT,
            "kind": result.kind,
            "coexplore_version": __version__,
            "status": result.status,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "spec": result.spec.to_dict(),
            "timings_s": _jsonable(result.timings_s),
            "metrics": _jsonable(result.metrics),
            "artefacts": [
                {"name": rel, "bytes": (tmp / rel).stat().st_size} for rel in sorted(files)
            ],
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        final = root / f"{stamp}-{name}"
        n = 1
        while final.exists():
            n += 1
            final = root / f"{stamp}-{name}-{n}"
        os.replace(tmp, final)
    except BaseException:
        _remove_tree(tmp)
        raise
    result.folder = final
    return final


def read_run(folder: str | Path) -> RunManifest:
    """Loads the manifest of a run folder (any kind).

    Raises:
        ConfigError: no ``run.json``, an unreadable one, or one of another format.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise ConfigError(f"{str(folder)!r} is not a run folder: it has no {MANIFEST}.")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable manifest ({exc}).") from None
    if data.get("format") != MANIFEST_FORMAT:
        raise ConfigError(
            f"{path}: manifest format {data.get('format')!r}, this coexplore reads "
            f"{MANIFEST_FORMAT}."
        )
    return RunManifest(
        folder=folder,
        kind=data["kind"],
        spec=data["spec"],
        coexplore_version=data["coexplore_version"],
        status=data["status"],
        created=data["created"],
        timings_s=data["timings_s"],
        metrics=data["metrics"],
        artefacts=tuple(data["artefacts"]),
    )


def _safe_name(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
    return keep.strip("-")[:80] or "run"


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _jsonable(value: Any) -> Any:
    """Plain JSON: numpy scalars to Python, non-finite floats to ``None``."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
