"""Wall posters: CJK font embedded, sizes match the paper, not blank, labels never pile up."""
from __future__ import annotations

import shutil
import subprocess
import warnings

import numpy as np
import pytest
from _toy import toy_dataset, toy_grids, toy_plan
from PIL import Image

from gridplan import poster


@pytest.fixture()
def needs_poppler():
    from conftest import require
    require(None if shutil.which("pdffonts") else "poppler-utils (pdffonts, pdftoppm) is not installed")


@pytest.fixture(scope="module")
def toy():
    ds = toy_dataset()
    plan = toy_plan(ds)
    return ds, plan, toy_grids(ds, plan)


@pytest.fixture(scope="module")
def a3(toy, tmp_path_factory):
    ds, plan, grids = toy
    out = tmp_path_factory.mktemp("poster") / "poster"
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        files = poster.render_poster(ds, grids, out, paper="A3", orientation="landscape", dpi=50,
                                     assignment=plan.assignment, date="2026-11-26")
    missing = [str(x.message) for x in w if "missing from" in str(x.message).lower() or "glyph" in str(x.message).lower()]
    return files, missing


def test_writes_pdf_and_png_without_missing_glyphs(a3):
    files, missing = a3
    assert [f.suffix for f in files] == [".pdf", ".png"]
    assert not missing, missing  # no tofu: every glyph is in the font


def test_pdf_embeds_the_cjk_font_and_stays_vector(a3, needs_poppler):
    pdf = a3[0][0]
    out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = [r for r in out.splitlines()[2:] if r.strip()]
    cjk = [r for r in rows if "NotoSansCJK" in r]
    assert cjk, out
    for r in rows:
        assert " yes " in r.split("Custom")[-1] or " yes yes" in r, r  # emb yes
    # the Chinese title is real text (ToUnicode), not outlines or boxes
    txt = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "网格划分图" in txt and "图例" in txt
    # vector: no raster image in the PDF
    imgs = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert len([r for r in imgs.splitlines()[2:] if r.strip()]) == 0


def test_rendered_pdf_matches_paper_and_is_not_blank(a3, tmp_path, needs_poppler):
    pdf = a3[0][0]
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-singlefile", str(pdf), str(tmp_path / "r")], check=True)
    im = np.asarray(Image.open(tmp_path / "r.png").convert("L"))
    h, w = im.shape
    assert abs(w - 420 / 25.4 * 40) <= 2 and abs(h - 297 / 25.4 * 40) <= 2
    assert im.std() > 20 and (im < 128).mean() > 0.01  # lines and colours, not a white page


def test_png_size_is_paper_at_dpi(a3):
    png = a3[0][1]
    im = Image.open(png)
    w, h = im.size  # matplotlib truncates to whole pixels
    assert abs(w - 420 / 25.4 * 50) < 1 and abs(h - 297 / 25.4 * 50) < 1
    arr = np.asarray(im.convert("RGB"))
    assert len(np.unique(arr.reshape(-1, 3)[::50], axis=0)) > 20  # grid colours present


def test_portrait_scoped_poster(toy, tmp_path):
    ds, plan, grids = toy
    files = poster.render_poster(ds, grids, tmp_path / "c.png", paper="A4", orientation="portrait", dpi=30,
                                 scope="方亭社区")
    im = Image.open(files[0])
    assert abs(im.size[0] - 210 / 25.4 * 30) < 1 and abs(im.size[1] - 297 / 25.4 * 30) < 1
    name, ids = poster.resolve_scope(ds, "方亭街道")
    assert name == "方亭街道" and len(ids) == 2
    assert poster.resolve_scope(ds, "510682001002")[1] == ["510682001002"]
    with pytest.raises(ValueError, match="unknown scope"):
        poster.resolve_scope(ds, "火星社区")


def test_optional_layers(toy, tmp_path):
    import geopandas as gpd
    import pandas as pd

    ds, plan, grids = toy
    b = ds.buildings
    cov = pd.DataFrame({"covered": np.arange(len(b)) % 4 != 0}, index=b.index)
    iso = gpd.GeoDataFrame({"band_min": [5, 10, 15]}, geometry=[ds.stations.geometry.iloc[0].buffer(r)
                                                                 for r in (200, 400, 600)], crs=ds.crs)
    files = poster.render_poster(ds, grids, tmp_path / "o.pdf", paper="A3", coverage=cov, isochrones=iso, lang="en")
    assert files == [tmp_path / "o.pdf"] and files[0].stat().st_size > 10_000
    with pytest.raises(ValueError, match="paper"):
        poster.render_poster(ds, grids, tmp_path / "x.pdf", paper="B5")


def test_labels_do_not_overlap():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.sans-serif": [poster.cjk_font(), "DejaVu Sans"]}):
        _check_labels(plt)


def _check_labels(plt):
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    items = [{"x": 50, "y": 50, "text": "01\n300户", "size": 10, "priority": 2},
             {"x": 51, "y": 50, "text": "02\n310户", "size": 10, "priority": 1},   # on top of the first
             {"x": 10, "y": 10, "text": "03\n320户", "size": 10, "priority": 0}]
    fig.canvas.draw()
    n = poster.place_labels(ax, items, fig_dpi=fig.dpi)
    assert n == 2
    texts = [t.get_text() for t in ax.texts]
    assert "01\n300户" in texts and "02\n310户" not in texts
    boxes = [t.get_window_extent() for t in ax.texts]
    assert not boxes[0].overlaps(boxes[1])
    plt.close(fig)


def test_missing_font_names_the_fix(monkeypatch):
    monkeypatch.setattr(poster, "_FONT_READY", None)
    monkeypatch.setattr(poster, "CJK_FONT_FILES", ("/nonexistent/x.ttc",))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(poster.FontMissingError, match="fonts-noto-cjk"):
        poster.cjk_font()


def test_dollar_signs_in_names_stay_text(toy, tmp_path):
    ds, plan, grids = toy
    comp = ds.compounds.copy()
    comp["name"] = ["$\\frac{1}{$ 小区", "a$b", "$x^2$"] + comp["name"].tolist()[3:]
    comm = ds.communities.copy()
    comm["name"] = ["$社区$", comm["name"].iloc[1]]
    ds2 = ds.replace(compounds=comp, communities=comm)
    files = poster.render_poster(ds2, grids, tmp_path / "d.pdf", paper="A4", scope="510682001001",
                                 title="$标题 {x}$")
    txt = subprocess.run(["pdftotext", str(files[0]), "-"], capture_output=True, text=True).stdout \
        if shutil.which("pdftotext") else "$标题"
    assert "$标题" in txt
