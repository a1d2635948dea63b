"""The layout contract of DESIGN.md: one import root, bare folders refused, layering."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
    "accel_model": "coexplore.accel_model",
    "quant": "coexplore.quant",
    "search": "coexplore.search",
    "api": "coexplore.api",
}
# Lower layers may not import higher ones.
LAYERS = [
    "coexplore",
    "coexplore.accel_model",
    "coexplore.quant",
    "coexplore.search",
    "coexplore.api",
]


def _py(code: str, cwd: Path | None = None, path: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = path
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (whl,) = out.glob("coexplore-*.whl")
    return whl


def test_wheel_has_one_import_root(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"coexplore"}
    for sub in FOLDERS.values():
        assert f"{sub.replace('.', '/')}/__init__.py" in names


def test_every_module_imports_from_the_wheel(wheel: Path, tmp_path: Path) -> None:
    zipfile.ZipFile(wheel).extractall(tmp_path)
    modules = sorted(
        str(p.relative_to(tmp_path).with_suffix("")).replace(os.sep, ".")
        for p in (tmp_path / "coexplore").rglob("*.py")
    )
    modules = [m.removesuffix(".__init__") for m in modules]
    code = (
        "import importlib, coexplore\n"
        f"assert coexplore.__file__.startswith({str(tmp_path)!r}), coexplore.__file__\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
    )
    # Run from an empty folder so the checkout's own files cannot be picked up.
    proc = _py(code, cwd=tmp_path, path=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_bare_folder_import_is_refused(folder: str) -> None:
    proc = _py(f"import {folder}", cwd=ROOT, path=str(ROOT))
    assert proc.returncode != 0
    assert f"import coexplore.{folder}" in proc.stderr


def test_generic_names_are_not_installed() -> None:
    proc = _py(
        "import importlib.util as u; "
        "print([n for n in ('search','api','quant','accel_model') if u.find_spec(n)])",
        cwd=Path("/"),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_accel_model_never_imports_torch() -> None:
    proc = _py(
        "import sys, coexplore.accel_model as a; "
        "a.AnalyticalModel().evaluate(a.get_network('resnet20'), "
        "a.get_design_space('tiny').sample(4, 0)); "
        "print('torch' in sys.modules)",
        cwd=Path("/"),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_cli_import_loads_neither_torch_nor_fastapi() -> None:
    proc = _py(
        "import sys, coexplore.api.cli; "
        "print(sorted(m for m in ('torch','fastapi','sqlalchemy','ray') if m in sys.modules))",
        cwd=Path("/"),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_layering_is_respected() -> None:
    folders = {"coexplore": ROOT / "coexplore", **{v: ROOT / k for k, v in FOLDERS.items()}}
    violations = []
    for pkg, folder in folders.items():
        rank = LAYERS.index(pkg)
        higher = LAYERS[rank + 1 :]
        for py in folder.rglob("*.py"):
            for imp in _imports(py):
                if any(imp == h or imp.startswith(h + ".") for h in higher):
                    violations.append(f"{py.relative_to(ROOT)} imports {imp}")
    assert not violations, violations


def test_nothing_below_api_imports_it() -> None:
    lower = {k: ROOT / k for k in ("accel_model", "quant", "search", "coexplore")}
    offenders = [
        f"{folder}/{py.relative_to(path)} imports {imp}"
        for folder, path in lower.items()
        for py in path.rglob("*.py")
        for imp in _imports(py)
        if imp == "coexplore.api" or imp.startswith("coexplore.api.")
    ]
    assert not offenders, offenders


def _module_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from pkg import mod`` counts as ``pkg.mod``);
    packages' ``__init__`` re-exports are left out, they import their own modules by design."""
    folders = {"coexplore": root / "coexplore", **{v: root / k for k, v in FOLDERS.items()}}
    names: dict[str, Path] = {}
    for pkg, folder in folders.items():
        for py in folder.rglob("*.py"):
            if py.name != "__init__.py":
                rel = py.relative_to(folder).with_suffix("")
                names[".".join([pkg, *rel.parts])] = py
    graph: dict[str, set[str]] = {}
    for name, py in names.items():
        out: set[str] = set()
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {m for m in out if m in names and m != name}
    return graph


def test_no_import_cycles_between_modules() -> None:
    graph = _module_graph(ROOT)
    cycles = []
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m == start:
                cycles.append(start)
                break
            if m not in seen:
                seen.add(m)
                todo += graph[m]
    assert not cycles, cycles
