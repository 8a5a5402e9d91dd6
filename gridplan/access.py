"""Who may do what in a shared plan store: sign-in mode, and which communities an edit touches.

The store (:mod:`gridplan.store`) keeps the users, their roles and scopes and refuses a save
outside a planner's scope. This module holds the small decisions an app makes before it gets
there: whether it must ask for a sign-in at all (:func:`sign_in_mode`), and which communities an
edit changed (:func:`changed_communities`), so an edit outside a planner's scope is refused at
once (:func:`outside_scope`) rather than at the save.

>>> sign_in_mode(False, "127.0.0.1")
'single_user'
>>> sign_in_mode(False, "0.0.0.0")
'refuse'
>>> sign_in_mode(True, None)
'sign_in'
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .model import Dataset, Plan

#: server addresses that only this machine can reach
LOCAL_ADDRESSES = frozenset({"", "127.0.0.1", "localhost", "::1", "[::1]"})

#: the command an office runs to add its first admin (shown when the app refuses to run open)
ADD_ADMIN_COMMAND = "gridplan store user add STORE_URL NAME --role admin"


def is_local_address(address) -> bool:
    """Whether a server bound to ``address`` (streamlit's ``server.address``; unset is
    ``None`` or empty and means localhost) is reachable only from this machine."""
    a = str(address or "").strip().lower()
    return a in LOCAL_ADDRESSES or a.startswith("127.")


def sign_in_mode(has_users: bool, address) -> str:
    """``"sign_in"`` when the store has users; with none, ``"single_user"`` on a local address
    and ``"refuse"`` on any other (a server the network can reach must not run open)."""
    if has_users:
        return "sign_in"
    return "single_user" if is_local_address(address) else "refuse"


def _community(dataset: Dataset):
    b = dataset.buildings
    if "community_id" not in b.columns:
        return None
    return b["community_id"].astype(object).where(b["community_id"].notna(), "").astype(str)


def changed_communities(dataset: Dataset, before: Plan | None, after: Plan) -> list[str]:
    """The communities where ``after`` differs from ``before``: a building that changed grid, or
    a grid whose lock changed (sorted ids; every community when ``before`` is ``None``).

    A dataset without communities is one community ``""``.
    """
    comm = _community(dataset)
    ids = dataset.buildings.index.astype(str)
    if comm is None:
        import pandas as pd
        comm = pd.Series("", index=dataset.buildings.index)
    c = comm.to_numpy(dtype=object)
    if before is None:
        return sorted(set(c.tolist()))
    old = before.assignment.reindex(ids).to_numpy(dtype=object)
    new = after.assignment.reindex(ids).to_numpy(dtype=object)
    out = set(c[old != new].tolist())
    relocked = before.locked ^ after.locked
    if relocked:
        grid = new
        hit = np.isin(grid, np.array(sorted(relocked), dtype=object)) | np.isin(old, np.array(sorted(relocked),
                                                                                                dtype=object))
        out |= set(c[hit].tolist())
    return sorted(out)


def outside_scope(dataset: Dataset, before: Plan | None, after: Plan, scope: Iterable[str] | None) -> list[str]:
    """The communities ``after`` changed (relative to ``before``) that lie outside ``scope``
    (community ids a user may change; ``None`` means every community). Empty: the edit is allowed."""
    if scope is None:
        return []
    allowed = {str(s) for s in scope}
    return [c for c in changed_communities(dataset, before, after) if c not in allowed]
