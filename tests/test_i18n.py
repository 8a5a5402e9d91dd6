"""The interface speaks the chosen language: plan labels, validation fixes, bilingual messages, times."""
from __future__ import annotations

import re

import malformed as M
import pytest

from gridplan import i18n
from gridplan.edit import Edit, apply
from gridplan.io import read_dataset
from gridplan.sample import tiny_city

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_labels_the_library_makes_are_rendered_in_both_languages():
    from gridplan.engine import partition
    ds = read_dataset(tiny_city(), name="tiny")
    p0 = partition(ds, seed=3)
    g0, g1 = p0.grid_ids[0], p0.grid_ids[1]
    b = p0.buildings_of(g1)[0]
    comp = ds.buildings["compound_id"].dropna().iloc[0]
    plans = [p0, apply(ds, p0, Edit.move([b], g0)), apply(ds, p0, Edit.move_compound(comp, "NEW01")),
             apply(ds, p0, Edit.merge(g0, g1)), apply(ds, p0, Edit.lock([g0])), apply(ds, p0, Edit.unlock([g0])),
             apply(ds, p0, Edit.reoptimise(str(ds.communities.index[0]), 0)), p0.move([b], g0),
             p0.with_rule(p0.rule)]
    for p in plans:
        zh, en = i18n.plan_label(p.label, "zh"), i18n.plan_label(p.label, "en")
        assert CJK.search(zh) and zh != p.label, p.label
        assert en == p.label                      # English is the library's own wording
    assert i18n.plan_label("partition (seed 7)") == "网格划分（随机种子 7）"
    assert i18n.plan_label(f"move {b} → {g0}") == f"移动楼栋 {b} → {g0}"
    assert i18n.plan_label("something else") == "something else"


@pytest.mark.parametrize("case", M.CASES, ids=[c.name for c in M.CASES])
def test_every_validation_fix_has_chinese(case, tmp_path):
    from gridplan import ValidationError
    path = case.build(tmp_path / "d")
    try:
        problems = list(read_dataset(path, **case.kwargs).warnings)
    except ValidationError as e:
        problems = list(e.problems)
    except (TypeError, ValueError):
        pytest.fail(f"{case.name} raised instead of reporting")
    assert problems
    for p in problems:
        d = p.as_dict()
        zh = i18n.fix_text(d, "zh")
        assert CJK.search(zh), (p.code, zh)
        assert "{" not in zh and "``" not in zh
        assert i18n.fix_text(d, "en") == p.fix


def test_bilingual_messages_and_local_time():
    from gridplan.reach import parse_minutes
    with pytest.raises(ValueError) as e:
        parse_minutes("5,十")
    zh, en = i18n.in_language(str(e.value), "zh"), i18n.in_language(str(e.value), "en")
    assert CJK.search(zh) and "5,10,15" in zh and "minutes" not in zh
    assert "minutes" in en and not CJK.search(en.replace("十", ""))
    assert i18n.in_language("plain text", "zh") == "plain text"
    assert i18n.local_time("2026-12-01T07:30:00+00:00", "Asia/Shanghai") == "2026-12-01 15:30"
    assert i18n.local_time("2026-12-01T07:30:00", "Asia/Shanghai") == "2026-12-01 15:30"   # naive = UTC
    assert i18n.local_time("not a time") == "not a time"


def test_layer_names_have_no_english_in_chinese():
    for name in ("dataset", "upload", "buildings"):
        assert CJK.search(i18n.layer_name(name, "zh"))
        assert not CJK.search(i18n.layer_name(name, "en"))
