"""The five-level party chain and the 党员中心户 need, on the documented tiny city (hand-checkable)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridplan import ValidationError
from gridplan.chain import central_household_need, party_chain
from gridplan.io import read_dataset
from gridplan.model import Plan
from gridplan.sample import tiny_city

A, B = "510682001001", "510682001002"


@pytest.fixture(scope="module")
def tiny():
    layers = tiny_city()
    b = layers["buildings"].copy()
    # 党员中心户 designated by a roster in three buildings (Chinese header, as a roster import writes it)
    b["党员中心户"] = pd.array([5, None, 3, None, None, None, None, None, None, None, None, None, 4], dtype="Int64")
    layers["buildings"] = b
    ds = read_dataset(layers, name="tiny")
    plan = Plan(pd.Series(np.where(ds.buildings["community_id"] == A, "GA", "GB"), index=ds.buildings.index))
    return ds, plan


def test_need_against_party_members_by_hand(tiny):
    """15 households per 党员中心户: 100 households need 7 (5 party members: 2 short), 150 need 10 (8: 2
    short), 50 need 4 (2: 2 short), 80 need 6 (4: 2 short), 70 need 5 (3: 2 short), 60 need 4 (3: 1 short).
    Grids: 阳光 900 households need 60 against 44 party members; 雍城 220 need 15 against 11."""
    ds, plan = tiny
    c = central_household_need(ds, plan)
    b = c.buildings
    assert b.loc["B01", ["households", "need", "available", "shortfall", "met"]].tolist() == [100, 7, 5, 2, False]
    assert b.loc["B04", ["need", "available", "shortfall"]].tolist() == [10, 8, 2]
    assert b.loc["B06", ["need", "available", "shortfall"]].tolist() == [4, 2, 2]
    assert b.loc["B13", ["need", "available", "shortfall"]].tolist() == [4, 3, 1]
    assert len(c.short_buildings) == 13
    g = c.grids
    assert g.loc["GA", ["households", "need", "available", "shortfall", "met"]].tolist() == [900, 60, 44, 16, False]
    assert g.loc["GB", ["households", "need", "available", "shortfall"]].tolist() == [220, 15, 11, 4]
    assert g.loc["GA", "buildings_short"] == 10 and g.loc["GA", "need_of_buildings"] == 3 * 7 + 2 * 10 + 3 * 4 + 6 + 5
    # 50 households per 党员中心户: every building and grid can be served
    c50 = central_household_need(ds, plan, households_per_central=50)
    assert c50.buildings.loc["B01", "need"] == 2 and c50.short_buildings.empty and c50.short_grids.empty
    assert c50.grids.loc["GA", "need"] == 18
    with pytest.raises(ValueError):
        central_household_need(ds, plan, households_per_central=0)


def test_designated_central_households_are_read(tiny):
    ds, plan = tiny
    b = central_household_need(ds, plan).buildings
    assert b.loc["B01", "designated"] == 5 and b.loc["B01", "designated_gap"] == 2
    assert b.loc["B03", "designated"] == 3 and b.loc["B13", "designated_gap"] == 0
    assert pd.isna(b.loc["B02", "designated"]) and pd.isna(b.loc["B02", "designated_gap"])
    g = central_household_need(ds, plan).grids
    assert g.loc["GA", "designated"] == 8 and g.loc["GB", "designated"] == 4
    # without the column, nothing is known; with a negative count the dataset does not load
    plain = read_dataset(tiny_city())
    assert central_household_need(plain).buildings["designated"].isna().all()
    bad = tiny_city()
    bad["buildings"]["central_households"] = [-1] + [0] * 12
    with pytest.raises(ValidationError, match="central_households"):
        read_dataset(bad)


def test_party_chain_has_five_levels_and_consistent_counts(tiny):
    ds, plan = tiny
    pc = party_chain(ds, plan)
    assert list(pc.columns[:8]) == ["level", "level_name", "id", "name", "organisation", "has_org", "parent", "grid_id"]
    by = pc.set_index("id")
    assert pc["level"].value_counts().sort_index().tolist() == [1, 2, 6, 13, 13]  # street, 2 comm., 4+2 compounds
    assert by.loc["510682001", ["level_name", "organisation", "households", "party_members"]].tolist() == \
        ["街道党工委", "方亭街道党工委", 1120, 55]
    assert by.loc[A, "organisation"] == "阳光社区党组织" and by.loc[A, "parent"] == "510682001"
    assert by.loc["C1", "organisation"] == "蓥华小区独立党支部" and by.loc["C2", "organisation"] == ""
    assert not by.loc["C2", "has_org"]
    assert by.loc[f"{A}/-", "name"] == "（不属于小区的楼栋）" and by.loc["B09", "parent"] == f"{A}/-"
    assert by.loc["B01", "organisation"].endswith("党小组") and by.loc["B01", "grid_id"] == "GA"
    assert by.loc["B01#central", "parent"] == "B01" and by.loc["B01#central", "name"] == "党员中心户 ×5"  # designated
    assert by.loc["B02#central", "name"] == "党员中心户 ×7"  # not designated: the need
    # every node's households are the sum of its children's (levels 1–4)
    kids = pc[pc["level"].between(2, 4)].groupby("parent")["households"].sum()
    for pid, h in kids.items():
        assert by.loc[pid, "households"] == h, pid
    assert by.loc["510682001", "central_need"] == central_household_need(ds).buildings["need"].sum()
    assert by.loc[A, "central_designated"] == 8 and pd.isna(by.loc["C2", "central_designated"])
    # depth first: every row's parent comes before it
    seen = set()
    for _, r in pc.iterrows():
        assert r["parent"] is None or r["parent"] in seen
        seen.add(r["id"])
    en = party_chain(ds, lang="en")
    assert "grid_id" not in en.columns and en.loc[0, "level_name"] == "Street working committee"


def test_node_path_and_buildings_follow_the_tree(tiny):
    from gridplan.chain import node_buildings, node_path
    ds, plan = tiny
    ch = party_chain(ds, plan)
    b = ds.buildings
    # a community holds exactly the buildings of that community; a street every building
    assert node_buildings(ch, A) == sorted(b.index[b["community_id"] == A].astype(str))
    assert (ch["level"] == 1).sum() == 1                           # the tiny city has one street
    assert node_buildings(ch, ch.loc[ch["level"] == 1, "id"].iloc[0]) == sorted(b.index.astype(str))
    # a compound holds its buildings (from the buildings layer, not from the tree code)
    comp = b["compound_id"].dropna().astype(str).iloc[0]
    assert node_buildings(ch, comp) == sorted(b.index[b["compound_id"].astype(str) == comp].astype(str))
    bid = str(b.index[b["compound_id"].astype(str) == comp][0])
    assert node_buildings(ch, bid) == [bid] and node_buildings(ch, f"{bid}#central") == [bid]
    # the path runs street → community → compound → building → 党员中心户
    path = node_path(ch, f"{bid}#central")
    assert path[1:] == [str(b.at[bid, "community_id"]), comp, bid, f"{bid}#central"]
    assert ch.set_index("id").loc[path, "level"].tolist() == [1, 2, 3, 4, 5]
    with pytest.raises(KeyError):
        node_buildings(ch, "nope")
