"""The five-level party chain and the 党员中心户 it needs.

The seed article's chain is 街道党工委 → 社区党组织 → 小区党支部 → 楼栋党小组 → 党员中心户: a
street's working committee, the community's party organisation, a compound's branch, a building's
party group, and party-member households (党员中心户) that each look after about 10–15 neighbouring
households.

* :func:`central_household_need` — per building and per grid, the 党员中心户 needed
  (``ceil(households ÷ households_per_central)``, default 15) against the party members living
  there (each 党员中心户 is a party member's household, so a place cannot have more than its party
  members); the buildings and grids where the need cannot be met are ``short_buildings`` /
  ``short_grids``. When the buildings layer has a ``central_households`` column (the 党员中心户
  designated in a building — a household roster import fills it by counting the rows flagged
  党员中心户; Chinese headers 党员中心户 / 中心户数), it is compared with the need too (``designated``,
  ``designated_gap``); missing values mean "not known".
* :func:`party_chain` — the tree from 街道 down to 党员中心户 as one DataFrame: ``level`` 1–5,
  ``id``, ``name`` (the unit), ``organisation`` (the party body), ``parent``, counts at every
  level, and the 党员中心户 need. Buildings outside any compound hang under one node per community
  (``<community_id>/-``), so every branch has five levels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .model import Dataset, Plan

#: households one 党员中心户 looks after (the article: about 10–15)
HOUSEHOLDS_PER_CENTRAL = 15

#: level number → key; the names in each language are in :mod:`gridplan.i18n` (``chain_level_<key>``)
LEVELS: dict[int, str] = {1: "street", 2: "community", 3: "compound", 4: "building", 5: "central"}

CENTRAL_FIELD = "central_households"


def _per(households_per_central) -> int:
    per = int(households_per_central)
    if per < 1:
        raise ValueError(f"households_per_central must be at least 1, got {households_per_central!r}")
    return per


def _need(households, per: int) -> np.ndarray:
    h = np.asarray(households, dtype=np.int64)
    return np.where(h > 0, -(-h // per), 0).astype(np.int64)


def _num(b: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(b[col], errors="coerce").fillna(0).to_numpy(dtype=np.int64) if col in b.columns \
        else np.zeros(len(b), dtype=np.int64)


@dataclass(eq=False)
class CentralNeed:
    """党员中心户 needed against party members available, per building and per grid.

    Attributes
    ----------
    buildings
        Index ``building_id``: ``grid_id`` (with a plan), ``compound_id``, ``community_id``,
        ``households``, ``party_members``, ``need``, ``available`` (= party members),
        ``shortfall`` (need − available, at least 0), ``met``, ``designated`` (from
        ``central_households``, ``<NA>`` when unknown) and ``designated_gap`` (need − designated).
    grids
        Index ``grid_id`` (``None`` without a plan): ``households``, ``party_members``, ``need``
        (``ceil(households ÷ per)`` of the grid), ``available``, ``shortfall``, ``met``,
        ``buildings_short`` (its buildings that cannot meet their own need), ``need_of_buildings``
        (the sum of its buildings' needs), ``designated``.
    households_per_central
        The setting used.
    """

    buildings: pd.DataFrame
    grids: pd.DataFrame | None
    households_per_central: int

    @property
    def short_buildings(self) -> pd.DataFrame:
        """Buildings that lack the 党员中心户 they need."""
        return self.buildings[~self.buildings["met"]]

    @property
    def short_grids(self) -> pd.DataFrame | None:
        """Grids that lack 党员中心户 (``None`` without a plan)."""
        return None if self.grids is None else self.grids[~self.grids["met"]]

    def summary(self) -> dict:
        """The headline figures as a plain dict (for JSON and the CLI)."""
        b = self.buildings
        out = {"households_per_central": self.households_per_central, "need": int(b["need"].sum()),
               "buildings_short": int((~b["met"]).sum()), "shortfall_buildings": int(b["shortfall"].sum())}
        if b["designated"].notna().any():
            out["designated"] = int(b["designated"].sum())
        if self.grids is not None:
            out.update(grids=int(len(self.grids)), grids_short=int((~self.grids["met"]).sum()))
        return out


def central_household_need(dataset: Dataset, plan: Plan | None = None, *,
                           households_per_central: int = HOUSEHOLDS_PER_CENTRAL) -> CentralNeed:
    """党员中心户 needed per building (and per grid, with a plan) against the party members there.

    Examples
    --------
    A building of 31 households needs ``ceil(31 / 15) = 3``; with 2 party members it is 1 short.
    """
    per = _per(households_per_central)
    b = dataset.buildings
    out = pd.DataFrame(index=pd.Index(b.index.astype(str), name="building_id"))
    if plan is not None:
        out["grid_id"] = plan.assignment.reindex(out.index).to_numpy()
    for c in ("compound_id", "community_id"):
        out[c] = b[c].astype(object).to_numpy() if c in b.columns else None
    out["households"] = _num(b, "households")
    out["party_members"] = _num(b, "party_members")
    out["need"] = _need(out["households"], per)
    out["available"] = out["party_members"]
    out["shortfall"] = np.maximum(out["need"] - out["available"], 0)
    out["met"] = out["shortfall"] == 0
    des = (pd.to_numeric(b[CENTRAL_FIELD], errors="coerce").astype("Int64").to_numpy()
           if CENTRAL_FIELD in b.columns else pd.array([pd.NA] * len(b), dtype="Int64"))
    out["designated"] = pd.array(des, dtype="Int64")
    out["designated_gap"] = pd.array(out["need"].to_numpy(), dtype="Int64") - out["designated"]
    grids = None
    if plan is not None:
        g = out.groupby("grid_id")
        grids = pd.DataFrame({"households": g["households"].sum(), "party_members": g["party_members"].sum()})
        grids["need"] = _need(grids["households"], per)
        grids["available"] = grids["party_members"]
        grids["shortfall"] = np.maximum(grids["need"] - grids["available"], 0)
        grids["met"] = grids["shortfall"] == 0
        grids["buildings_short"] = (~out["met"]).groupby(out["grid_id"]).sum().astype(np.int64)
        grids["need_of_buildings"] = g["need"].sum()
        grids["designated"] = g["designated"].sum(min_count=1).astype("Int64")
        grids.index.name = "grid_id"
    return CentralNeed(buildings=out, grids=grids, households_per_central=per)


def party_chain(dataset: Dataset, plan: Plan | None = None, *, households_per_central: int = HOUSEHOLDS_PER_CENTRAL,
                lang: str = "zh") -> pd.DataFrame:
    """The five-level chain 街道党工委 → 社区党组织 → 小区党支部 → 楼栋党小组 → 党员中心户 as a tree.

    Returns
    -------
    DataFrame
        One row per node, parents before children (depth first): ``level`` (1–5), ``level_name``,
        ``id``, ``name`` (street, community, compound or building; for level 5 the building's
        党员中心户), ``organisation`` (the party body, e.g. ``蓥华小区独立党支部``; empty for a
        compound without a branch), ``has_org``, ``parent`` (id), ``grid_id`` (levels 4–5, with a
        plan), ``households``, ``persons``, ``party_members``, ``buildings``, ``central_need`` and
        ``central_designated`` (the sums below the node; ``<NA>`` when nothing is known). A level-5
        row stands for the 党员中心户 of one building (``id`` ``<building_id>#central``), present for
        every building with households.
    """
    from .i18n import t

    need = central_household_need(dataset, plan, households_per_central=households_per_central).buildings
    b = dataset.buildings
    comm = dataset.communities
    comp = dataset.compounds
    nb = need.copy()
    nb["persons"] = _num(b, "persons")
    nb["name"] = (b["name"].astype(object).where(b["name"].notna(), None).to_numpy()
                  if "name" in b.columns else None)
    nb["name"] = [n if isinstance(n, str) and n else i for n, i in zip(nb["name"], nb.index)]
    cname = {str(k): str(v) for k, v in comm["name"].items()} if comm is not None and "name" in comm.columns else {}
    unknown_street = t("chain_no_street", lang)
    cstreet = {}
    cstreet_id = {}
    if comm is not None:
        for k in comm.index.astype(str):
            s = comm.loc[k, "street"] if "street" in comm.columns else None
            sid = comm.loc[k, "street_id"] if "street_id" in comm.columns else None
            s = s if isinstance(s, str) and s else None
            sid = sid if isinstance(sid, str) and sid else None
            cstreet[k] = s or sid or unknown_street
            cstreet_id[k] = sid or f"street:{s or unknown_street}"
    nb["community_id"] = [str(c) if c is not None and c == c else "" for c in nb["community_id"]]
    nb["street_id"] = [cstreet_id.get(str(c), f"street:{unknown_street}") for c in nb["community_id"]]
    nb["street"] = [cstreet.get(str(c), unknown_street) for c in nb["community_id"]]
    nb["node3"] = [c if isinstance(c, str) and c else f"{m}/-" for c, m in zip(nb["compound_id"], nb["community_id"])]
    grid = nb["grid_id"] if "grid_id" in nb.columns else pd.Series(None, index=nb.index, dtype=object)
    nb["grid_id"] = grid.astype(object)
    nb["bid"] = nb.index
    counts = ["households", "persons", "party_members"]

    def level(key: str, parent: str | None, keys: list[str]) -> pd.DataFrame:
        g = nb.groupby(key, sort=True)
        f = g[counts].sum()
        f["buildings"] = g.size()
        f["central_need"] = g["need"].sum()
        f["central_designated"] = g["designated"].sum(min_count=1).astype("Int64")
        first = g.first()
        first[key] = first.index
        f["parent"] = first[parent].to_numpy() if parent else None
        for k in ("k1", "k2", "k3", "k4"):
            f[k] = first[keys[int(k[1]) - 1]].astype(str).to_numpy() if len(keys) >= int(k[1]) else ""
        f["id"] = f.index.astype(str)
        return f.reset_index(drop=True)

    lv = {k: t(f"chain_level_{v}", lang) for k, v in LEVELS.items()}
    org = {k: t(f"chain_org_{v}", lang) for k, v in LEVELS.items()}
    l1 = level("street_id", None, ["street_id"])
    l1["name"] = l1["id"].map(nb.groupby("street_id")["street"].first())
    l1["organisation"] = [org[1].format(name=n) for n in l1["name"]]
    l1["has_org"] = True
    l2 = level("community_id", "street_id", ["street_id", "community_id"])
    l2["name"] = [cname.get(c, c) for c in l2["id"]]
    l2["organisation"] = [org[2].format(name=n) for n in l2["name"]]
    l2["has_org"] = True
    comp_name = {str(k): v for k, v in comp["name"].items()} if comp is not None and "name" in comp.columns else {}
    party = {str(k): v for k, v in comp["party_org"].items()} if comp is not None and "party_org" in comp.columns else {}
    l3 = level("node3", "community_id", ["street_id", "community_id", "node3"])
    none3 = l3["id"].str.endswith("/-").to_numpy()
    l3["name"] = [t("chain_no_compound", lang) if x else (comp_name.get(i) or i) for i, x in zip(l3["id"], none3)]
    l3["organisation"] = ["" if x or not (isinstance(party.get(i), str) and party.get(i)) else f"{n}{party[i]}"
                          for i, n, x in zip(l3["id"], l3["name"], none3)]
    l3["has_org"] = l3["organisation"].str.len() > 0
    l4 = level("bid", "node3", ["street_id", "community_id", "node3", "bid"])
    l4["name"] = l4["id"].map(nb["name"])
    l4["grid_id"] = l4["id"].map(nb["grid_id"])
    l4["has_org"] = l4["households"] > 0
    l4["organisation"] = [org[4].format(name=n) if h else "" for n, h in zip(l4["name"], l4["has_org"])]
    l5 = l4[l4["households"] > 0].copy()
    n5 = l5["central_designated"].fillna(pd.Series(l5["central_need"], index=l5.index)).astype(int)
    l5["parent"] = l5["id"]
    l5["id"] = l5["id"] + "#central"
    l5["name"] = [org[5].format(n=int(n)) for n in n5]
    l5["organisation"] = l5["name"]
    for f, k in ((l1, 1), (l2, 2), (l3, 3), (l4, 4), (l5, 5)):
        f["level"] = k
    out = pd.concat([l1, l2, l3, l4, l5], ignore_index=True)
    if "grid_id" not in out.columns:
        out["grid_id"] = None
    order = np.lexsort((out["level"].to_numpy(), out["k4"].to_numpy(), out["k3"].to_numpy(), out["k2"].to_numpy(),
                        out["k1"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    out["central_designated"] = out["central_designated"].astype("Int64")
    out = out[["level", "id", "name", "organisation", "has_org", "parent", "grid_id", "households", "persons",
               "party_members", "buildings", "central_need", "central_designated"]]
    out.insert(1, "level_name", out["level"].map(lv))
    if plan is None:
        out = out.drop(columns="grid_id")
    return out


def node_path(chain: pd.DataFrame, node_id: str) -> list[str]:
    """The ids from the root (街道) down to ``node_id`` in a :func:`party_chain` table.

    Raises KeyError for an id that is not in the chain."""
    parent = dict(zip(chain["id"].astype(str), chain["parent"]))
    node_id = str(node_id)
    if node_id not in parent:
        raise KeyError(f"no node {node_id!r} in the chain")
    out = [node_id]
    while isinstance(parent.get(out[-1]), str) and parent[out[-1]] in parent and len(out) < 6:
        out.append(parent[out[-1]])
    return out[::-1]


def node_buildings(chain: pd.DataFrame, node_id: str) -> list[str]:
    """The building ids under a node of a :func:`party_chain` table (a level-4 node is its building,
    a level-5 node the building it belongs to), sorted.

    Raises KeyError for an id that is not in the chain."""
    node_id = str(node_id)
    ids = chain["id"].astype(str).to_numpy()
    level = chain["level"].to_numpy()
    hit = np.flatnonzero(ids == node_id)
    if not len(hit):
        raise KeyError(f"no node {node_id!r} in the chain")
    lv = int(level[hit[0]])
    if lv >= 4:
        return [node_id if lv == 4 else str(chain["parent"].iloc[hit[0]])]
    parents = chain["parent"].astype(object).to_numpy()
    wanted = {node_id}
    for k in range(lv + 1, 5):           # one level at a time: the children of the nodes found so far
        wanted = set(ids[(level == k) & np.isin(parents, list(wanted))])
    return sorted(wanted)
