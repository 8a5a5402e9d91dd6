"""Walking coverage: stations on/off, what-if stations, suggested sites, coverage tables."""
import pandas as pd
import streamlit as st

from app_pages import callbacks as cb
from app_pages import common as c
from app_pages import plans, tables, whatif
from gridplan.webmap import station_kind_label

T = c.T
r = st.session_state
ds = c.require_dataset()
st.header(T("page_coverage"))
c.show_flash()
if not whatif.coverage_available(ds):
    st.info(T("coverage_none"))
    st.stop()
p = plans.plan()

kinds_all = ["red_station", "grid_station", "mobile", "service_center"]
a, b, d = st.columns([2, 1, 1])
r["_cov_kinds"] = list(r["cov_kinds"])
a.multiselect(T("counted_kinds"), kinds_all, key="_cov_kinds", on_change=cb.cb_cov_options,
              format_func=lambda k: station_kind_label(k, c.lang()))
r["_cov_minutes"] = ",".join(f"{m:g}" for m in r["cov_minutes"])
b.text_input(T("minutes"), key="_cov_minutes", on_change=cb.cb_cov_options)
r["_cov_speed"] = float(r["cov_speed"])
d.number_input(T("speed"), 1.0, 8.0, step=0.1, key="_cov_speed", on_change=cb.cb_cov_options)

st_ids = [str(s) for s in ds.stations.index]
st_names = ds.stations["name"].astype(str).to_dict() if "name" in ds.stations.columns else {}
active = r.get("active_stations")
r["_active"] = st_ids if active is None else list(active)
with st.expander(T("stations_on") + f" ({len(r['_active'])}/{len(st_ids)})"):
    st.multiselect(T("stations_on"), st_ids, key="_active", on_change=cb.cb_active, label_visibility="collapsed",
                   format_func=lambda s: f"{st_names.get(s, s)} ({s})")

res = whatif.coverage_result(ds)
s = res.summary()
st.markdown("**" + T("coverage_summary", ch=f"{s['covered_households']:,}", hh=f"{s['households']:,}",
                     pct=f"{s['pct_households'] or 0:.1f}", ub=len(res.uncovered_buildings),
                     sw=s["uncovered_sanwu"]) + "**")
delta = s["covered_households"] - whatif.coverage_result(ds, what_if=False).summary()["covered_households"]
if delta:
    st.caption(T("coverage_delta", sign="+" if delta > 0 else "", d=f"{delta:,}"))

if r.get("added_stations"):
    st.markdown(f"**{T('added_stations')}**: " + ", ".join(c.md(sid) for sid in whatif.added_ids(res)))
    st.button(T("clear_added"), on_click=cb.cb_clear_added, key="clear_added_btn")
st.caption(T("tool_station") + ": " + T("page_map") + " → " + T("tool") + " → " + T("tool_station"))

st.subheader(T("suggest"))
k1, k2 = st.columns([1, 3])
k1.number_input(T("suggest_k"), 1, 20, 3, key="_suggest_k")
k2.button(T("suggest_button"), on_click=cb.cb_suggest, key="suggest_btn")
if r.get("suggested"):
    sg = pd.DataFrame(r["suggested"])
    tables.show(sg[["rank", "gain_households", "cum_households", "road", "compound", "community", "lon", "lat"]],
                hide_index=True, width="stretch")
    st.button(T("suggest_add"), on_click=cb.cb_adopt_suggested, key="adopt_btn")

t1, t2, t3, t4 = st.tabs([T("by_community"), T("by_grid"), T("by_station"), T("uncovered_sanwu")])
with t1:
    tables.show(res.by_community, width="stretch")
if p is not None:
    from gridplan.edit import grid_coverage
    with t2:
        tables.show(grid_coverage(p, res.buildings), width="stretch")
with t3:
    tables.show(res.by_station, width="stretch")
with t4:
    tables.show(res.uncovered_sanwu, width="stretch")
