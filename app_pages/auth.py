"""Sign-in, roles and scopes in the app (issue 12). The users live in the plan store
(:mod:`gridplan.store`); the decisions are :mod:`gridplan.access`'s. This module keeps who is
signed in (``st.session_state["auth"]``), draws the sign-in form and the sidebar line, and answers
the pages' questions: may this session edit, which communities, may it see per-building counts.

With no users in the store the app stays single-user on localhost (as before) and refuses to run
on an address the network can reach.
"""
from __future__ import annotations

import logging

import streamlit as st

from app_pages import common as c
from app_pages.common import T, flash, md
from gridplan import access

log = logging.getLogger("gridplan.app")

#: the exports a viewer may download: they hold no per-building household or person counts
VIEWER_EXPORTS = ("poster", "assignment")

#: what a sign-out (or another user) must not inherit from the session
_SESSION_KEYS = ("history", "history_key", "dirty", "draft_seen", "store_base", "conflict", "conflict_confirm",
                 "report", "selected_grid", "target")


def _store():
    """The plan store of the session (``None`` when no dataset is loaded and none is configured)."""
    import os

    from app_pages import projects
    if not os.environ.get("GRIDPLAN_STORE"):
        ds = c.dataset()
        # the dataset's own GeoPackage store: before its first save it does not exist, so it has no
        # users (single-user mode) — do not import and open the store on the way to the first map
        if ds is None or not projects.project_path(ds).exists():
            return None
    try:
        return projects.project_store()
    except Exception as e:  # noqa: BLE001 - a store that cannot be opened is a message, not a traceback
        log.warning("plan store not usable: %s", e)
        return None


def server_address():
    try:
        return st.get_option("server.address")
    except Exception:  # noqa: BLE001 - no server (a bare script run)
        return None


def current() -> dict | None:
    """The signed-in user of the session (``{"user", "display", "role", "scope", "store"}``) or ``None``."""
    return st.session_state.get("auth")


def role() -> str | None:
    a = current()
    return None if a is None else a["role"]


def is_viewer() -> bool:
    return role() == "viewer"


def scope() -> frozenset | None:
    """The communities this session may change: ``None`` for all (single-user mode, admins)."""
    a = current()
    if a is None or a["role"] == "admin":
        return None
    return frozenset(a["scope"])


def may_edit(community=None) -> bool:
    """Whether the session may edit (``community`` given: edit that community)."""
    s = scope()
    if s is None:
        return True
    if not s:
        return False
    return community is None or community == c.ALL or str(community) in s


def building_counts() -> bool:
    """Whether per-building households and persons may be shown (not to viewers)."""
    return not is_viewer()


def _reset_session() -> None:
    r = st.session_state
    for k in _SESSION_KEYS:
        r[k] = c.DEFAULTS.get(k)
    r["selection"] = ()


def _refresh(store, a: dict) -> dict | None:
    """The signed-in user as the store has them now (a role or scope changed by an admin counts at
    once; a disabled or deleted user is signed out)."""
    try:
        u = store.get_user(a["user"])
        if u is None or not u.active:
            return None
        sc = sorted(store.user_scope(u.name)) if u.role == "planner" else []
    except Exception as e:  # noqa: BLE001 - keep the session when the database hiccups
        log.warning("user %r not refreshed: %s", a["user"], e)
        return a
    return {**a, "role": u.role, "display": u.display_name, "scope": sc, "codes": list(u.scope)}


def cb_sign_in():
    r = st.session_state
    name = str(r.get("_auth_user") or "").strip()
    password = r.get("_auth_password") or ""
    r["_auth_password"] = ""
    store = _store()
    u = None
    if store is not None and name and password:
        try:
            u = store.verify(name, password)
        except Exception as e:  # noqa: BLE001 - never a traceback; never the password
            log.warning("sign-in check failed: %s", type(e).__name__)
    del password
    if u is None:
        flash("error", T("auth_wrong"))
        return
    _reset_session()
    sc = sorted(store.user_scope(u.name)) if u.role == "planner" else []
    r["auth"] = {"user": u.name, "display": u.display_name, "role": u.role, "scope": sc, "codes": list(u.scope),
                 "store": store.location}
    r["store_user"] = u.name
    log.info("user %r signed in (%s)", u.name, u.role)


def cb_sign_out():
    r = st.session_state
    a = r.get("auth")
    from app_pages import projects
    projects.wait_for_draft()
    _reset_session()
    r["auth"] = None
    r["store_user"] = None
    if a:
        log.info("user %r signed out", a["user"])
        flash("info", T("auth_signed_out"))


def gate() -> None:
    """Before any page: sign-in when the store has users (the page stops at the form), the
    single-user note on localhost with no users, a refusal on a public address with no users.
    Draws the sidebar line of the signed-in user and the sign-out button."""
    r = st.session_state
    store = _store()
    has_users = False
    if store is not None:
        try:
            has_users = store.has_users()
        except Exception as e:  # noqa: BLE001
            log.warning("users of %s not read: %s", store.location, e)
            has_users = True       # an unreadable store must not open the app to everyone
    mode = access.sign_in_mode(has_users, server_address())
    if mode == "single_user":
        if r.get("auth") is not None:
            r["auth"] = None
        st.sidebar.caption(":material/person: " + T("auth_single_user"))
        return
    if mode == "refuse":
        st.error(T("auth_refuse", cmd=access.ADD_ADMIN_COMMAND))
        st.code(access.ADD_ADMIN_COMMAND.replace("STORE_URL", str(store.location if store is not None
                                                                   else "projects/<dataset>.gpkg")), language="bash")
        st.stop()
    a = r.get("auth")
    if a is not None and a.get("store") != store.location:
        a = None
    if a is not None:
        a = _refresh(store, a)
        if a is None:
            cb_sign_out()
    r["auth"] = a
    if a is None:
        _form()
        st.stop()
    with st.sidebar:
        who = md(a["user"]) + (f" · {md(a['display'])}" if a.get("display") else "")
        st.markdown(f":material/account_circle: **{who}** · {T('role_' + a['role'])}")
        if a["role"] == "planner":
            st.caption(T("auth_scope", codes=md("、".join(a.get("codes") or a["scope"]))))
        st.button(T("auth_sign_out"), on_click=cb_sign_out, key="sign_out_btn", icon=":material/logout:")


def _form() -> None:
    st.header(T("auth_title"))
    c.show_flash()
    st.caption(T("auth_intro"))
    with st.form("sign_in", clear_on_submit=True):
        st.text_input(T("auth_user"), key="_auth_user", max_chars=64)
        st.text_input(T("auth_password"), key="_auth_password", type="password", max_chars=1024)
        st.form_submit_button(T("auth_submit"), on_click=cb_sign_in, type="primary")


def refuse_edit(before, after) -> bool:
    """Whether an edit from ``before`` to ``after`` leaves this session's scope (it then says why,
    naming the communities, and the caller keeps the plan as it was)."""
    s = scope()
    if s is None:
        return False
    if is_viewer():
        flash("error", T("auth_read_only"))
        return True
    ds = c.dataset()
    outside = access.outside_scope(ds, before, after, s)
    if not outside:
        return False
    names = {} if ds.communities is None else ds.communities["name"].astype(str).to_dict()
    shown = "、".join(f"{names.get(x, '')} ({x})".strip() for x in outside[:6])
    flash("error", T("auth_out_of_scope", communities=md(shown)))
    return True


def starting_plan(plan):
    """The plan a signed-in session starts from: the newest saved version of the shared store
    (and it becomes the save's base), else ``plan`` (the engine's partition)."""
    if current() is None:
        return plan
    store = _store()
    try:
        head = store.head() if store is not None else 0
        if not head:
            return plan
        p = store.load(head)
        p.check_against(c.dataset().buildings.index)
    except Exception as e:  # noqa: BLE001 - a version that does not fit: the partition, and why
        flash("error", T("version_mismatch", msg=md(e)))
        return plan
    st.session_state["store_base"] = (store.location, head)
    return p


# --------------------------------------------------------------------------- user management (admins)
def _admin_store():
    if role() != "admin":
        flash("error", T("auth_admin_only"))
        return None
    return _store()


def _admin_change(change, done) -> None:
    """Run ``change()`` (one call to the store); flash its error, or the message ``done(result)``."""
    from gridplan.store import StoreError
    try:
        result = change()
    except StoreError as e:
        flash("error", T("edit_failed", msg=c.message(e)))
        return
    flash("success", done(result))


def _user_message(key: str):
    return lambda u: T(key, user=md(u.name), role=T("role_" + u.role))


def cb_add_user():
    r = st.session_state
    password = r.get("_adm_password") or ""
    r["_adm_password"] = ""
    store = _admin_store()
    if store is None:
        return
    name = str(r.get("_adm_name") or "").strip()
    _admin_change(lambda: store.add_user(name, password, role=r.get("_adm_role") or "planner",
                                         display_name=str(r.get("_adm_display") or ""),
                                         scope=list(r.get("_adm_scope") or ())),
                  _user_message("auth_user_added"))


def cb_set_user():
    r = st.session_state
    store = _admin_store()
    name = r.get("_adm_pick")
    if store is None or not name:
        return
    me = (current() or {}).get("user")
    if name == me and (r.get("_adm_set_role") != "admin" or r.get("_adm_set_disabled")):
        flash("error", T("auth_not_yourself"))
        return
    _admin_change(lambda: store.set_user(name, role=r.get("_adm_set_role"), scope=list(r.get("_adm_set_scope") or ()),
                                         disabled=bool(r.get("_adm_set_disabled"))),
                  _user_message("auth_user_changed"))


def cb_reset_password():
    r = st.session_state
    password = r.get("_adm_new_password") or ""
    r["_adm_new_password"] = ""
    store = _admin_store()
    name = r.get("_adm_pick")
    if store is None or not name:
        return
    _admin_change(lambda: store.set_password(name, password), lambda _: T("auth_password_reset", user=md(name)))
