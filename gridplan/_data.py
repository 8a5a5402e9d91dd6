"""Where the bundled data lives: ``data/`` of a source checkout, else the copy installed with the package.

The wheel carries ``data/sample`` and ``data/rosters`` as package data under ``gridplan/data/`` (copied by
the build step in ``setup.py``); :func:`data_dir` finds them through :mod:`importlib.resources`.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]


def data_dir(name: str) -> Path:
    """The folder ``data/<name>`` (``sample``: the sample city, ``rosters``: its household rosters).

    In a source checkout (or an editable install) that is the repository's folder, the one
    ``python -m gridplan.sample`` writes; an installed gridplan finds the copy it was installed with.
    """
    repo = _CHECKOUT / "data" / name
    if (_CHECKOUT / "pyproject.toml").is_file() and repo.is_dir():
        return repo
    return Path(str(resources.files(__package__) / "data" / name))
