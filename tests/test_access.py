"""gridplan.access: when an app must ask for a sign-in, and which communities an edit touches."""
from __future__ import annotations

import pytest
from _store_worker import base_plan, change_in, city

from gridplan import access


@pytest.mark.parametrize("address, local", [(None, True), ("", True), ("127.0.0.1", True), ("localhost", True),
                                            ("LOCALHOST", True), ("::1", True), ("127.0.1.1", True),
                                            ("0.0.0.0", False), ("192.168.1.20", False), ("::", False),
                                            ("gridplan.example.cn", False)])
def test_local_addresses(address, local):
    assert access.is_local_address(address) is local


def test_sign_in_mode():
    assert access.sign_in_mode(True, "127.0.0.1") == "sign_in"
    assert access.sign_in_mode(True, "0.0.0.0") == "sign_in"
    assert access.sign_in_mode(False, None) == "single_user"
    assert access.sign_in_mode(False, "0.0.0.0") == "refuse"
    assert "gridplan store user add" in access.ADD_ADMIN_COMMAND and "--role admin" in access.ADD_ADMIN_COMMAND


def test_the_add_admin_command_is_the_real_cli():
    from gridplan.cli import build_parser
    words = access.ADD_ADMIN_COMMAND.replace("STORE_URL", "office.gpkg").replace("NAME", "wang").split()
    assert words[0] == "gridplan"
    args = build_parser().parse_args(words[1:])
    assert (args.store_command, args.user_command, args.url, args.name, args.role) == \
        ("user", "add", "office.gpkg", "wang", "admin")


@pytest.fixture(scope="module")
def ds():
    return city(600, n_communities=4)


def test_changed_communities_and_scope(ds):
    p0 = base_plan(ds)
    cx, cy = sorted(ds.communities.index)[:2]
    p1 = change_in(ds, p0, cx, "A")
    assert access.changed_communities(ds, p0, p1) == [cx]
    assert access.changed_communities(ds, p0, p0) == []
    assert access.changed_communities(ds, None, p0) == sorted(ds.communities.index)
    g = next(x for x in p0.grid_ids if x.startswith(cy))
    assert access.changed_communities(ds, p1, p1.lock([g])) == [cy]          # a lock counts too
    assert access.outside_scope(ds, p0, p1, [cx]) == []
    assert access.outside_scope(ds, p0, p1, [cy]) == [cx]
    assert access.outside_scope(ds, p0, p1, None) == []
    assert access.outside_scope(ds, p0, p1, []) == [cx]                       # a viewer may change nothing
