"""Per-grid figures of a plan: the grid ledger, the grid layer and the plan summary.

Everything is derived from ``(dataset, plan)`` with grouped array sums; polygons come from the
cached building cells (:mod:`gridplan.tessellate`), so an edit re-dissolves only the grids it
changed. The reason a grid is not compliant is diagnosed from the data, not stored in the plan, so
hand-edited plans get the same diagnosis as engine plans.
"""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .adjacency import building_adjacency_coo, grid_components
from .engine import _context, community_rules, necessary_splits, over_bound_buildings
from .i18n import reason as reason_text
from .model import Dataset, Plan, dataset_cache, derived
from .tessellate import community_codes, grid_codes, grid_communities, grid_polygons

__all__ = ["grid_table", "grids", "plan_polygons", "plan_summary", "compound_summary", "REASONS",
           "INFEASIBLE_REASONS", "COLUMNS"]

#: reason codes and their Chinese text (the app shows ``reason_text``); the texts in every language
#: live in :mod:`gridplan.i18n`
_REASON_CODES = ("spans_communities", "not_contiguous", "building_over_bound", "community_too_small",
                 "community_in_gap", "island_too_small", "too_few_households", "too_many_households",
                 "too_few_persons", "too_many_persons")
REASONS: dict[str, str] = {"": "", **{code: reason_text(code, "zh") for code in _REASON_CODES}}

#: reasons that come from the data (no plan could make the grid compliant)
INFEASIBLE_REASONS = frozenset({"building_over_bound", "community_too_small", "community_in_gap",
                                "island_too_small"})

COLUMNS = ["community_id", "households", "balance", "persons", "party_members", "buildings", "compounds_whole",
           "compounds_split", "polsby_popper", "contiguous", "compliant", "rule_met", "reason",
           "reason_text"]


def _community_feasibility(dataset: Dataset, rule) -> tuple[dict, np.ndarray, np.ndarray]:
    """Per community: totals without over-bound buildings and whether k options exist; per
    building: its community-graph component (without over-bound buildings) and whether that
    component is feasible."""
    def compute():
        from scipy.sparse.csgraph import connected_components

        ctx = _context(dataset)
        rules = community_rules(dataset, rule)
        over = over_bound_buildings(dataset, rule)
        comm = ctx.comm
        feas = {}
        for cid in pd.unique(comm):
            m = (comm == cid) & ~over
            H, P = float(ctx.h[m].sum()), float(ctx.p[m].sum())
            feas[cid] = (H, P, bool(rules[cid].k_options(H, P)))
        keep = np.flatnonzero(~over)
        A = ctx.A[keep][:, keep]
        _, lab = connected_components(A, directed=False)
        comp = np.full(len(comm), -1)
        comp[keep] = lab
        ch = np.bincount(lab, ctx.h[keep]) if len(keep) else np.zeros(0)
        cp = np.bincount(lab, ctx.p[keep]) if len(keep) else np.zeros(0)
        # a component lies in one community (buildings never connect across communities)
        first = np.full(len(ch), -1)
        first[lab[::-1]] = keep[::-1]
        comp_ok = np.array([bool(rules[comm[f]].k_options(a, b)) for a, b, f in zip(ch, cp, first)], dtype=bool)
        return feas, comp, comp_ok
    return dataset_cache(dataset, f"feasibility:{sorted(rule.as_dict().items())}", compute)


def _table(dataset: Dataset, plan: Plan) -> pd.DataFrame:
    ctx = _context(dataset)
    rule = plan.rule
    codes, uniques = grid_codes(dataset, plan)
    ng = len(uniques)
    b = dataset.buildings
    pm = (pd.to_numeric(b["party_members"], errors="coerce").fillna(0).to_numpy(dtype=float)
          if "party_members" in b.columns else np.zeros(len(b)))
    H = np.bincount(codes, ctx.h, minlength=ng)
    P = np.bincount(codes, ctx.p, minlength=ng)
    PM = np.bincount(codes, pm, minlength=ng)
    NB = np.bincount(codes, minlength=ng)
    # community of each grid (the one holding most of its buildings; a tie: the first by id) and
    # whether it spans several
    main_c, ncomm = grid_communities(dataset, plan)            # per grid: most buildings, then id
    community = np.asarray(community_codes(dataset)[1], dtype=object)[main_c]
    # compounds (per community piece) whole or split
    comp = ctx.compound
    has = comp >= 0
    whole = np.zeros(ng, dtype=int)
    split = np.zeros(ng, dtype=int)
    if has.any():
        cgk = np.unique(comp[has] * ng + codes[has])            # (compound, grid) pairs
        cc, gg = cgk // ng, cgk % ng
        nparts = np.bincount(cc)[cc]
        whole = np.bincount(gg[nparts == 1], minlength=ng)
        split = np.bincount(gg[nparts > 1], minlength=ng)
    # contiguity on the adjacency graph
    pieces = grid_components(building_adjacency_coo(dataset), codes) if len(codes) else np.zeros(0, int)
    contiguous = pieces <= 1
    # compactness
    polygons = plan_polygons(dataset, plan)
    geom = polygons.geometry.reindex([str(u) for u in uniques]).to_numpy()
    area = shapely.area(geom)
    perim = shapely.length(geom)
    with np.errstate(divide="ignore", invalid="ignore"):
        pp = np.where(perim > 0, 4 * math.pi * area / perim ** 2, 0.0)
    h_ok = rule.households_ok(H)
    p_ok = rule.persons_ok(P)
    meets = rule.meets(H, P)
    single = ncomm <= 1
    compliant = meets & contiguous & single
    rule_met = np.where(h_ok & p_ok, "both", np.where(h_ok, "households", np.where(p_ok, "persons", "")))
    reason = _reasons(dataset, plan, codes, ng, H, P, compliant, contiguous, single, main_c)
    df = pd.DataFrame({
        "community_id": community,
        "households": H.round().astype(np.int64),
        # households above (+) or below (−) the middle of the rule's range: how far from balanced
        "balance": np.round(H - (rule.min_households + rule.max_households) / 2.0).astype(np.int64),
        "persons": P.round().astype(np.int64),
        "party_members": PM.round().astype(np.int64),
        "buildings": NB.astype(np.int64),
        "compounds_whole": whole.astype(np.int64),
        "compounds_split": split.astype(np.int64),
        "polsby_popper": pp.astype(float),
        "contiguous": contiguous.astype(bool),
        "compliant": compliant.astype(bool),
        "rule_met": rule_met,
        "reason": reason,
    }, index=pd.Index([str(u) for u in uniques], name="grid_id"))
    df["reason_text"] = [REASONS.get(r, "") for r in reason]
    return df[COLUMNS]


def _reasons(dataset, plan, codes, ng, H, P, compliant, contiguous, single, main_c) -> np.ndarray:
    """The reason code of every grid (``''`` when compliant); ``main_c``: each grid's community code."""
    rule = plan.rule
    out = np.full(ng, "", dtype=object)
    bad = np.flatnonzero(~compliant)
    if len(bad) == 0:
        return out
    cf, cu = community_codes(dataset)
    over = over_bound_buildings(dataset, rule)
    has_over = np.bincount(codes[over], minlength=ng) > 0
    feas, comp, comp_ok = _community_feasibility(dataset, rule)
    rules = community_rules(dataset, rule)
    # buildings that are not over the bound: per community, per grid and per component (island)
    keep = ~over
    comm_n = np.bincount(cf[keep], minlength=len(cu))
    grid_n = np.bincount(codes[keep], minlength=ng)
    comp_sizes = np.bincount(comp[keep]) if keep.any() else np.zeros(0, int)
    # per failing grid: its one component and how many of its buildings are there (-1: several)
    in_bad = keep & ~compliant[codes]
    nk = max(len(comp_sizes), 1)
    pair, cnt = np.unique(codes[in_bad].astype(np.int64) * nk + comp[in_bad], return_counts=True)
    pg = pair // nk
    one = np.bincount(pg, minlength=ng)[pg] == 1
    only = np.full(ng, -1, dtype=np.int64)
    only_n = np.zeros(ng, dtype=np.int64)
    only[pg[one]], only_n[pg[one]] = pair[one] % nk, cnt[one]
    for g in bad.tolist():
        if not single[g]:
            out[g] = "spans_communities"
        elif not contiguous[g]:
            out[g] = "not_contiguous"
        elif has_over[g]:
            out[g] = "building_over_bound"
        else:
            # one community: the grid holds all of its (not over-bound) buildings, or all of a component
            cid = cu[main_c[g]]
            H_c, P_c, ok_c = feas.get(cid, (0, 0, True))
            whole_comm = 0 < grid_n[g] == comm_n[main_c[g]]
            kk = int(only[g])
            if not ok_c and whole_comm:
                out[g] = "community_too_small" if rules[str(cid)].too_small(H_c, P_c) else "community_in_gap"
            elif kk >= 0 and only_n[g] == comp_sizes[kk] and not comp_ok[kk]:
                out[g] = "island_too_small"
            else:
                out[g] = rule.size_reason(H[g], P[g])
    return out


def grid_table(dataset: Dataset, plan: Plan) -> pd.DataFrame:
    """The grid ledger: one row per grid.

    Returns
    -------
    DataFrame
        Indexed by ``grid_id``, with ``community_id``, ``households``, ``balance`` (households
        above (+) or below (−) the middle of the rule's household range), ``persons``,
        ``party_members``, ``buildings``, ``compounds_whole``, ``compounds_split``,
        ``polsby_popper`` (4πA/P² of the grid polygon), ``contiguous``, ``compliant``,
        ``rule_met`` (``households``/``persons``/``both``/``''``), ``reason`` (a code, ``''`` when
        compliant; see :data:`REASONS`) and ``reason_text`` (Chinese).

    Computed once per (dataset, plan); each call returns its own copy.
    """
    return derived(dataset, plan, "grid_table", lambda: _table(dataset, plan)).copy(deep=False)


def grids(dataset: Dataset, plan: Plan) -> gpd.GeoDataFrame:
    """The grid layer: grid polygons joined with :func:`grid_table` (metric CRS).

    Adds ``note`` (the Chinese reason, empty when compliant). Computed once per (dataset, plan).
    """
    def compute():
        table = grid_table(dataset, plan)
        polys = plan_polygons(dataset, plan)
        gdf = gpd.GeoDataFrame(table, geometry=polys.geometry.reindex(table.index).to_numpy(), crs=dataset.crs)
        gdf["note"] = gdf["reason_text"]
        gdf.index.name = "grid_id"
        return gdf
    return derived(dataset, plan, "grids", compute).copy(deep=False)


def plan_polygons(dataset: Dataset, plan: Plan) -> gpd.GeoDataFrame:
    """:func:`gridplan.tessellate.grid_polygons` of a plan, computed once per (dataset, plan)."""
    return derived(dataset, plan, "grid_polygons", lambda: grid_polygons(dataset, plan)).copy(deep=False)


def compound_summary(dataset: Dataset, plan: Plan) -> pd.DataFrame:
    """Per community, the compounds that fit in a grid and whether the plan keeps them whole.

    Returns
    -------
    DataFrame
        Indexed by ``community_id``: ``compounds`` (compounds with buildings there),
        ``fitting_compounds`` (of at least two buildings, not over the rule's upper bound as the
        community is judged: :meth:`Rule.effective`), ``compounds_split`` (fitting compounds
        whose buildings lie in more than one grid) and ``compounds_split_necessary`` (of those,
        how many the engine's compound check proves any compliant partition must split:
        :func:`gridplan.engine.necessary_splits`).
    """
    ctx = _context(dataset)
    rules = community_rules(dataset, plan.rule)
    comm = ctx.comm
    uniq = sorted(pd.unique(comm).tolist())
    comp = ctx.compound
    has = comp >= 0
    a = plan.assignment.reindex(ctx.ids).to_numpy()
    out = pd.DataFrame(0, index=pd.Index(uniq, name="community_id"),
                       columns=["compounds", "fitting_compounds", "compounds_split", "compounds_split_necessary"])
    if has.any():
        df = pd.DataFrame({"c": comp[has], "comm": comm[has], "g": a[has], "h": ctx.h[has], "p": ctx.p[has]})
        per = df.groupby("c").agg(comm=("comm", "first"), h=("h", "sum"), p=("p", "sum"), n=("g", "size"),
                                   grids=("g", "nunique"))
        fits = np.array([(n >= 2) and not bool(rules[cm].over_bound(h, p))
                         for cm, h, p, n in zip(per["comm"], per["h"], per["p"], per["n"])], dtype=bool)
        per["fits"] = fits
        per["split"] = fits & (per["grids"].to_numpy() > 1)
        agg = per.groupby("comm").agg(compounds=("fits", "size"), fitting_compounds=("fits", "sum"),
                                      compounds_split=("split", "sum"))
        out.loc[agg.index, ["compounds", "fitting_compounds", "compounds_split"]] = agg.to_numpy(dtype=np.int64)
        hit = out.index[out["compounds_split"] > 0].tolist()
        if hit:
            nec = necessary_splits(dataset, plan.rule, communities=hit)
            for c in hit:
                out.loc[c, "compounds_split_necessary"] = min(int(out.loc[c, "compounds_split"]), int(nec.get(c, 0)))
    return out.astype(np.int64)


def plan_summary(dataset: Dataset, plan: Plan) -> dict:
    """Headline figures of a plan (the JSON of ``gridplan partition``, without ``seconds``).

    ``compounds_split`` counts the compounds that fit in a grid but lie in more than one
    (compounds larger than a grid are always split and are not counted), and
    ``compounds_split_necessary`` those of them the compound check proves unavoidable;
    ``communities`` gives both per community (see :func:`compound_summary`).
    """
    t = grid_table(dataset, plan)
    reasons = t.loc[t["reason"] != "", "reason"].value_counts().sort_index()
    ctx = _context(dataset)
    comp = ctx.compound
    split_total = int((t["compounds_split"] > 0).sum())
    n_comp_pieces = int(len(np.unique(comp[comp >= 0]))) if (comp >= 0).any() else 0
    cs = compound_summary(dataset, plan)
    return {
        "grids": int(len(t)),
        "compliant_grids": int(t["compliant"].sum()),
        "infeasible_grids": int(t["reason"].isin(INFEASIBLE_REASONS).sum()),
        "noncompliant_grids": int((~t["compliant"]).sum()),
        "contiguous_grids": int(t["contiguous"].sum()),
        "households": int(t["households"].sum()),
        "persons": int(t["persons"].sum()),
        "buildings": int(t["buildings"].sum()),
        "compounds": n_comp_pieces,
        "fitting_compounds": int(cs["fitting_compounds"].sum()),
        "compounds_split": int(cs["compounds_split"].sum()),
        "compounds_split_necessary": int(cs["compounds_split_necessary"].sum()),
        "grids_with_split_compounds": split_total,
        "mean_polsby_popper": float(t["polsby_popper"].mean()) if len(t) else 0.0,
        "reasons": {str(k): int(v) for k, v in reasons.items()},
        "rule": plan.rule.as_dict(),
        "communities": {str(c): {k: int(v) for k, v in row.items()} for c, row in cs.iterrows()},
    }
