"""``gridplan store init|save|list|get|audit|user …`` — the shared plan store (SPEC §7).

URL is a path ending in ``.gpkg`` (embedded, one planner) or ``postgresql://…`` (an office).
A save that conflicts with a newer version exits 3 (:data:`EXIT_CONFLICT`) and writes nothing.
Passwords are read from a prompt or from standard input, never from the command line.
"""
from __future__ import annotations

import argparse
import getpass
import sys
import time

from ._common import EXIT_BAD_INPUT, EXIT_CONFLICT, EXIT_OK, UsageError, add_dataset_options, emit, error, load


def register(subparsers) -> argparse.ArgumentParser:
    """Register ``store`` and its subcommands."""
    p = subparsers.add_parser("store", help="the shared plan store: save, list and get plan versions")
    sub = p.add_subparsers(dest="store_command", metavar="ACTION")
    p.set_defaults(func=_usage(p))

    def url_arg(q):
        q.add_argument("url", metavar="URL", help="a .gpkg file or postgresql://user@host:port/dbname "
                                                  "(password in PGPASSWORD or ~/.pgpass)")

    q = sub.add_parser("init", help="create the store's tables (safe to repeat)")
    url_arg(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_init)

    q = sub.add_parser("save", help="save a plan as a new version (only the communities it changed)")
    url_arg(q)
    add_dataset_options(q)
    q.add_argument("plan", metavar="PLAN.gpkg", help="a plan file (layer assignment: building_id, grid_id)")
    q.add_argument("--name", required=True, help="the version's name")
    q.add_argument("--user", required=True, help="who saves")
    q.add_argument("--base", default=None, metavar="VERSION",
                   help="the version the plan was made from (default: the newest)")
    q.add_argument("--note", default="", help="a note kept with the version")
    q.set_defaults(func=cmd_save)

    q = sub.add_parser("list", help="every version: who, when, base, communities changed")
    url_arg(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)

    q = sub.add_parser("get", help="write a version as a plan GeoPackage")
    url_arg(q)
    q.add_argument("version", metavar="VERSION", help="version id or name")
    q.add_argument("--out", required=True, metavar="PLAN.gpkg")
    q.add_argument("--dataset", default=None, help="the dataset, to compute every grid figure afresh")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_get)

    q = sub.add_parser("audit", help="the audit trail (留痕): grids each version changed, before and after")
    url_arg(q)
    q.add_argument("version", metavar="VERSION", nargs="?", default=None, help="one version (default: all)")
    q.add_argument("--out", default=None, metavar="FILE.xlsx", help="write it as Excel (Chinese headers)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_audit)

    q = sub.add_parser("user", help="users who may save: add, list, passwd, disable, enable")
    users = q.add_subparsers(dest="user_command", metavar="ACTION")
    q.set_defaults(func=_usage(q))
    u = users.add_parser("add", help="add a user (password from a prompt or stdin)")
    url_arg(u)
    u.add_argument("name", metavar="USER")
    u.add_argument("--role", choices=["admin", "planner", "viewer"], default="planner")
    u.add_argument("--scope", default="", metavar="CODES",
                   help="a planner's communities or streets: ids or street names, comma-separated")
    u.add_argument("--display-name", default="")
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=cmd_user_add)
    u = users.add_parser("list", help="every user (never passwords)")
    url_arg(u)
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=cmd_user_list)
    u = users.add_parser("passwd", help="set a user's password (from a prompt or stdin)")
    url_arg(u)
    u.add_argument("name", metavar="USER")
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=cmd_user_passwd)
    for action in ("disable", "enable"):
        u = users.add_parser(action, help=f"{action} a user")
        url_arg(u)
        u.add_argument("name", metavar="USER")
        u.add_argument("--json", action="store_true")
        u.set_defaults(func=cmd_user_disable, disable=action == "disable")
    return p


def _usage(parser):
    def show(args) -> int:
        parser.print_help(sys.stderr)
        return 2
    return show


def _store(args, *, create=False):
    from ..store import open_store
    return open_store(args.url, create=create)


# --------------------------------------------------------------------------- versions
def cmd_init(args) -> int:
    """``gridplan store init``: create the store's tables (safe to repeat); return the exit code."""
    store = _store(args)
    existed = store.initialised()
    store.init()
    emit(args, {"store": store.location, "created": not existed},
         f"✓ {'已存在' if existed else '已创建'} / {'exists' if existed else 'created'}: {store.location}")
    return EXIT_OK


def cmd_save(args) -> int:
    """``gridplan store save``: save a plan as a new version; return the exit code (3 on a conflict)."""
    from .._errors import StoreConflict
    from ..io import read_plan
    t0 = time.perf_counter()
    dataset = load(args)
    try:
        plan = read_plan(args.plan)
    except ValueError as e:
        error(f"{args.plan}: {e}")
        return EXIT_BAD_INPUT
    store = _store(args)
    try:
        vid = store.save(plan, name=args.name, user=args.user, base=args.base, note=args.note, dataset=dataset)
    except StoreConflict as e:
        error(str(e))
        if args.json:
            emit(args, {"version": None, "conflict": True, "base": e.base, "head": e.head,
                        "conflicts": e.conflicts}, "")
        return EXIT_CONFLICT
    info = store.info(vid)
    changed = info["communities_changed"]
    payload = {"version": vid, "base": int(info["base"]), "communities_changed": changed,
               "grids": int(info["grids"]), "seconds": round(time.perf_counter() - t0, 3)}
    emit(args, payload, f"✓ 版本 / version {vid}（基准 / base {info['base']}）: {len(changed)} 个社区有改动 / "
                        f"communities changed: {', '.join(changed) or '—'}")
    return EXIT_OK


def cmd_list(args) -> int:
    """``gridplan store list``: every version with its author, time and base; return the exit code."""
    from ..store import format_time
    v = _store(args).list()
    rows = [{"version": int(vid), "name": r["name"], "user": r["user"], "created": format_time(r["created"]),
             "base": int(r["base"]), "communities_changed": list(r["communities_changed"]), "grids": int(r["grids"]),
             "note": r["note"]} for vid, r in v.iterrows()]
    if not rows:
        emit(args, {"versions": []}, "还没有保存的版本 / no version saved yet")
        return EXIT_OK
    lines = ["版本  名称 / name | 用户 / user | 保存时间 / saved | 基准 / base | 改动社区 / communities changed"]
    for r in rows:
        ch = r["communities_changed"]
        shown = ", ".join(ch) if len(ch) <= 4 else f"{len(ch)} 个社区 / communities"
        lines.append(f"{r['version']:>4}  {r['name']} | {r['user']} | {r['created']} | {r['base'] or '—'} | {shown}")
    emit(args, {"versions": rows}, "\n".join(lines))
    return EXIT_OK


def cmd_get(args) -> int:
    """``gridplan store get``: write a version as a plan GeoPackage; return the exit code."""
    store = _store(args)
    dataset = None
    if args.dataset:
        from ..io import read_dataset
        dataset = read_dataset(args.dataset)
    vid = store.resolve(args.version)
    out = store.write_plan(vid, args.out, dataset=dataset)
    plan = store.load(vid)
    emit(args, {"version": vid, "out": str(out), "buildings": len(plan), "grids": len(plan.grid_ids)},
         f"✓ 版本 / version {vid} → {out}")
    return EXIT_OK


def cmd_audit(args) -> int:
    """``gridplan store audit``: the audit trail (留痕) of changed grids; return the exit code."""
    from ..store import format_time
    store = _store(args)
    if args.out:
        from ..export import export_audit
        paths = export_audit(store, args.out, versions=[args.version] if args.version else None)
        emit(args, {"out": [str(p) for p in paths]}, f"✓ → {paths[0]}")
        return EXIT_OK
    df = store.audit(args.version)
    rows = [{**{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items() if k != "created"},
             "created": format_time(r["created"])} for r in df.to_dict("records")]
    lines = [f"{r['version_id']:>4} {r['user']} {r['created']} {r['community_id']} {r['grid_id']} {r['status']}: "
             f"{r['households_before']}→{r['households_after']} 户, {r['persons_before']}→{r['persons_after']} 人"
             for r in rows]
    emit(args, {"audit": rows}, "\n".join(lines) or "—")
    return EXIT_OK


# --------------------------------------------------------------------------- users
def _read_password(confirm: bool = True) -> str:
    """From a prompt when standard input is a terminal, else the first line of standard input."""
    if sys.stdin is not None and sys.stdin.isatty():
        pw = getpass.getpass("密码 / password: ")
        if confirm and getpass.getpass("再输入一次 / again: ") != pw:
            raise UsageError("the two passwords differ")
        return pw
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise UsageError("give the password on standard input (one line) or run in a terminal to be prompted")
    return line.rstrip("\r\n")


def _user_dict(u) -> dict:
    from ..store import format_time
    return {"user": u.name, "display_name": u.display_name, "role": u.role, "scope": list(u.scope),
            "created": format_time(u.created), "disabled": format_time(u.disabled) if u.disabled is not None else None}


def cmd_user_add(args) -> int:
    """``gridplan store user add``: add a user, password from a prompt or stdin; return the exit code."""
    password = _read_password()
    u = _store(args).add_user(args.name, password, role=args.role, display_name=args.display_name, scope=args.scope)
    emit(args, _user_dict(u), f"✓ 已添加用户 / added user {u.name} ({u.role})")
    return EXIT_OK


def cmd_user_list(args) -> int:
    """``gridplan store user list``: every user (never passwords); return the exit code."""
    from ..store import format_time
    df = _store(args).list_users()
    rows = [{"user": name, "display_name": r["display_name"], "role": r["role"], "scope": list(r["scope"]),
             "created": format_time(r["created"]), "disabled": format_time(r["disabled"]) if r["disabled"] is not None
             else None} for name, r in df.iterrows()]
    lines = [f"{r['user']} | {r['display_name']} | {r['role']} | {', '.join(r['scope']) or '—'}"
             f"{' | 已停用 / disabled' if r['disabled'] else ''}" for r in rows]
    emit(args, {"users": rows}, "\n".join(lines) or "还没有用户 / no users")
    return EXIT_OK


def cmd_user_passwd(args) -> int:
    """``gridplan store user passwd``: set a user's password; return the exit code."""
    password = _read_password()
    _store(args).set_password(args.name, password)
    emit(args, {"user": args.name, "password_changed": True}, f"✓ 已修改密码 / password changed: {args.name}")
    return EXIT_OK


def cmd_user_disable(args) -> int:
    """``gridplan store user disable|enable``: stop or allow a user's saves; return the exit code."""
    u = _store(args).set_user(args.name, disabled=args.disable)
    emit(args, _user_dict(u), f"✓ {u.name}: {'已停用 / disabled' if args.disable else '已启用 / enabled'}")
    return EXIT_OK
