"""Copy the shipped model, desktop entry and icons into the package when building a wheel.

Everything else about the package is declared in ``pyproject.toml``. The files stay
where a person edits them (``models/``, ``resources/``); ``build_py`` copies each path
listed in ``annotator/core/shipped.py`` to ``annotator/_shipped/<path>`` inside the
build directory, so a wheel (and ``pip install .``) carries them and
``annotator.core.shipped.shipped_file`` finds them. Editable installs read the
source tree directly and copy nothing.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def shipped_files() -> tuple[str, ...]:
    """Return ``SHIPPED_FILES`` from annotator/core/shipped.py without importing the package."""
    tree = ast.parse((HERE / "annotator" / "core" / "shipped.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "SHIPPED_FILES":
            return tuple(ast.literal_eval(node.value))  # type: ignore[arg-type]
    raise RuntimeError("annotator/core/shipped.py defines no SHIPPED_FILES")


class BuildWithShippedFiles(build_py):
    """Run ``build_py``, then copy the shipped files into ``annotator/_shipped/``."""

    def run(self) -> None:
        """Build the package; add the shipped files unless this is an editable install."""
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for relative in shipped_files():
            source = HERE / relative
            if not source.is_file():
                raise FileNotFoundError(f"{source}: listed in SHIPPED_FILES but missing")
            target = Path(self.build_lib) / "annotator" / "_shipped" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


setup(cmdclass={"build_py": BuildWithShippedFiles})
