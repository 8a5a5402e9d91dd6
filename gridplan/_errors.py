"""Exceptions raised by gridplan.

Every problem with user input is a :class:`Problem` naming the layer, the feature and the
fix. Validation collects all problems and raises one :class:`ValidationError` carrying them.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in a dataset.

    ``severity`` is ``"error"`` (the dataset cannot be used as it is) or ``"warning"``
    (gridplan repaired or assumed something and says so).
    """

    severity: str
    layer: str
    feature: str | None
    message: str
    fix: str
    code: str = ""

    def __str__(self) -> str:
        where = self.layer if self.feature is None else f"{self.layer} [{self.feature}]"
        tag = "错误" if self.severity == "error" else "警告"
        return f"{tag} {where}: {self.message} — {self.fix}"

    def as_dict(self) -> dict:
        return {
            "severity": self.severity,
            "layer": self.layer,
            "feature": self.feature,
            "message": self.message,
            "fix": self.fix,
            "code": self.code,
        }


class GridplanError(Exception):
    """Base class of every error gridplan raises on purpose."""


class ValidationError(GridplanError, ValueError):
    """The input data has problems; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]):
        self.problems = tuple(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        head = f"{len(errors)} problem(s) in the dataset"
        body = "\n".join(f"  - {p}" for p in errors[:50])
        more = f"\n  … and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{head}:\n{body}{more}")


class PlanError(GridplanError, ValueError):
    """An edit or a plan is not valid for the dataset (unknown building, unknown grid, …)."""


class CRSError(GridplanError, ValueError):
    """A coordinate reference system is missing, unknown or not suitable."""


class StoreError(GridplanError):
    """A version is missing, the store cannot be used, or a save conflicts with a newer one."""


class StoreConflict(StoreError):
    """A save changes communities that another save changed after its base; nothing was written.

    ``conflicts`` lists the newer versions: dicts with ``version``, ``name``, ``user``, ``created``
    and ``communities`` (the overlapping community ids); ``base`` and ``head`` are the saver's base
    version and the newest version at the time of the save.
    """

    def __init__(self, message: str, *, conflicts=(), base: int = 0, head: int = 0):
        super().__init__(message)
        self.conflicts = list(conflicts)
        self.base = base
        self.head = head


class StoreAccessError(StoreError):
    """A user may not do this (unknown or disabled user, a viewer saving, a planner outside their scope)."""


class AssetsMissingError(GridplanError, FileNotFoundError):
    """The offline map assets are not installed (or a map needs one gridplan does not ship)."""


class FontMissingError(GridplanError, FileNotFoundError):
    """No CJK font is installed (Chinese text would render as boxes)."""


class RosterError(GridplanError, ValueError):
    """A household roster (住户台账) cannot be read: the message names the file, the sheet, the row and the fix."""


class ClusterError(GridplanError):
    """A Dask cluster cannot be used: nothing answers at the scheduler address, it has no workers, a
    worker runs another gridplan, or a task kept failing. The message names the address and the fix."""
