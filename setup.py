"""Build step: the wheel carries the bundled sample city and its rosters (``data/sample``, ``data/rosters``)
as package data under ``gridplan/data/``, where :func:`gridplan._data.data_dir` finds them through
importlib.resources. Everything else is declared in pyproject.toml."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithData(build_py):
    """``build_py``, then ``data/sample`` and ``data/rosters`` copied into the built package."""

    def run(self):
        super().run()
        for name in ("sample", "rosters"):
            dest = Path(self.build_lib) / "gridplan" / "data" / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(ROOT / "data" / name, dest)


setup(cmdclass={"build_py": BuildPyWithData})
