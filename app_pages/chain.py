"""The party chain (党建链条, issue 15): grid staff, a 郁心站 in every grid, 流动郁心站 by weekday,
党员中心户, 三无 → 三有 progress and the five-level chain, with the map beside them.

Thin: the figures come from the library through :mod:`app_pages.partychain`; this file lays them out.
"""
import pandas as pd
import streamlit as st

from app_pages import auth, mapview, plans, tables, whatif
from app_pages import common as c
from app_pages import partychain as pc
from gridplan import i18n
from gridplan.mobile import WEEKDAY_KEYS, weekday_label
from gridplan.sanwu import timeline_labels

T = c.T
r = st.session_state
viewer = auth.is_viewer()          # read-only, and no per-building counts
ds = c.require_dataset()
pc.init()
st.header(T("page_chain"))
h = plans.history(wait=True)
if h is None:
    st.info(T("no_plan"))
    st.stop()
p = h.current
staff = pc.staff(ds, h)
gs = pc.grid_stations(ds, p)
mob, mob_why = pc.mobile(ds, p)
need = pc.need(ds, p)
ch = pc.chain(ds, p)
day = int(r["pc_weekday"])
L = c.lang()


def _copy(src, dst):
    r[dst] = r[src]


# --- the map (left) and the chain tree (right)
left, right = st.columns([3, 2], gap="medium")
with left:
    layers = {"staff": staff}
    res = whatif.coverage_result(ds)
    shown = whatif.shown_stations(ds, res)
    if mob is not None and shown is not None and "kind" in shown.columns:
        open_today = set(mob.schedule.loc[mob.schedule["weekday"] == day, "station_id"].astype(str))
        keep = ~shown["kind"].astype(str).eq("mobile").to_numpy() | shown.index.astype(str).isin(open_today)
        layers["stations"] = shown[keep]
    if gs is not None and len(gs[1]):
        sug = gs[1].copy()
        sug["grid_id"], sug["kind"] = sug.index.astype(str), "grid_station"
        layers["suggested"] = sug
    node_b = pc.node_buildings(ds, p)
    if r.get("pc_show_reach") and mob is not None:
        b = mob.by_building
        layers["selection"] = b.index[b[WEEKDAY_KEYS[day - 1]].to_numpy(dtype=bool)].tolist() or None
    elif node_b:
        layers["selection"] = node_b
        if len(node_b) == 1:
            layers["selected_grid"] = p.assignment.get(node_b[0])
    mapview.render_map(ds, p, layers=layers, editable=False)
    st.caption(T("pc_map_hint"))

with right:
    c.show_flash()
    st.subheader(T("pc_tree"))
    levels = ch.groupby("level").agg(n=("id", "size"), org=("has_org", "sum"))
    top = ch[ch["level"] == 1]
    summary = pd.DataFrame({
        T("pc_level"): [i18n.t(f"chain_level_{k}", L) for k in ("street", "community", "compound", "building", "central")],
        T("pc_nodes"): [int(levels.at[k, "n"]) if k in levels.index else 0 for k in range(1, 6)],
        T("pc_with_org"): [int(levels.at[k, "org"]) if k in levels.index else 0 for k in range(1, 6)],
    })
    st.dataframe(summary, hide_index=True, width="stretch", key="pc_levels")
    st.caption(T("pc_totals", hh=f"{int(top['households'].sum()):,}", pp=f"{int(top['persons'].sum()):,}",
                 pm=f"{int(top['party_members'].sum()):,}", need=f"{int(top['central_need'].sum()):,}"))
    node = r.get("pc_node")
    by_id = ch.set_index("id")
    if node is not None and node not in by_id.index:
        node = None
    from gridplan.chain import node_path
    path = node_path(ch, node) if node else []
    crumbs = st.columns(len(path) + 1)
    crumbs[0].button(T("pc_root"), key="pc_crumb_root", on_click=pc.cb_node, args=(None,), width="stretch")
    for k, nid in enumerate(path):
        crumbs[k + 1].button(c.md(by_id.at[nid, "name"]), key=f"pc_crumb_{k}", on_click=pc.cb_node, args=(nid,),
                             width="stretch", type="primary" if nid == node else "secondary")
    if node:
        row = by_id.loc[node]
        st.markdown(f"**{c.md(row['level_name'])}** · {c.md(row['organisation'] or row['name'])}")
        m = st.columns(4)
        m[0].metric(T("col_households"), f"{int(row['households']):,}")
        m[1].metric(T("col_party"), f"{int(row['party_members']):,}")
        m[2].metric(T("col_buildings"), f"{int(row['buildings']):,}")
        m[3].metric(T("pc_central_need"), f"{int(row['central_need']):,}")
    kids = ch[ch["parent"] == node] if node else top
    if len(kids):
        st.markdown(f"**{T('pc_children', level=c.md(kids['level_name'].iloc[0]), n=len(kids))}**")
        shown_kids = kids.head(60)
        cols = st.columns(2)
        for k, (_, kr) in enumerate(shown_kids.iterrows()):
            cols[k % 2].button(f"{c.md(kr['name'])} · {int(kr['households'])}{T('pc_hh')}", key=f"pc_node_{kr['id']}",
                               on_click=pc.cb_node, args=(kr["id"],), width="stretch")
        if len(kids) > len(shown_kids):
            ids = kids["id"].tolist()
            names = dict(zip(kids["id"], kids["name"]))
            st.selectbox(T("pc_more_nodes", n=len(kids) - len(shown_kids)), ids[len(shown_kids):], key="_pc_more",
                         format_func=lambda x: str(names.get(x, x)))
            st.button(T("pc_show_node"), key="pc_more_btn", on_click=lambda: pc.cb_node(r.get("_pc_more")))
        cols_kt = ["name", "organisation", "households", "persons", "party_members", "buildings", "central_need"]
        if viewer and (kids["level"] >= 4).any():         # buildings and 党员中心户: no per-building counts
            cols_kt = ["name", "organisation"]
        kt = kids[cols_kt]
        st.dataframe(kt.rename(columns={"name": T("pc_name"), "organisation": T("pc_org"),
                                        "central_need": T("pc_central_need")}).pipe(tables.localized),
                     hide_index=True, width="stretch", key="pc_children_table")

t_staff, t_gs, t_mob, t_central, t_sanwu = st.tabs([T("pc_tab_staff"), T("pc_tab_gs"), T("pc_tab_mobile"),
                                                     T("pc_tab_central"), T("pc_tab_sanwu")])

# --- grid staff
with t_staff:
    cur = r.get("pc_staff")
    st.caption(T("pc_staff_source", name=c.md(cur["name"])) if cur else T("pc_staff_none"))
    u1, u2 = st.columns([3, 1])
    u1.file_uploader(T("pc_staff_upload"), type=pc.STAFF_TYPES, key="_pc_staff_file")
    u2.button(T("pc_staff_load"), on_click=pc.cb_staff_upload, key="pc_staff_load_btn")
    if r.get("pc_staff_problems"):
        tables_frame = tables.problems_frame(r["pc_staff_problems"])
        st.dataframe(tables_frame, hide_index=True, width="stretch")
    if staff is not None:
        s1, s2 = st.columns(2)
        r["_pc_max_grids"] = int(r["pc_max_grids"])
        s1.number_input(T("pc_max_grids"), 1, 20, key="_pc_max_grids", on_change=_copy, args=("_pc_max_grids", "pc_max_grids"))
        r["_pc_show_phones"] = bool(r["pc_show_phones"])
        s2.toggle(T("pc_show_phones"), key="_pc_show_phones", on_change=_copy, args=("_pc_show_phones", "pc_show_phones"),
                  disabled=viewer)
        checks = staff.check(p, max_grids_per_leader=int(r["pc_max_grids"]), lang=L)
        wg = staff.without_grid()
        m = st.columns(4)
        m[0].metric(T("pc_no_leader"), int((checks["code"] == "no_leader").sum()))
        m[1].metric(T("pc_several_leaders"), int((checks["code"] == "several_leaders").sum()))
        m[2].metric(T("pc_over_max"), int((checks["code"] == "too_many_grids").sum()))
        m[3].metric(T("pc_without_grid"), int(len(wg)))
        # assign by picking: a person, a grid (and the role), then assign / move / remove
        persons = staff.persons()
        roles = {k: i18n.t(f"pc_role_{k}", L) for k in ("leader", "full_time", "part_time")}
        a1, a2, a3 = st.columns(3)
        pid = a1.selectbox(T("pc_person"), persons.index.tolist(), key="_pc_person",
                           format_func=lambda x: f"{persons.at[x, 'name']} · {roles.get(persons.at[x, 'role'], '')}"
                                                 f" · {persons.at[x, 'grids'] or T('pc_no_grid')}")
        a2.selectbox(T("pc_grid"), p.grid_ids, key="_pc_grid")
        if pid is not None and r.get("_pc_role_for") != pid:       # a new person: their role by default
            r["_pc_role"], r["_pc_role_for"] = persons.at[pid, "role"], pid
        a3.selectbox(T("pc_role"), list(roles), key="_pc_role", format_func=lambda k: roles[k])
        mine = [g for g in (persons.at[pid, "grids"].split(",") if pid is not None else []) if g]
        b1, b2, b3, b4 = st.columns([1.2, 1.2, 1.2, 1.2])
        b1.button(T("pc_assign"), on_click=pc.cb_assign, key="pc_assign_btn", type="primary", width="stretch",
                  disabled=viewer)
        b2.selectbox(T("pc_from"), mine, key="_pc_from", label_visibility="collapsed", placeholder=T("pc_from"))
        b3.button(T("pc_reassign"), on_click=pc.cb_reassign, key="pc_reassign_btn", disabled=viewer or not mine, width="stretch")
        b4.button(T("pc_unassign"), on_click=pc.cb_unassign, key="pc_unassign_btn", disabled=viewer or not mine, width="stretch")
        gstaff = staff.grid_staff(p.grid_ids, include_personal=bool(r["pc_show_phones"]) and not viewer,
                                  sep="、" if L == "zh" else ", ")
        st.markdown(f"**{T('pc_grid_staff')}**")
        tables.show(gstaff.reset_index(), hide_index=True, width="stretch", key="pc_grid_staff")
        if len(checks):
            st.markdown(f"**{T('pc_checks')}**")
            st.dataframe(pd.DataFrame({T("pc_check"): [i18n.t(f"violation_{k}", L) for k in checks["code"]],
                                       T("col_grid"): checks["grid_id"].fillna(""),
                                       T("pc_message"): checks["message"]}),
                         hide_index=True, width="stretch", key="pc_checks")
        if len(wg):
            st.markdown(f"**{T('pc_without_grid')}**")
            st.dataframe(pd.DataFrame({T("pc_name"): wg["name"], T("pc_role"): wg["role"].map(roles),
                                       T("pc_previous_grid"): wg["previous_grid_id"].fillna(""),
                                       T("pc_reason"): [T(f"pc_reason_{x}") for x in wg["reason"]]}),
                         hide_index=True, width="stretch", key="pc_without")

# --- a 郁心站 in every grid
with t_gs:
    if gs is None:
        st.info(T("coverage_none"))
    else:
        status, sug = gs
        r["_pc_within_m"] = float(r["pc_within_m"])
        st.number_input(T("pc_within_m"), 0.0, 5000.0, step=50.0, key="_pc_within_m", on_change=_copy,
                        args=("_pc_within_m", "pc_within_m"))
        from gridplan.gridstations import grid_station_coverage
        res = whatif.coverage_result(ds)
        band = min(res.minutes)                 # the short walk a 郁心站 in every grid is for
        now = grid_station_coverage(res, band)
        before = grid_station_coverage(whatif.coverage_result(ds, what_if=False), band)
        m = st.columns(3)
        m[0].metric(T("pc_gs_missing"), f"{int((~status['has_station']).sum())} / {len(status)}")
        d = now["covered_households"] - before["covered_households"]
        m[1].metric(T("pc_gs_covered", m=f"{now['minutes']:g}"), f"{now['covered_households']:,}",
                    delta=f"{d:+,}" if d else None)
        m[2].metric(T("pc_gs_stations"), now["stations"])
        if len(sug):
            g1, g2, g3 = st.columns([2, 1, 1])
            g1.selectbox(T("pc_gs_grid"), sug.index.tolist(), key="_pc_gs_grid",
                         format_func=lambda g: T("pc_gs_option", grid=g, m=f"{sug.at[g, 'mean_walk_m']:.0f}"))
            g2.button(T("pc_gs_adopt"), on_click=pc.cb_adopt_one, key="pc_gs_adopt_btn", type="primary", width="stretch")
            g3.button(T("pc_gs_adopt_all", n=len(sug)), on_click=pc.cb_adopt_all, key="pc_gs_adopt_all_btn",
                      width="stretch")
            tables.show(pd.DataFrame(sug.drop(columns="geometry")).reset_index()[
                ["grid_id", "building_id", "mean_walk_m", "max_walk_m", "households", "centre_excess_pct"]]
                .rename(columns={"max_walk_m": T("pc_max_walk"), "centre_excess_pct": T("pc_centre_excess")}),
                hide_index=True, width="stretch", key="pc_gs_table")
        else:
            st.success(T("pc_gs_all"))

# --- 流动郁心站
with t_mob:
    if mob is None:
        st.info(mob_why)
    else:
        r["_pc_weekday"] = day
        st.radio(T("pc_weekday"), list(range(1, 8)), key="_pc_weekday", horizontal=True, on_change=_copy,
                 args=("_pc_weekday", "pc_weekday"), format_func=lambda k: weekday_label(k, L))
        r["_pc_show_reach"] = bool(r["pc_show_reach"])
        st.toggle(T("pc_show_reach"), key="_pc_show_reach", on_change=_copy, args=("_pc_show_reach", "pc_show_reach"))
        bw = mob.by_weekday
        m = st.columns(3)
        m[0].metric(T("pc_mob_open", day=weekday_label(day, L)), int(bw.at[day, "stations"]))
        m[1].metric(T("pc_mob_reached", day=weekday_label(day, L), m=f"{mob.minutes:g}"), f"{int(bw.at[day, 'households']):,}")
        m[2].metric(T("pc_mob_any"), f"{mob.summary()['households_any']:,}")
        st.dataframe(pd.DataFrame({T("pc_weekday"): [weekday_label(k, L) for k in bw.index],
                                   T("pc_mob_stations"): bw["stations"].to_numpy(),
                                   T("col_households"): bw["households"].to_numpy()}),
                     hide_index=True, width="stretch", key="pc_mob_week")
        bs = mob.by_station
        today = bs[bs.index.isin(set(mob.schedule.loc[mob.schedule["weekday"] == day, "station_id"].astype(str)))]
        tables.show(today[["name", "windows", "buildings", "households"]].reset_index(), hide_index=True,
                    width="stretch", key="pc_mob_today")
        if mob.by_grid is not None:
            key = WEEKDAY_KEYS[day - 1]
            g = mob.by_grid[mob.by_grid[key] > 0][["households", key]].rename(
                columns={key: T("pc_mob_reached", day=weekday_label(day, L), m=f"{mob.minutes:g}")})
            st.markdown(f"**{T('pc_mob_grids')}**")
            tables.show(g.reset_index(), hide_index=True, width="stretch", key="pc_mob_grids")

# --- 党员中心户
with t_central:
    r["_pc_per"] = int(r["pc_per"])
    st.number_input(T("pc_per"), 1, 100, key="_pc_per", on_change=_copy, args=("_pc_per", "pc_per"))
    sm = need.summary()
    m = st.columns(4)
    m[0].metric(T("pc_central_need"), f"{sm['need']:,}")
    m[1].metric(T("pc_grids_short"), f"{sm.get('grids_short', 0)} / {sm.get('grids', 0)}")
    m[2].metric(T("pc_buildings_short"), f"{sm['buildings_short']:,}")
    m[3].metric(T("pc_shortfall"), f"{sm['shortfall_buildings']:,}")
    st.markdown(f"**{T('pc_central_grids')}**")
    tables.show(need.grids[["households", "party_members", "need", "shortfall", "met", "buildings_short"]]
                .rename(columns={"need": "central_need", "shortfall": "central_shortfall", "met": "central_met"})
                .reset_index(), hide_index=True, width="stretch", key="pc_central_grids")
    st.markdown(f"**{T('pc_central_short')}**")
    sb = need.short_buildings
    if viewer:
        st.info(T("auth_read_only"))
    else:
        tables.show(sb[["grid_id", "compound_id", "households", "party_members", "need", "shortfall"]]
                    .rename(columns={"need": "central_need", "shortfall": "central_shortfall"}).reset_index(),
                    hide_index=True, width="stretch", key="pc_central_short")

# --- 三无 → 三有
with t_sanwu:
    d0 = pc.since_default(ds)
    if d0 is None:
        st.info(T("pc_sanwu_none"))
    else:
        if r.get("pc_since") is None:
            r["pc_since"] = d0
        r["_pc_since"] = r["pc_since"]
        st.date_input(T("pc_since"), key="_pc_since", on_change=_copy, args=("_pc_since", "pc_since"))
        pr, tl = pc.sanwu(ds, r["pc_since"])
        a = pr.attrs
        m = st.columns(4)
        m[0].metric(T("pc_sanwu_since", since=a["since"]), a["sanwu_since"])
        m[1].metric(T("pc_sanwu_became"), a["became_sanyou"])
        m[2].metric(T("pc_sanwu_remain"), a["remain"])
        m[3].metric(T("pc_sanwu_red"), a["red_property"])
        labels = {k: i18n.t(f"sanwu_status_{k}", L) for k in ("sanyou", "partial", "sanwu")}
        chart = tl[["sanyou", "partial", "sanwu"]].rename(columns=labels)
        chart.index = pd.Index(timeline_labels(chart.index), name=T("pc_month"))
        st.bar_chart(chart, stack=True, color=["#1a9850", "#fee08b", "#d95f0e"], y_label=i18n.t("sanwu_chart_y", L))
        cohort = pr[pr["status_since"] == "sanwu"]
        cohort = cohort.rename(columns={"status_text": T("pc_status_now")})
        cols = ["name", "community_id", T("pc_status_now"), "red_property", "property_company"]
        st.markdown(f"**{T('pc_sanwu_remaining')}**")
        tables.show(cohort[cohort["status_now"] == "sanwu"][cols].reset_index(), hide_index=True, width="stretch",
                    key="pc_sanwu_remain_table")
        st.markdown(f"**{T('pc_sanwu_red_list')}**")
        tables.show(cohort[cohort["red_property"]][cols].reset_index(), hide_index=True, width="stretch",
                    key="pc_sanwu_red_table")
