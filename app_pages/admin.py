"""用户管理 (admins only): the store's users, add a user, change role/scope, reset a password."""
import pandas as pd
import streamlit as st

from app_pages import auth, projects, tables
from app_pages import common as c
from gridplan.store import format_time

T = c.T
r = st.session_state
ds = c.require_dataset()
st.header(T("page_admin"))
if auth.role() != "admin":
    st.warning(T("auth_admin_only"))
    st.stop()
c.show_flash()
store = projects.project_store()

users = store.list_users()
shown = users.copy()
shown["role"] = [T("role_" + x) for x in shown["role"]]
shown["scope"] = ["、".join(map(str, x)) for x in shown["scope"]]
for col in ("created", "disabled"):
    shown[col] = ["" if x is None or pd.isna(x) else format_time(x) for x in shown[col]]
tables.show(shown.rename(columns={"display_name": T("auth_display"), "role": T("auth_role"),
                                  "scope": T("auth_scope_label"), "created": T("auth_created"),
                                  "disabled": T("auth_disabled")}), width="stretch")

# scope choices: the communities (by id) and the streets (by name or id) of the dataset
codes: dict[str, str] = {}
if ds.communities is not None:
    for cid, row in ds.communities.iterrows():
        codes[str(cid)] = f"{row.get('name', '')} ({cid})"
        for k in ("street_id", "street"):
            v = row.get(k)
            if v is not None and str(v) not in ("", "nan", "None"):
                codes.setdefault(str(v), f"{T('auth_street')} {row.get('street', v)}" + (f" ({v})" if k == "street_id" else ""))
roles = ["planner", "viewer", "admin"]

st.subheader(T("auth_add_user"))
with st.form("add_user", clear_on_submit=True):
    a, b, d = st.columns(3)
    a.text_input(T("auth_user"), key="_adm_name", max_chars=64)
    b.text_input(T("auth_display"), key="_adm_display", max_chars=64)
    d.selectbox(T("auth_role"), roles, key="_adm_role", format_func=lambda k: T("role_" + k))
    st.multiselect(T("auth_scope_label"), list(codes), key="_adm_scope", format_func=lambda k: codes.get(k, k))
    st.text_input(T("auth_password"), key="_adm_password", type="password", max_chars=1024)
    st.form_submit_button(T("auth_add_user"), on_click=auth.cb_add_user, type="primary")

if len(users):
    st.subheader(T("auth_change_user"))
    pick = st.selectbox(T("auth_user"), list(users.index), key="_adm_pick")
    u = users.loc[pick]
    with st.form("set_user"):
        a, b = st.columns([1, 3])
        a.selectbox(T("auth_role"), roles, index=roles.index(u["role"]), key="_adm_set_role",
                    format_func=lambda k: T("role_" + k))
        b.multiselect(T("auth_scope_label"), list(dict.fromkeys(list(codes) + list(u["scope"]))),
                      default=list(u["scope"]), key="_adm_set_scope", format_func=lambda k: codes.get(k, k))
        st.checkbox(T("auth_disabled"), value=not (u["disabled"] is None or pd.isna(u["disabled"])), key="_adm_set_disabled")
        st.form_submit_button(T("auth_apply"), on_click=auth.cb_set_user)
    with st.form("reset_password", clear_on_submit=True):
        st.text_input(T("auth_new_password"), key="_adm_new_password", type="password", max_chars=1024)
        st.form_submit_button(T("auth_reset_password"), on_click=auth.cb_reset_password)
