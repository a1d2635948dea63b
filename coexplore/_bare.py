"""Guard that keeps the user's root folders from being imported under generic names."""

from __future__ import annotations


def refuse_bare_import(module_name: str, folder: str) -> None:
    """Raises ImportError when a mapped package is imported by its bare folder name.

    ``accel_model/`` installs as ``coexplore.accel_model``; importing it as ``accel_model``
    (e.g. with the repository root on ``sys.path``) would create a second, generic top-level
    module and two copies of every class.
    """
    if not module_name.startswith("coexplore."):
        raise ImportError(
            f"the folder {folder}/ is the package coexplore.{folder}; import it as "
            f"`import coexplore.{folder}` after `pip install -e .`, not as `import {folder}`."
        )
