"""The planner's main page: the map, the editing tools and the grid table.

Nothing above the map changes size: the figures keep their row while the first partition runs, and
messages (and the draft offer) appear beside the map, in the tool panel. The map is drawn once, the
plan arrives on it in place, and it never moves under the planner's cursor.
"""
import streamlit as st

from app_pages import auth, mapview, plans, projects, tables, whatif
from app_pages import callbacks as cb
from app_pages import common as c
from gridplan import edit as ed
from gridplan import i18n

T = c.T
r = st.session_state
HEAD_PX = 148       # the headline figures and the rule's expander above the map
ds = c.require_dataset()


def _plan_now():
    """The history, the current plan, its grid table and the coverage (``None`` while the first
    partition runs)."""
    h = plans.history(start=False)
    p = None if h is None else h.current
    if p is None:
        return h, None, None, None
    from gridplan import metrics  # the engine's imports: not on the way to the first map
    tb = metrics.grid_table(ds, p)
    res = whatif.coverage_result(ds) if whatif.coverage_available(ds) else None
    return h, p, tb, res


def _header(p, tb, res):
    """The headline figures and the rule. Drawn into their slot above the map after the map and the
    tool panel: an edit's new map and history are sent first (the slot keeps the last figures until
    then, so nothing moves)."""
    # --- headline figures (placeholders while the first partition runs: the row keeps its height)
    m = st.columns(6)
    if tb is None:
        for col, label in zip(m, ["summary_grids", "summary_compliant", "summary_contiguous", "summary_households"]):
            col.metric(T(label), "—")
    else:
        m[0].metric(T("summary_grids"), len(tb))
        m[1].metric(T("summary_compliant"), f"{int(tb['compliant'].sum())} / {len(tb)}")
        m[2].metric(T("summary_contiguous"), f"{int(tb['contiguous'].sum())} / {len(tb)}")
        m[3].metric(T("summary_households"), f"{int(tb['households'].sum()):,}")
        if res is not None:
            s = res.summary()
            d = s["covered_households"] - whatif.coverage_result(ds, what_if=False).summary()["covered_households"]
            m[4].metric(T("summary_coverage", m=f"{max(res.minutes):g}"), f"{s['covered_households']:,}",
                        delta=f"{d:+,}" if d else None)
            m[5].metric(T("summary_coverage_pct"), f"{s['pct_households'] or 0:.1f}%")

    # --- rule and partition
    rule = r["rule"]
    with st.expander(T("rule") + f" — {rule.min_households}–{rule.max_households} / "
                     f"{rule.min_persons}–{rule.max_persons} · {T('mode_' + rule.mode)}"):
        a, b, cc, d, e, f, g = st.columns([1, 1, 1, 1, 1.6, 0.8, 0.8])
        a.number_input(T("min_hh"), 0, 100000, rule.min_households, 10, key="_min_hh")
        b.number_input(T("max_hh"), 0, 100000, rule.max_households, 10, key="_max_hh")
        cc.number_input(T("min_pp"), 0, 300000, rule.min_persons, 50, key="_min_pp")
        d.number_input(T("max_pp"), 0, 300000, rule.max_persons, 50, key="_max_pp")
        modes = ["either", "households", "persons", "both"]
        e.selectbox(T("mode"), modes, index=modes.index(rule.mode), format_func=lambda k: T("mode_" + k), key="_mode")
        f.number_input(T("seed"), 0, 10**6, int(r["seed"]), key="_seed")
        g.selectbox(T("code_width"), [2, 3], index=[2, 3].index(int(r["code_width"])), key="_code_width")
        st.button(T("partition"), on_click=cb.cb_partition, type="primary", key="partition_btn",
                  disabled=p is None or not auth.may_edit())


def _table(p, tb, res, focus):
    """The grid table (of the community in view), under the map."""
    st.markdown(f"#### {T('grid_table')}")
    frame = tables.grid_frame(ds, p, res)
    if focus != c.ALL:
        frame = frame[(tb["community_id"].astype(str) == focus).to_numpy()]
    r["_grid_table_ids"] = frame[T("col_grid")].tolist()
    st.dataframe(frame, key="grid_table", on_select=cb.cb_select_grid_row,
                 selection_mode="single-row", hide_index=True, width="stretch", height=360,
                 column_config={T("col_coverage"): st.column_config.NumberColumn(format="%.1f"),
                                T("col_pp"): st.column_config.NumberColumn(format="%.2f")})


def _work(status_here: bool = False):
    """The map, the tool panel, the figures and the grid table: on a plan, a fragment (an edit reruns
    this part only), with the plan's status and undo/redo at the top of the tool panel
    (``status_here``: the sidebar, not rerun by an edit, leaves them out)."""
    h, p, tb, res = _plan_now()
    # the session's first run with a plan draws the map alone, where it will stay (the browser then has
    # one component to load and draw, not every widget and the grid table); the map reports when it is
    # drawn and the rest follows, as it does on any later run
    first = p is not None and not r.get("_map_painted")
    if p is not None:
        r["_map_painted"] = True
    head = st.container()
    left, right = st.columns([3, 1.3], gap="medium")
    with left:
        mapview.render_map(ds, p, first_paint=first)
        st.caption(T("map_legend_hint"))
    if first:
        with head:       # the figures' and rule's height: the map does not move when they come
            st.markdown(f'<div style="height:{HEAD_PX}px"></div>', unsafe_allow_html=True)
        return


    def _grid_option(k, new_code):
        if k == new_code:
            return T("new_grid", code=k)
        hh = int(tb.at[k, "households"]) if k in tb.index else 0
        return T("grid_option", grid=k, hh=hh) + (f" · {T('locked')}" if k in p.locked else "")


    # what a planner looks at after a click comes first: the map (above), then the grid table and the
    # history line; the tools and the figures follow in their places, filled in after them
    with right:
        tools, history_line = st.container(), st.container()
    focus = c.current_focus(ds)
    if p is not None:
        _table(p, tb, res, focus)
        with history_line, st.expander(T("history") + f" ({h.index + 1}/{len(h)})"):
            # one element for the whole history (an element per step made every rerun slower as it grew)
            st.caption("  \n".join(("▶ " if i == h.index else "\u2003") + c.step(lab) for i, lab in enumerate(h.labels())))

    # --- tool panel (right)
    with tools:
        if status_here:
            plans.status(ds)
        box = c.show_flash()
        if p is not None:
            draft = projects.pending_draft(ds, p)
            if draft is not None:
                d, meta = draft
                box.info(T("draft_found", label=c.step(d.label), when=c.when(meta.get("saved")), grids=len(d.grid_ids)))
                b1, b2 = box.columns(2)
                b1.button(T("draft_restore"), on_click=cb.cb_restore_draft, type="primary", key="draft_restore_btn")
                b2.button(T("draft_discard"), on_click=cb.cb_discard_draft, key="draft_discard_btn")
        comm_ids = [] if ds.communities is None else [str(x) for x in ds.communities.index]
        names = {} if ds.communities is None else ds.communities["name"].astype(str).to_dict()
        r["_focus"] = focus
        st.selectbox(T("community_focus"), comm_ids + [c.ALL], key="_focus", on_change=cb.cb_focus,
                     format_func=lambda k: T("all_communities") if k == c.ALL else f"{names.get(k, k)} ({k})")
        if p is None:
            if plans.history() is not None:     # the map is out; the partition finished meanwhile: draw it now
                st.rerun()
            with head:
                _header(p, tb, res)
            plans.wait_for_partition(ds)        # else the engine runs (in its process); soon prepare here what
            st.stop()                           # the grids will need
        if not auth.may_edit():
            st.info(T("auth_read_only"))
            r["selection"] = ()
        else:
            if not auth.may_edit(focus):
                st.caption(":material/lock: " + T("auth_view_only_here"))
            r["_tool"] = r["tool"]
            st.radio(T("tool"), list(c.TOOLS), key="_tool", on_change=cb.cb_copy, args=("_tool", "tool"), horizontal=True,
                     format_func=lambda k: T("tool_" + k))
            r["_unit"] = r["unit"]
            st.radio(T("unit"), ["building", "compound"], key="_unit", on_change=cb.cb_copy, args=("_unit", "unit"),
                     horizontal=True, format_func=lambda k: T("unit_" + k))
            # move targets: the grids of the community in view (or of the selection), plus a new grid
            sel = tuple(r.get("selection") or ())
            ssum = ed.selection_summary(ds, p, sel) if sel else None
            tcomm = (ssum["communities"][0] if ssum and len(ssum["communities"]) == 1 else
                     (ed.community_of_grid(ds, p, r["selected_grid"]) if r.get("selected_grid") else None) or
                     (focus if focus != c.ALL else None))
            options = ed.grids_of_community(ds, p, tcomm) if tcomm else p.grid_ids
            new_code = ed.new_grid_id(ds, p, tcomm) if tcomm else None
            if new_code:
                options = options + [new_code]
            if r.get("target") not in options:
                r["target"] = options[0] if options else None
            r["_target"] = r["target"]
            st.selectbox(T("target_grid"), options, key="_target", on_change=cb.cb_copy, args=("_target", "target"),
                         format_func=lambda k: _grid_option(k, new_code))
            st.markdown(f"**{T('selection')}**")
            if ssum:
                st.markdown(T("selection_info", n=ssum["buildings"], hh=ssum["households"], pp=ssum["persons"],
                              grids=", ".join(c.md(g) for g in ssum["grids"])))
                b1, b2 = st.columns(2)
                b1.button(T("move_to"), on_click=cb.cb_move_selection, type="primary", key="move_btn", width="stretch")
                b2.button(T("clear_selection"), on_click=cb.cb_clear_selection, key="clear_btn", width="stretch")
            else:
                st.caption(T("selection_none"))

            rep = r.get("report")        # the check after the last edit
            if rep:
                st.markdown(f"**{T('history')}**: {c.step(rep['label'])}")
                if rep["newly_broken"]:
                    st.error(T("check_broken") + "\n\n" + "\n".join(f"- **{c.md(g)}**: {c.md(why)}"
                                                                     for g, why in rep["newly_broken"]))
                else:
                    st.success(T("check_ok"))
                if rep["fixed"]:
                    st.info(T("check_fixed", grids=", ".join(c.md(g) for g in rep["fixed"])))

            sg = r.get("selected_grid")
            # the label names the selected grid: selecting another grid opens the panel again
            with st.expander(T("grid_ops") + (f" · {c.md(sg)}" if sg else ""), expanded=bool(sg)):
                if sg and sg in tb.index:
                    ok = bool(tb.at[sg, "compliant"])
                    why = i18n.reason(str(tb.at[sg, "reason"] or ""), c.lang())
                    st.markdown(f"**{T('selected_grid')}**: {c.md(sg)} · {int(tb.at[sg, 'households'])} / "
                                f"{int(tb.at[sg, 'persons'])} · {T('ok') if ok else T('not_ok')}"
                                + ("" if ok else f" — {c.md(why)}") + (f" · {T('locked')}" if sg in p.locked else ""))
                    same = [x for x in ed.grids_of_community(ds, p, ed.community_of_grid(ds, p, sg)) if x != sg]
                    st.selectbox(T("merge_absorb"), same, key="_merge_absorb", format_func=lambda k: _grid_option(k, None))
                    st.button(T("merge_into", grid=c.md(sg)), on_click=cb.cb_merge, key="merge_btn", disabled=not same)
                    s1, s2 = st.columns([1, 1])
                    s1.number_input(T("split_parts"), 0, 20, 0, key="_split_parts")
                    s2.button(T("split"), on_click=cb.cb_split, key="split_btn")
                    if sg in p.locked:
                        st.button(T("unlock"), on_click=cb.cb_lock, args=(False,), key="unlock_btn", icon=":material/lock_open:")
                    else:
                        st.button(T("lock"), on_click=cb.cb_lock, args=(True,), key="lock_btn", icon=":material/lock:")
                else:
                    st.caption(T("grid_table"))
                st.button(T("reoptimise"), on_click=cb.cb_reoptimise, key="reopt_btn", disabled=not (sg or focus != c.ALL))

        if whatif.coverage_available(ds):
            r["_show_coverage"], r["_show_isochrones"] = r["show_coverage"], r["show_isochrones"]
            st.toggle(T("show_coverage"), key="_show_coverage", on_change=cb.cb_copy,
                      args=("_show_coverage", "show_coverage"))
            st.toggle(T("show_isochrones"), key="_show_isochrones", on_change=cb.cb_copy,
                      args=("_show_isochrones", "show_isochrones"))

    with head:
        _header(p, tb, res)
    plans.warm(ds)      # once per dataset and server (in the background): the whole city and the coverage, then kept


if plans.history(start=False) is None:      # the first partition runs: the page polls for it (a full rerun)
    _work()
else:
    r["_plan_status_in_page"] = True        # for the sidebar: the status is beside the map
    st.fragment(_work)(True)
