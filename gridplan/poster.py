"""Wall posters (网格划分图): PDF (vector, fonts embedded) and PNG, A0–A4, portrait or landscape.

A poster shows one scope — the whole city, a street (街道) or a community (社区) — with the grids in
distinct colours (touching grids differ), grid labels (code and households; labels that would overlap
are shrunk or skipped, the largest grids first), compounds (三无 hatched), buildings, roads,
optional stations and 15-minute walking bands, a legend, a scale bar in metres, a north arrow, an
overview inset, the date and a data note. Chinese text uses Noto Sans CJK (``fonts-noto-cjk``),
embedded in the PDF as Type 3 glyphs (vector), so there are no tofu boxes on any machine.
"""
from __future__ import annotations

import datetime as _dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._atomic import atomic_path
from ._errors import FontMissingError
from .model import Dataset

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from pyproj import CRS

log = logging.getLogger(__name__)

#: paper sizes in millimetres (portrait: width, height)
PAPER_MM: dict[str, tuple[float, float]] = {
    "A0": (841, 1189), "A1": (594, 841), "A2": (420, 594), "A3": (297, 420), "A4": (210, 297),
}

#: where fonts-noto-cjk puts the files (Debian/Ubuntu), tried before asking fontconfig
CJK_FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
)
CJK_FAMILY = "Noto Sans CJK SC"

TEXT = {
    "zh": {"title_city": "{name}网格划分图", "title_scope": "{scope}网格划分图", "grids": "网格（按网格着色）",
           "bad": "不合规网格", "community": "社区边界", "compound": "小区", "sanwu": "三无小区", "road": "道路",
           "uncovered": "未覆盖楼栋", "band": "{m}分钟步行圈", "legend": "图例", "north": "北", "hh": "户",
           "overview": "位置示意", "note": "数据：{name}；坐标系：{crs}；网格 {n} 个，{hh} 户，{pp} 人；制图：gridplan；{date}",
           "building": "楼栋"},
    "en": {"title_city": "{name} — management grids", "title_scope": "{scope} — management grids",
           "grids": "Grids (one colour each)", "bad": "Non-compliant grid", "community": "Community boundary",
           "compound": "Compound", "sanwu": "'Three-none' compound", "road": "Road", "uncovered": "Uncovered building",
           "band": "{m}-min walk", "legend": "Legend", "north": "N", "hh": " hh", "overview": "Overview",
           "note": "Data: {name}; CRS: {crs}; {n} grids, {hh} households, {pp} persons; made with gridplan; {date}",
           "building": "Building"},
}


# --------------------------------------------------------------------------- fonts
_FONT_READY: str | None = None


def cjk_font() -> str:
    """Register Noto Sans CJK with matplotlib and return its family name.

    Looks in the known Debian paths, then asks fontconfig (``fc-list``). Raises
    :class:`FontMissingError` naming the fix when no CJK font exists.
    """
    global _FONT_READY
    if _FONT_READY:
        return _FONT_READY
    from matplotlib import font_manager as fm

    files = [p for p in CJK_FONT_FILES if Path(p).exists()]
    if not files:
        import shutil
        import subprocess
        if shutil.which("fc-list"):
            out = subprocess.run(["fc-list", ":lang=zh", "file", "family"], capture_output=True, text=True).stdout
            for line in out.splitlines():
                f = line.split(":")[0].strip()
                if "Sans CJK" in line or "SC" in line:
                    files.append(f)
            files = files[:4]
    if not files:
        raise FontMissingError("no Chinese (CJK) font found; install it with `sudo apt-get install fonts-noto-cjk` "
                               "or run `bash scripts/setup.sh`")
    for f in files:
        fm.fontManager.addfont(f)
    names = {e.name for e in fm.fontManager.ttflist if any(e.fname == f for f in files)}
    family = CJK_FAMILY if CJK_FAMILY in names else sorted(names)[0]
    _FONT_READY = family
    return family


def _plain(text) -> str:
    """User text as literal text: matplotlib would read ``$…$`` as mathematics (and fail on bad TeX)."""
    return str(text).replace("$", r"\$")


def _rc(family: str) -> dict:
    return {"font.family": "sans-serif", "font.sans-serif": [family, "DejaVu Sans"], "pdf.fonttype": 3,
            "ps.fonttype": 3, "axes.unicode_minus": False, "svg.fonttype": "path", "path.simplify": True}


# --------------------------------------------------------------------------- scope
def resolve_scope(dataset: Dataset, scope) -> tuple[str | None, list[str]]:
    """``scope`` → (its name, the community ids in it). ``None`` is the whole city.

    A scope is a community id or name, a street name (or ``street_id``), or a list of community ids.
    """
    comm = dataset.communities
    all_ids = [] if comm is None else comm.index.astype(str).tolist()
    if scope is None:
        return None, all_ids
    if isinstance(scope, (list, tuple, set)):
        ids = [str(s) for s in scope if str(s) in all_ids]
        if not ids:
            raise ValueError(f"none of {list(scope)[:5]} is a community id")
        return "、".join(str(comm.loc[i, "name"]) if comm is not None and "name" in comm.columns else i
                        for i in ids), ids
    s = str(scope)
    if comm is None:
        raise ValueError("the dataset has no communities layer: only the whole city (scope=None) can be drawn")
    if s in all_ids:
        nm = comm.loc[s, "name"] if "name" in comm.columns else s
        street = comm.loc[s, "street"] if "street" in comm.columns else None
        return (f"{street}{nm}" if street and street == street else str(nm)), [s]
    if "name" in comm.columns:
        hit = comm.index[comm["name"].astype(str) == s].astype(str).tolist()
        if hit:
            return resolve_scope(dataset, hit[0])
    for col in ("street", "street_id"):
        if col in comm.columns:
            hit = comm.index[comm[col].astype(str) == s].astype(str).tolist()
            if hit:
                name = comm.loc[hit[0], "street"] if "street" in comm.columns else s
                return str(name), hit
    streets = sorted(set(comm["street"].dropna().astype(str))) if "street" in comm.columns else []
    raise ValueError(f"unknown scope {s!r}: give a community id or name, or a street name "
                     f"(streets: {', '.join(streets[:10])})")


# --------------------------------------------------------------------------- drawing helpers
def _poly_collection(geoms, facecolors, edgecolors, linewidths, *, zorder=1, alpha=None, hatch=None,
                     linestyle="solid"):
    """One PathCollection for many (multi)polygons with holes — much faster than one patch each."""
    from matplotlib.collections import PathCollection
    from matplotlib.colors import to_rgba
    from matplotlib.path import Path as MPath

    paths, fc, ec, lw = [], [], [], []
    n = len(geoms)
    cache: dict = {}

    def rgba(c):
        key = c if isinstance(c, str) else tuple(np.ravel(c))
        if key not in cache:
            cache[key] = to_rgba(c)
        return cache[key]

    fcs = [rgba(c) for c in facecolors] if isinstance(facecolors, (list, np.ndarray)) else [rgba(facecolors)] * n
    ecs = [rgba(c) for c in edgecolors] if isinstance(edgecolors, (list, np.ndarray)) else [rgba(edgecolors)] * n
    lws = linewidths if isinstance(linewidths, (list, np.ndarray)) else [linewidths] * n
    for geom, f, e, w in zip(geoms, fcs, ecs, lws):
        if geom is None or geom.is_empty:
            continue
        parts = geom.geoms if geom.geom_type.startswith("Multi") or geom.geom_type == "GeometryCollection" else [geom]
        for part in parts:
            if part.geom_type != "Polygon" or part.is_empty:
                continue
            rings = [np.asarray(part.exterior.coords)[:, :2]] + [np.asarray(r.coords)[:, :2] for r in part.interiors]
            verts = np.concatenate(rings)
            codes = np.concatenate([[MPath.MOVETO] + [MPath.LINETO] * (len(r) - 2) + [MPath.CLOSEPOLY] for r in rings])
            paths.append(MPath(verts, codes))
            fc.append(f)
            ec.append(e)
            lw.append(w)
    pc = PathCollection(paths, facecolors=fc, edgecolors=ec, linewidths=lw, zorder=zorder, alpha=alpha,
                        linestyle=linestyle)
    if hatch:
        pc.set_hatch(hatch)
    return pc


def _line_collection(geoms, color, width, zorder=1):
    from matplotlib.collections import LineCollection

    segs = []
    for g in geoms:
        if g is None or g.is_empty:
            continue
        parts = g.geoms if g.geom_type.startswith("Multi") else [g]
        for p in parts:
            if p.geom_type == "LineString":
                segs.append(np.asarray(p.coords)[:, :2])
            elif p.geom_type == "Polygon":
                segs.append(np.asarray(p.exterior.coords)[:, :2])
    return LineCollection(segs, colors=color, linewidths=width, zorder=zorder)


def _text_size_pt(text: str, size: float) -> tuple[float, float]:
    """Approximate width and height (points) of a (multi-line) label: CJK glyphs are square."""
    lines = text.split("\n")
    w = max(sum(1.0 if ord(c) > 0x2E80 else 0.6 for c in line) for line in lines) * size
    return w, len(lines) * size * 1.2


def place_labels(ax, items, *, fig_dpi: float, min_size: float = 5.0, pad_pt: float = 2.0):
    """Draw labels without overlaps.

    ``items``: dicts with ``x``, ``y`` (data), ``text``, ``size`` (pt), ``priority`` (larger first) and
    text options. A label that would collide is tried once at 75 % size, then skipped.
    Returns the number of labels drawn.
    """
    placed: list[tuple[float, float, float, float]] = []
    trans = ax.transData
    px_per_pt = fig_dpi / 72.0
    drawn = 0
    grid: dict[tuple[int, int], list[int]] = {}  # coarse spatial hash of placed boxes (display units)
    cell = 200.0

    def collides(b):
        x0, y0, x1, y1 = b
        for i in range(int(x0 // cell), int(x1 // cell) + 1):
            for j in range(int(y0 // cell), int(y1 // cell) + 1):
                for k in grid.get((i, j), ()):
                    p = placed[k]
                    if x0 < p[2] and x1 > p[0] and y0 < p[3] and y1 > p[1]:
                        return True
        return False

    def add(b):
        placed.append(b)
        k = len(placed) - 1
        for i in range(int(b[0] // cell), int(b[2] // cell) + 1):
            for j in range(int(b[1] // cell), int(b[3] // cell) + 1):
                grid.setdefault((i, j), []).append(k)

    bbox = ax.get_window_extent()
    for it in sorted(items, key=lambda d: -d.get("priority", 0)):
        X, Y = trans.transform((it["x"], it["y"]))
        if not (bbox.x0 <= X <= bbox.x1 and bbox.y0 <= Y <= bbox.y1):
            continue
        for scale in (1.0, 0.75):
            size = it["size"] * scale
            if size < min_size:
                break
            w, h = _text_size_pt(it["text"], size)
            hw, hh = (w / 2 + pad_pt) * px_per_pt, (h / 2 + pad_pt) * px_per_pt
            box = (X - hw, Y - hh, X + hw, Y + hh)
            if not collides(box):
                add(box)
                opts = {k: v for k, v in it.items() if k not in ("x", "y", "text", "size", "priority")}
                ax.text(it["x"], it["y"], it["text"], fontsize=size, ha="center", va="center", **opts)
                drawn += 1
                break
    return drawn


def _north_arrow(ax, label: str, family: str, size_pt: float):
    ax.annotate(label, xy=(0.035, 0.955), xytext=(0.035, 0.885), xycoords="axes fraction",
                ha="center", va="center", fontsize=size_pt, fontfamily=family, fontweight="bold",
                arrowprops=dict(facecolor="black", edgecolor="black", width=size_pt * 0.25, headwidth=size_pt * 0.8,
                                headlength=size_pt * 0.9), zorder=30)


def _fit_limits(bounds, ax_w_in, ax_h_in, margin=0.03):
    x0, y0, x1, y1 = bounds
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    x0, x1, y0, y1 = x0 - w * margin, x1 + w * margin, y0 - h * margin, y1 + h * margin
    w, h = x1 - x0, y1 - y0
    target = ax_w_in / ax_h_in
    if w / h < target:
        extra = (h * target - w) / 2
        x0, x1 = x0 - extra, x1 + extra
    else:
        extra = (w / target - h) / 2
        y0, y1 = y0 - extra, y1 + extra
    return x0, x1, y0, y1


# --------------------------------------------------------------------------- the poster
@dataclass
class _Sheet:
    """What the drawing steps of a poster share: the data in scope, the figure and its map axes."""

    dataset: Dataset
    g: gpd.GeoDataFrame                 # the grids in scope (metric CRS, string ids)
    ok: np.ndarray                      # compliant grids
    colors: dict
    comm_s: gpd.GeoDataFrame | None     # the communities in scope
    comm_ids: list
    scope: object
    scope_name: str | None
    T: dict
    lang: str
    family: str
    crs: CRS
    extent: tuple = ()
    # set by _figure, which every drawing step follows
    fig: Figure = field(init=False)
    ax: Axes = field(init=False)
    k: float = 1.0                      # text and line scale (A2 ≈ 1)
    aw: float = 0.0                     # map axes size in inches
    ah: float = 0.0
    view: shapely.Polygon = field(init=False)
    map_rect: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    side: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    handles: list = field(default_factory=list)
    comp: gpd.GeoDataFrame | None = None

    def in_extent(self, gdf):
        if gdf is None or not len(gdf):
            return gdf
        x0, y0, x1, y1 = self.extent
        return gdf.iloc[gdf.sindex.query(shapely.box(x0, y0, x1, y1), predicate="intersects")]


def render_poster(dataset: Dataset, grids: gpd.GeoDataFrame, path=None, *, paper: str = "A1",
                  orientation: str = "landscape", scope=None, title: str | None = None, dpi: int = 200,
                  coverage=None, isochrones: gpd.GeoDataFrame | None = None, stations: bool | gpd.GeoDataFrame = True,
                  assignment: pd.Series | None = None, lang: str = "zh", formats: Iterable[str] | None = None,
                  colors: dict[str, str] | None = None, data_note: str | None = None, show_buildings: bool = True,
                  show_roads: bool = True, show_compounds: bool = True, date: str | None = None,
                  staff=None, include_personal: bool = False) -> list[Path]:
    """Draw a wall poster and write it as PDF and/or PNG.

    Parameters
    ----------
    grids
        The grid layer (polygons indexed by ``grid_id`` with ``community_id``, ``households``,
        ``compliant``), e.g. :func:`gridplan.metrics.grids`.
    path
        Output file; its suffix (``.pdf`` / ``.png``) picks the format. Without a suffix (or
        ``None`` → ``maps/网格划分图_<paper>``) both are written, unless ``formats`` says otherwise.
    paper, orientation
        ``A0``–``A4``; ``landscape`` or ``portrait``.
    scope
        ``None`` (the whole city), a community id or name, a street name, or a list of community ids.
    dpi
        Resolution of the PNG (the PDF is vector).
    coverage, isochrones, stations
        Optional layers: per-building coverage (``covered``) outlines uncovered buildings in red;
        walking bands (``band_min``); stations (``True`` = ``dataset.stations``, ``False`` = none).
    assignment
        building → grid, to colour buildings by grid (default: by the grid polygon they lie in).
    staff, include_personal
        A :class:`gridplan.staff.StaffAssignment`: each grid label gets a line with its 网格长 and
        phone, masked (``138****5678``) unless ``include_personal``.

    Returns
    -------
    list of Path
        the files written.
    """
    import matplotlib

    t0 = time.perf_counter()
    if lang not in TEXT:
        raise ValueError(f"unknown language {lang!r}; use 'zh' or 'en'")
    paper = paper.upper()
    if paper not in PAPER_MM:
        raise ValueError(f"unknown paper size {paper!r}; use {', '.join(PAPER_MM)}")
    if orientation not in ("landscape", "portrait"):
        raise ValueError("orientation is 'landscape' or 'portrait'")
    family = cjk_font()
    stem, formats = _outputs(path, paper, formats)
    sh = _scope(dataset, grids, scope, colors, lang, family)
    with matplotlib.rc_context(_rc(family)):
        _layout(sh, paper, orientation, dpi)
        _draw_bands(sh, isochrones)
        _draw_areas(sh, show_compounds, show_roads)
        if show_buildings:
            _draw_buildings(sh, assignment, coverage)
        _draw_outlines(sh)
        _draw_stations(sh, stations)
        n_lab = _draw_labels(sh, staff=staff, include_personal=include_personal)
        title = _draw_frame(sh, title, data_note, date)
        _draw_side(sh, orientation)
        t_draw = time.perf_counter() - t0
        written = _write(sh, stem, formats, dpi, title)
    log.info("poster %s %s: %d grids, %d labels, drawn %.1f s, total %.1f s", paper, orientation, len(sh.g), n_lab,
             t_draw, time.perf_counter() - t0)
    return written


def _outputs(path, paper: str, formats) -> tuple[Path, list[str]]:
    """The file stem and formats: the suffix of ``path`` picks the format, none means both."""
    if path is None:
        path = Path("maps") / f"网格划分图_{paper}"
    path = Path(path)
    suffix = path.suffix.lower()
    if formats is None:
        formats = [suffix[1:]] if suffix in (".pdf", ".png") else ["pdf", "png"]
    formats = [f.lower() for f in formats]
    if any(f not in ("pdf", "png") for f in formats):
        raise ValueError("poster formats are 'pdf' and 'png'")
    stem = path.with_suffix("") if suffix in (".pdf", ".png") else path
    stem.parent.mkdir(parents=True, exist_ok=True)
    return stem, formats


def _scope(dataset: Dataset, grids, scope, colors, lang: str, family: str) -> _Sheet:
    """The grids and communities in scope, the extent to draw and the grid colours."""
    from .webmap import _compliant, grid_colors

    scope_name, comm_ids = resolve_scope(dataset, scope)
    crs = dataset.crs
    g = grids.to_crs(crs) if grids.crs is not None and grids.crs != crs else grids
    g = g.copy()
    g.index = g.index.astype(str)
    if scope is not None and "community_id" in g.columns:
        g = g[g["community_id"].astype(str).isin(comm_ids)]
    comm = dataset.communities
    comm_s = comm.loc[comm.index.astype(str).isin(comm_ids)] if comm is not None else None
    if comm_s is not None and len(comm_s):
        extent = comm_s.total_bounds
    elif len(g):
        extent = g.total_bounds
    else:
        extent = dataset.buildings.total_bounds
    colors = colors or grid_colors(grids if grids.crs == crs else grids.to_crs(crs))
    return _Sheet(dataset=dataset, g=g, ok=_compliant(g), colors=colors, comm_s=comm_s, comm_ids=comm_ids,
                  scope=scope, scope_name=scope_name, T=TEXT[lang], lang=lang, family=family, crs=crs,
                  extent=tuple(extent))


def _layout(sh: _Sheet, paper: str, orientation: str, dpi: int) -> None:
    """The figure, the map axes fitted to the extent, and the side panel's place."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    wmm, hmm = PAPER_MM[paper]
    if orientation == "landscape":
        wmm, hmm = hmm, wmm
    W, H = wmm / 25.4, hmm / 25.4
    sh.k = k = (min(W, H) / (420 / 25.4)) ** 0.85 if min(W, H) > 0 else 1.0  # text scale (A2 ≈ 1)
    # a bare Figure on an Agg canvas: no pyplot state, no backend switch (safe in notebooks and threads)
    sh.fig = fig = Figure(figsize=(W, H), dpi=dpi)
    FigureCanvasAgg(fig)
    if orientation == "landscape":
        sh.map_rect = (0.025, 0.075, 0.73, 0.83)
        sh.side = (0.775, 0.075, 0.20, 0.83)
    else:
        sh.map_rect = (0.04, 0.2, 0.92, 0.71)
        sh.side = (0.04, 0.045, 0.92, 0.14)
    sh.ax = ax = fig.add_axes(sh.map_rect)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_linewidth(1.2 * k)
    sh.aw, sh.ah = sh.map_rect[2] * W, sh.map_rect[3] * H
    x0, x1, y0, y1 = _fit_limits(sh.extent, sh.aw, sh.ah)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_facecolor("#fbfbf8")
    sh.view = shapely.box(x0, y0, x1, y1)
    sh.extent = (x0, y0, x1, y1)


def _draw_bands(sh: _Sheet, isochrones) -> None:
    """Walking bands (bottom)."""
    from matplotlib.patches import Patch

    from .webmap import BAND_COLORS
    if isochrones is None or not len(isochrones):
        return
    iso = isochrones.to_crs(sh.crs) if isochrones.crs != sh.crs else isochrones
    bm = iso["band_min"].astype(float).to_numpy()
    bands = sorted(set(bm.tolist()))
    for _i, b_ in enumerate(reversed(bands)):
        geom = shapely.union_all(iso.geometry.to_numpy()[bm == b_]).intersection(sh.view)
        colr = BAND_COLORS[min(bands.index(b_), len(BAND_COLORS) - 1)]
        sh.ax.add_collection(_poly_collection([geom], colr, "none", 0, zorder=1, alpha=0.28))
    for i, b_ in enumerate(bands):
        colr = BAND_COLORS[min(i, len(BAND_COLORS) - 1)]
        sh.handles.append(Patch(facecolor=colr, alpha=0.4, edgecolor="none", label=sh.T["band"].format(m=f"{b_:g}")))


def _draw_areas(sh: _Sheet, show_compounds: bool, show_roads: bool) -> None:
    """Grid fills, compounds (三无 hatched) and roads."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .webmap import SANWU_COLOR, sanwu_mask
    ax, k, T, g = sh.ax, sh.k, sh.T, sh.g
    ax.add_collection(_poly_collection(g.geometry.to_numpy(), [sh.colors.get(i, "#cccccc") for i in g.index],
                                       "none", 0, zorder=2, alpha=0.33))
    sh.comp = comp = sh.in_extent(sh.dataset.compounds) if show_compounds else None
    if comp is not None and len(comp):
        sw = sanwu_mask(comp).to_numpy(dtype=bool)
        ax.add_collection(_poly_collection(comp.geometry.to_numpy()[~sw], "none", "#7a7a7a", 0.35 * k, zorder=3))
        if sw.any():
            ax.add_collection(_poly_collection(comp.geometry.to_numpy()[sw], "none", SANWU_COLOR, 0.9 * k,
                                               zorder=3, hatch="///"))
        sh.handles.append(Patch(facecolor="none", edgecolor="#7a7a7a", label=T["compound"]))
        if sw.any():
            sh.handles.append(Patch(facecolor="none", edgecolor=SANWU_COLOR, hatch="///", label=T["sanwu"]))
    roads = sh.in_extent(sh.dataset.roads) if show_roads else None
    if roads is not None and len(roads):
        ax.add_collection(_line_collection(roads.geometry.to_numpy(), "#b5b5b5", 0.5 * k, zorder=2.5))
        sh.handles.append(Line2D([], [], color="#b5b5b5", lw=1.2, label=T["road"]))


def _draw_buildings(sh: _Sheet, assignment, coverage) -> None:
    """Buildings in their grid's colour (points as dots); uncovered ones outlined in red."""
    from matplotlib.patches import Patch

    from .webmap import UNCOVERED_COLOR, coverage_table
    ax, k = sh.ax, sh.k
    b = sh.in_extent(sh.dataset.buildings)
    if b is None or not len(b):
        return
    if assignment is not None:
        a = pd.Series(assignment)
        a.index = a.index.astype(str)
        bg = a.reindex(b.index.astype(str)).to_numpy()
    else:
        pts = gpd.GeoDataFrame(geometry=b.geometry.representative_point(), crs=sh.crs)
        j = gpd.sjoin(pts, gpd.GeoDataFrame(geometry=sh.g.geometry, crs=sh.crs).reset_index(names="gid"),
                      predicate="within", how="left")
        bg = j[~j.index.duplicated()]["gid"].reindex(pts.index).to_numpy()
    fc = [sh.colors.get(x, "#9e9e9e") if isinstance(x, str) else "#9e9e9e" for x in bg]
    polys = b.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if polys.any():
        ax.add_collection(_poly_collection(b.geometry.to_numpy()[polys], list(np.asarray(fc, dtype=object)[polys]),
                                           "#555555", 0.15 * k, zorder=4))
    if (~polys).any():
        xy = shapely.get_coordinates(b.geometry.to_numpy()[~polys])
        ax.scatter(xy[:, 0], xy[:, 1], s=6 * k, c=list(np.asarray(fc, dtype=object)[~polys]),
                   edgecolors="#555555", linewidths=0.2, zorder=4)
    if coverage is not None:
        cov_t = coverage_table(coverage)
        assert cov_t is not None   # coverage is given
        covered = cov_t["covered"].reindex(b.index.astype(str))
        unc = covered.eq(False).to_numpy()
        if unc.any():
            ax.add_collection(_poly_collection(b.geometry.to_numpy()[unc & polys] if polys.any() else [],
                                               "none", UNCOVERED_COLOR, 0.8 * k, zorder=5))
            sh.handles.append(Patch(facecolor="none", edgecolor=UNCOVERED_COLOR, label=sh.T["uncovered"]))


def _draw_outlines(sh: _Sheet) -> None:
    """Grid outlines (non-compliant dashed red), community boundaries, and a veil outside the scope."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .webmap import NONCOMPLIANT_COLOR
    ax, k, T, g, ok = sh.ax, sh.k, sh.T, sh.g, sh.ok
    ax.add_collection(_poly_collection(g.geometry.to_numpy()[ok], "none", "#2b2b2b", 1.1 * k, zorder=6))
    if (~ok).any():
        ax.add_collection(_poly_collection(g.geometry.to_numpy()[~ok], "none", NONCOMPLIANT_COLOR, 1.8 * k,
                                           zorder=6.5, linestyle=(0, (4, 2))))
    cm_all = sh.dataset.communities
    if cm_all is not None and len(cm_all):
        ax.add_collection(_poly_collection(sh.in_extent(cm_all).geometry.to_numpy(), "none", "#111111", 2.2 * k,
                                           zorder=7, linestyle=(0, (8, 3))))
    sh.handles[:0] = [Patch(facecolor=c, alpha=0.6, edgecolor="#2b2b2b", label=T["grids"] if i == 0 else None)
                      for i, c in enumerate(sorted(set(sh.colors.get(i, "#cccccc") for i in g.index))[:1])]
    if (~ok).any():
        sh.handles.insert(1, Patch(facecolor="none", edgecolor=NONCOMPLIANT_COLOR, linestyle="--", lw=1.5,
                                   label=T["bad"]))
    if cm_all is not None:
        sh.handles.insert(1, Line2D([], [], color="#111111", lw=2, linestyle=(0, (6, 2)), label=T["community"]))
    # outside the scope: veiled, so the scope stands out while its surroundings stay legible
    if sh.scope is not None and sh.comm_s is not None and len(sh.comm_s):
        veil = sh.view.difference(shapely.union_all(sh.comm_s.geometry.to_numpy()))
        if not veil.is_empty:
            ax.add_collection(_poly_collection([veil], (1, 1, 1, 0.6), "none", 0, zorder=6.8))


def _draw_stations(sh: _Sheet, stations) -> None:
    from matplotlib.lines import Line2D

    from .webmap import OTHER_STATION, STATION_STYLE, station_kind_label
    st = sh.dataset.stations if stations is True else (stations if stations is not False else None)
    if st is None or not len(st):
        return
    st = sh.in_extent(st.to_crs(sh.crs) if st.crs != sh.crs else st)
    kinds = st["kind"].astype(str).fillna("other").to_numpy() if "kind" in st.columns else np.full(len(st), "other")
    for kind in [k_ for k_ in list(STATION_STYLE) + sorted(set(kinds) - set(STATION_STYLE)) if k_ in set(kinds)]:
        sty = STATION_STYLE.get(kind, OTHER_STATION)
        sel = st[kinds == kind]
        xy = shapely.get_coordinates(sel.geometry.to_numpy())
        sh.ax.scatter(xy[:, 0], xy[:, 1], s=(sty["radius"] * 2.2 * sh.k) ** 2, c=sty["fillColor"],
                      edgecolors=sty["color"], linewidths=1.2 * sh.k, zorder=9)
        sh.handles.append(Line2D([], [], marker="o", linestyle="none", markersize=8, markerfacecolor=sty["fillColor"],
                                 markeredgecolor=sty["color"], label=_plain(station_kind_label(kind, sh.lang))))


def _draw_labels(sh: _Sheet, *, staff=None, include_personal: bool = False) -> int:
    """Grid labels (priority by area; with ``staff``, a line naming the 网格长), then community names,
    then compounds (scoped posters)."""
    from .webmap import NONCOMPLIANT_COLOR, short_code
    ax, g, ok, T = sh.ax, sh.g, sh.ok, sh.T
    x0, y0, x1, y1 = sh.extent
    ax.apply_aspect()  # final axes box (no full draw needed to place labels)
    items = []
    area_scale = max((x1 - x0) * (y1 - y0), 1.0)
    rp = g.geometry.representative_point()
    hh = pd.to_numeric(g["households"], errors="coerce") if "households" in g.columns else pd.Series(np.nan, index=g.index)
    cid = g["community_id"].astype(str) if "community_id" in g.columns else pd.Series("", index=g.index)
    # label size from the typical grid size on paper
    med_area = float(np.median(g.geometry.area)) if len(g) else area_scale
    side_in = np.sqrt(med_area / area_scale * sh.aw * sh.ah)
    base = float(np.clip(side_in * 72 / 6.0, 5.5, 22.0))
    leaders = {}
    if staff is not None:
        from .i18n import t as tr
        gs = staff.grid_staff(g.index, include_personal=include_personal)
        leaders = {gid: tr("poster_leader", sh.lang, name=_plain(r["leader"]), phone=r["leader_phone"]).strip()
                   for gid, r in gs.iterrows() if r["leader"]}
    for i, gid in enumerate(g.index):
        p = rp.iloc[i]
        h = hh.iloc[i]
        text = short_code(gid, cid.iloc[i]) + ("" if pd.isna(h) else f"\n{int(h)}{T['hh']}")
        if gid in leaders:
            text += f"\n{leaders[gid]}"
        items.append({"x": p.x, "y": p.y, "text": text, "size": base, "priority": 1e6 + g.geometry.iloc[i].area,
                      "color": "#111111" if ok[i] else NONCOMPLIANT_COLOR, "fontweight": "bold", "zorder": 12,
                      "linespacing": 1.05,
                      "bbox": dict(boxstyle="round,pad=0.15", fc=(1, 1, 1, 0.6), ec="none")})
    comm_s, comp = sh.comm_s, sh.comp
    if comm_s is not None and len(comm_s) and "name" in comm_s.columns:
        for nm, geom in zip(comm_s["name"], comm_s.geometry):
            if nm is None or nm != nm:
                continue
            p = geom.representative_point()
            items.append({"x": p.x, "y": p.y - (y1 - y0) * 0.0, "text": _plain(nm), "size": base * 1.5,
                          "priority": 1e12, "color": "#333333", "alpha": 0.75, "zorder": 11})
    if sh.scope is not None and comp is not None and len(comp) and "name" in comp.columns:
        inside = (comp["community_id"].astype(str).isin(sh.comm_ids) if "community_id" in comp.columns
                  else np.ones(len(comp), dtype=bool))
        for nm, geom in zip(comp["name"][inside], comp.geometry[inside]):
            if nm is None or nm != nm:
                continue
            p = geom.representative_point()
            items.append({"x": p.x, "y": p.y, "text": _plain(nm), "size": base * 0.7, "priority": geom.area,
                          "color": "#555555", "zorder": 10})
    # community names go first but sit offset below the grid labels: give them top priority only
    # when they do not cover a grid label (place grids first, then communities, then compounds)
    grid_items = [d for d in items if d["priority"] >= 1e6 and d["priority"] < 1e12]
    other = [d for d in items if not (1e6 <= d["priority"] < 1e12)]
    for d in other:
        if d["priority"] >= 1e12:
            d["priority"] = 5e5
    return place_labels(ax, grid_items + other, fig_dpi=sh.fig.dpi, min_size=max(4.0, base * 0.45))


def _draw_frame(sh: _Sheet, title, data_note, date) -> str:
    """Scale bar, north arrow, title and the data note; returns the title."""
    from matplotlib_scalebar.scalebar import ScaleBar
    k, T, fig = sh.k, sh.T, sh.fig
    sb = ScaleBar(1.0, "m", location="lower left", length_fraction=0.2, box_alpha=0.8,
                  font_properties={"size": 9 * k, "family": sh.family}, width_fraction=0.006,
                  scale_loc="top", border_pad=0.8)
    sb.set_zorder(40)
    sh.ax.add_artist(sb)
    _north_arrow(sh.ax, T["north"], sh.family, 14 * k)
    name = sh.dataset.name or ""
    title = title or (T["title_scope"].format(scope=sh.scope_name) if sh.scope_name else T["title_city"].format(name=name))
    fig.text(0.5, 0.955, _plain(title), ha="center", va="center", fontsize=30 * k, fontweight="bold")
    today = date or _dt.date.today().isoformat()
    crs = sh.crs
    crs_name = f"EPSG:{crs.to_epsg()}" if crs.to_epsg() else crs.name
    g = sh.g
    note = data_note or T["note"].format(name=name, crs=crs_name, n=len(g),
                                         hh=int(pd.to_numeric(g.get("households", pd.Series(dtype=float)),
                                                              errors="coerce").fillna(0).sum()),
                                         pp=int(pd.to_numeric(g.get("persons", pd.Series(dtype=float)),
                                                              errors="coerce").fillna(0).sum()), date=today)
    fig.text(sh.map_rect[0], 0.03, _plain(note), ha="left", va="center", fontsize=9 * k, color="#444444")
    return title


def _draw_side(sh: _Sheet, orientation: str) -> None:
    """The side panel: the overview inset (the whole city, the main map's extent in red) and the legend."""
    from matplotlib.patches import Rectangle
    k, side, fig = sh.k, sh.side, sh.fig
    x0, y0, x1, y1 = sh.extent
    if orientation == "landscape":
        ov = fig.add_axes((side[0], side[1] + side[3] * 0.68, side[2], side[3] * 0.32))
        leg_anchor, ncol = (side[0], side[1] + side[3] * 0.64), 1
    else:
        ov = fig.add_axes((side[0] + side[2] * 0.72, side[1], side[2] * 0.28, side[3]))
        leg_anchor, ncol = (side[0], side[1] + side[3]), 3
    ov.set_aspect("equal")
    ov.set_xticks([])
    ov.set_yticks([])
    comm, comm_s = sh.dataset.communities, sh.comm_s
    if comm is not None and len(comm):
        ov.add_collection(_poly_collection(comm.geometry.to_numpy(), "#eeeeee", "#777777", 0.5 * k))
        ov.add_collection(_poly_collection(comm_s.geometry.to_numpy() if comm_s is not None and len(comm_s) else [],
                                           "#f4a582", "#b2182b", 0.8 * k))
        bx = comm.total_bounds
    else:
        bx = sh.dataset.buildings.total_bounds
    # the overview shows the whole city and, in red, the extent of the main map
    bx = (min(bx[0], x0), min(bx[1], y0), max(bx[2], x1), max(bx[3], y1))
    ox0, ox1, oy0, oy1 = _fit_limits(bx, 1, 1, margin=0.05)
    ov.set_xlim(ox0, ox1)
    ov.set_ylim(oy0, oy1)
    ov.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="#b2182b", lw=1.5 * k, zorder=5))
    ov.set_title(sh.T["overview"], fontsize=10 * k)
    fig.legend(handles=[h_ for h_ in sh.handles if h_.get_label() and not h_.get_label().startswith("_")],
               loc="upper left", bbox_to_anchor=leg_anchor, ncols=ncol, fontsize=11 * k, title=sh.T["legend"],
               title_fontsize=13 * k, frameon=True, borderpad=0.8, labelspacing=0.7)


def _write(sh: _Sheet, stem: Path, formats, dpi: int, title: str) -> list[Path]:
    """Each format written atomically."""
    fig = sh.fig
    written = []
    for fmt in formats:
        out = stem.with_suffix(f".{fmt}")
        with atomic_path(out) as tmp:
            if fmt == "png":
                # RGB (no alpha) at zlib level 1: encoding at level 6 took half the time of an A1 poster
                from PIL import Image
                fig.set_dpi(dpi)
                fig.canvas.draw()
                rgba = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]  # an Agg canvas (_figure)
                Image.fromarray(np.ascontiguousarray(rgba[:, :, :3])).save(
                    tmp, format="PNG", compress_level=1, dpi=(dpi, dpi))
            else:
                fig.savefig(tmp, format="pdf", dpi=dpi, metadata={"Title": title, "Creator": "gridplan"})
        written.append(out)
    return written
