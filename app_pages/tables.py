"""Tables as the app shows them: localised headers and text, numbers formatted for reading."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import common as c
from app_pages.common import T
from gridplan import i18n

#: columns shown as percentages with one decimal (the library keeps full precision)
PERCENT = ("pct_households", "pct_persons", "pct_covered", "coverage_pct")


def grid_frame(ds, p, res=None) -> pd.DataFrame:
    """The grid table of a plan as shown (localised headers, status and reason); once per plan,
    coverage result and language (every rerun of the map page shows it)."""
    from gridplan.model import derived
    L = c.lang()
    kept = derived(ds, p, f"app.grid_frame:{L}:{id(res)}", lambda: (res, _grid_frame(ds, p, res, L)))
    return kept[1].copy(deep=False) if kept[0] is res else _grid_frame(ds, p, res, L)   # (an id taken by another result)


def _grid_frame(ds, p, res, L: str) -> pd.DataFrame:
    from gridplan import edit as ed
    from gridplan import metrics
    tb = metrics.grid_table(ds, p)
    cname = ds.communities["name"].to_dict() if ds.communities is not None and "name" in ds.communities.columns else {}
    ok, bad, locked = "🟢 " + T("ok"), "🔴 " + T("not_ok"), T("locked")
    reasons = {x: i18n.reason(str(x), L) for x in set(tb["reason"])}      # a few codes, each looked up once
    df = pd.DataFrame({
        T("col_grid"): tb.index.astype(str),
        T("col_community"): [cname.get(x, x) for x in tb["community_id"]],
        # a coloured mark, not a styled table (a pandas Styler costs a tenth of a second on every edit)
        T("col_status"): [ok if x else bad for x in tb["compliant"]],
        T("col_households"): tb["households"].astype(int).to_numpy(),
        T("col_deviation"): tb["balance"].astype(int).to_numpy(),
        T("col_persons"): tb["persons"].astype(int).to_numpy(),
        T("col_party"): tb["party_members"].astype(int).to_numpy(),
        T("col_buildings"): tb["buildings"].astype(int).to_numpy(),
        T("col_contiguous"): tb["contiguous"].astype(bool).to_numpy(),
        T("col_compounds_split"): tb["compounds_split"].astype(int).to_numpy(),
        T("col_pp"): tb["polsby_popper"].round(2).to_numpy(),
        T("col_locked"): [locked if g in p.locked else "" for g in tb.index],
        T("col_reason"): [reasons[x] for x in tb["reason"]],
    })
    if res is not None:
        gc = ed.grid_coverage(p, res.buildings)
        df.insert(6, T("col_coverage"), gc["pct_covered"].reindex(tb.index).round(1).to_numpy())
    return df


def localized(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with localised column headers (and index name)."""
    out = df.rename(columns=lambda x: i18n.column(x, c.lang()))
    if out.index.name:
        out.index.name = i18n.column(out.index.name, c.lang())
    return out


def show(df: pd.DataFrame, **kw) -> None:
    """A library table with localised headers; percentages with one decimal, other decimals two."""
    config = {}
    for col in df.columns:
        if col in PERCENT:
            config[i18n.column(col, c.lang())] = st.column_config.NumberColumn(format="%.1f")
        elif pd.api.types.is_float_dtype(df[col]):
            config[i18n.column(col, c.lang())] = st.column_config.NumberColumn(format="%.2f")
    st.dataframe(localized(df), column_config=config, **kw)


def problems_frame(problems: list[dict]) -> pd.DataFrame:
    """Validation problems as a table in the interface's language (fixes included)."""
    L = c.lang()
    return pd.DataFrame({
        T("col_severity"): [T("sev_error") if x.get("severity") == "error" else T("sev_warning") for x in problems],
        T("col_layer"): [i18n.layer_name(str(x.get("layer") or ""), L) for x in problems],
        T("col_feature"): [str(x.get("feature") or "—") for x in problems],
        T("col_problem"): [i18n.in_language(str(x.get("message") or ""), L) for x in problems],
        T("col_fix"): [i18n.fix_text(x, L) for x in problems],
    })
