import pytest

from gridplan._atomic import atomic_path


def test_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".txt" and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_failure_keeps_the_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "out.shp"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target, sidecars=(".dbf",)) as tmp:
            tmp.write_text("half")
            tmp.with_suffix(".dbf").write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.shp"]


def test_sidecars_move_along(tmp_path):
    target = tmp_path / "sub" / "grids.shp"
    with atomic_path(target, sidecars=(".dbf", ".cpg")) as tmp:
        tmp.write_text("shp")
        tmp.with_suffix(".dbf").write_text("dbf")
    assert (tmp_path / "sub" / "grids.dbf").read_text() == "dbf"
    assert not (tmp_path / "sub" / "grids.cpg").exists()
