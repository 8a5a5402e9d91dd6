"""The bundled sample city: a seeded, deterministic generator of a plausible district around 什邡市.

:func:`generate_city` writes nothing; it returns the five layers of the *raw input contract* (SPEC §2)
exactly as a user's files would look: EPSG:4326, canonical English field names, ids as string columns,
coordinates rounded to 6 decimals. :func:`write_city` writes them to a folder (GeoJSON) or one
GeoPackage. ``python -m gridplan.sample`` regenerates ``data/sample/``.

How the city is made (all in EPSG:4544 metres, then converted):

* a perturbed, slightly rotated grid of arterial and secondary roads cuts the city into super-blocks;
  the blocks are grouped into contiguous communities (社区) by region growing, and communities into
  3–4 streets (街道) by sector around the centre; two communities are deliberately tiny (220 and 550
  households) so that the grid rule cannot be met there;
* each block is split recursively by local streets into lots; a lot holds one or a few compounds
  (老旧小区/单位宿舍, 安置小区, 商品房小区 with high-rise towers, 院落, 单栋楼), a street-front row of
  shops outside any compound, an urban village of self-built houses outside any compound, a riverside
  park or a non-residential site (school, office);
* compounds get internal paths joined to the street network by gates (a few gates are locked);
* a river (石亭江) crosses the city west to east with a handful of bridges, so that walking across it
  is much longer than the straight line; an expressway (unwalkable) passes the east edge;
* households per community are calibrated to round totals (60,000 for the default city).
"""
from __future__ import annotations

import argparse
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Polygon

from ._atomic import atomic_path
from ._data import data_dir
from .model import LAYERS

log = logging.getLogger(__name__)

__all__ = ["generate_city", "write_city", "tiny_city", "main", "DEFAULT_SEED", "SAMPLE_DIR"]

DEFAULT_SEED = 20261126
#: the bundled sample's folder (``data/sample`` in the repository; an installed gridplan carries a copy)
SAMPLE_DIR = data_dir("sample")

_METRIC_EPSG = 4544  # CGCS2000 / 3-degree Gauss-Kruger CM 105E
_CENTRE_LONLAT = (104.170, 31.130)  # 什邡市 城区
_COUNTY_CODE = "510682"  # 四川省 德阳市 什邡市

# ------------------------------------------------------------------------------------------ names
_STREETS = ["方亭街道", "皂角街道", "雍城街道", "亭江街道", "湔氐街道", "师古街道", "洛水街道", "南泉街道",
            "禾丰街道", "马祖街道", "红白街道", "蓥华街道"]
_COMMUNITIES = ["阳光", "雍城", "亭江", "蓥峰", "金河", "方亭", "皂角", "北街", "南街", "城东", "城西", "学院",
                "红星", "桂花", "银杏", "湔江", "石亭", "龙居", "双盛", "回澜", "八角", "白鱼", "城北", "宏达",
                "明月", "玉泉", "清平", "红豆", "永兴", "文昌", "太平", "长乐", "仁和", "书院", "青云", "柳荫"]
_NUMERALS = "一二三四五六七八九十"
_ROADS_NS = ["蓥华山路", "北京大道", "雍城大道", "方亭路", "亭江路", "师古路", "洛水路", "皂角路", "湔氐路",
             "禾丰路", "金河路", "南泉路", "红豆路", "玉泉路", "宏达路", "东山路", "西山路", "马祖路", "桂花路",
             "银杏路", "八角路", "回澜路"]
_ROADS_EW = ["城北大道", "北街", "人民路", "中山街", "和平街", "解放路", "建设路", "南街", "城南大道", "民主路",
             "团结路", "幸福路", "文化路", "育英路", "康乐路", "公园路", "迎宾路", "钟鼓楼街"]
_LANE_PREFIX = ["文昌", "永兴", "太平", "青云", "福寿", "长乐", "仁和", "兴隆", "吉祥", "如意", "安居", "书院",
                "铁匠", "盐市", "米市", "水井", "竹林", "柳荫", "梨园", "桃园", "槐树", "石板", "马家", "王家",
                "李家", "张家", "杨家", "陈家", "黄家", "刘家", "罗家", "钟家", "紫荆", "学堂", "城隍", "火神"]
_LANE_SUFFIX = ["巷", "巷", "街", "路", "横街"]
_UNITS = ["粮食局", "供销社", "卷烟厂", "磷化工", "电力公司", "水泥厂", "农机站", "人民医院", "中医院", "教育局",
          "交通局", "税务局", "建设银行", "农业银行", "邮电局", "自来水公司", "化肥厂", "酒厂", "棉纺厂", "机械厂",
          "林业局", "水利局", "气象站", "广电局", "公安局", "法院", "检察院", "工商局", "二轻局", "百货公司",
          "蔬菜公司", "食品公司", "印刷厂", "造纸厂", "磷肥厂", "宏达公司", "蓥峰公司", "什邡中学", "七一中学",
          "实验小学", "烟草公司", "农技站", "财政局", "城建局", "运输公司"]
_PLACES = ["蓥华", "雍城", "亭江", "金河", "方亭", "皂角", "北街", "南街", "城东", "城西", "红星", "桂花",
           "银杏", "湔江", "石亭", "龙居", "双盛", "回澜", "八角", "白鱼", "明月", "玉泉", "清平", "红豆",
           "永兴", "文昌", "太平", "长乐", "仁和", "书院", "青云", "柳荫", "福寿", "兴隆", "吉祥", "安居",
           "马家", "王家", "李家", "张家", "杨家", "陈家", "黄家", "刘家", "钟鼓楼", "北京大道", "师古", "洛水"]
_MODERN_PREFIX = ["锦绣", "金桂", "翡翠", "华府", "天悦", "御景", "蓝湾", "紫荆", "香樟", "龙湖", "阳光", "雍城",
                  "蓥华", "亭江", "时代", "盛世", "名都", "世纪", "天府", "凯旋", "铂金", "东方", "中央", "水岸",
                  "滨江", "锦江", "国际", "龙城", "书香", "丽景", "金河", "朗诗", "和院", "云栖", "观澜"]
_MODERN_SUFFIX = ["花园", "华庭", "名城", "公馆", "苑", "府", "家园", "城", "广场", "湾", "小区", "雅居"]
_PROPERTY_COMPANIES = [
    "四川蓥峰物业服务有限公司", "什邡市雍城物业管理有限公司", "什邡亭江物业服务有限公司", "四川金桂物业服务有限公司",
    "德阳锦绣物业管理有限公司", "什邡市方亭物业服务有限公司", "四川宏达物业服务有限公司", "什邡市安居物业服务有限公司",
    "四川天悦物业管理有限公司", "什邡市红豆物业服务有限公司", "四川蜀信物业服务有限公司", "什邡市城投物业管理有限公司",
    "四川龙城物业服务有限公司", "什邡市皂角物业服务有限公司", "德阳华府物业服务有限公司", "四川翡翠物业管理有限公司",
    "什邡市惠民物业服务有限公司", "四川盛世物业服务有限公司", "什邡市嘉和物业管理有限公司"]
_RED_STATIONS = ["雍城印象", "城十里", "郁心红", "亭江先锋", "蓥华山下", "政务服务先锋", "金河邻里", "方亭初心",
                 "皂角同心", "湔江红", "石亭暖心", "书院党群", "红豆相思", "北街温暖巷"]
_MOBILE_PLACES = ["亭江广场", "农贸市场", "钟鼓楼广场", "滨河公园", "雍城公园", "北京大道广场", "客运站", "体育场",
                  "文化馆", "人民公园"]
_RIVER_NAME = "石亭江"
_BRIDGES = ["亭江大桥", "雍城桥", "北京大道桥", "洛水桥", "蓥华桥", "金河桥", "方亭桥", "回澜桥"]
_EXPRESSWAY = "成什绵快速通道"

def _nth(pool: list[str], k: int) -> str:
    """The k-th name of a pool, with 二/三/… appended once the pool is used up."""
    base = pool[k % len(pool)]
    rnd = k // len(pool)
    return base if rnd == 0 else f"{base}{_NUMERALS[min(rnd, 9)]}"


class _Names:
    """Unique names drawn from pools (deterministic for a generator state)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.used: set[str] = set()
        self.phase: dict[str, int] = {}

    def draw(self, prefixes: list[str], suffixes: list[str]) -> str:
        for _ in range(8):
            name = _pick(self.rng, prefixes) + _pick(self.rng, suffixes)
            if name not in self.used:
                self.used.add(name)
                return name
        base = _pick(self.rng, prefixes) + _pick(self.rng, suffixes)
        k = self.phase.get(base, 1) + 1
        while f"{base}{k}期" in self.used:
            k += 1
        self.phase[base] = k
        name = f"{base}{k}期"
        self.used.add(name)
        return name


def _pick(rng: np.random.Generator, seq):
    """One element of a sequence (cheaper than ``rng.choice`` on a list)."""
    return seq[int(rng.integers(len(seq)))]


# ------------------------------------------------------------------------------------------ geometry helpers
def _rects(centre: np.ndarray, u: np.ndarray, v: np.ndarray, cu, cv, length, depth) -> np.ndarray:
    """Rectangles (shapely polygons) centred at (cu, cv) in the frame (u, v) around ``centre``."""
    cu, cv = np.asarray(cu, float), np.asarray(cv, float)
    hl, hd = np.asarray(length, float) / 2, np.asarray(depth, float) / 2
    du = np.stack([-hl, hl, hl, -hl, -hl], axis=1)
    dv = np.stack([-hd, -hd, hd, hd, -hd], axis=1)
    uu = cu[:, None] + du
    vv = cv[:, None] + dv
    xy = centre + uu[..., None] * u + vv[..., None] * v
    return shapely.polygons(xy)


def _uv_box(centre, u, v, u0, u1, v0, v1) -> Polygon:
    return _rects(centre, u, v, [(u0 + u1) / 2], [(v0 + v1) / 2], [u1 - u0], [v1 - v0])[0]


def _to_uv(geom, centre, u, v):
    xy = shapely.get_coordinates(geom) - centre
    return xy @ u, xy @ v


def _ray_exit(start: np.ndarray, direction: np.ndarray, poly: Polygon, reach: float = 2000.0) -> np.ndarray | None:
    """Where the ray from ``start`` (inside ``poly``) along ``direction`` leaves ``poly``."""
    ray = LineString([start, start + direction * reach])
    hit = shapely.intersection(ray, poly.exterior)
    pts = shapely.get_coordinates(hit)
    if len(pts) == 0:
        return None
    d = np.hypot(*(pts - start).T)
    return pts[np.argmin(d)]


def _pack(lo: float, hi: float, length: float, gap: float) -> np.ndarray:
    """Centres of as many segments of ``length`` with ``gap`` between them as fit in [lo, hi], centred."""
    span = hi - lo
    n = int((span + gap) // (length + gap))
    if n <= 0:
        return np.empty(0)
    used = n * length + (n - 1) * gap
    start = lo + (span - used) / 2 + length / 2
    return start + np.arange(n) * (length + gap)


# ------------------------------------------------------------------------------------------ accumulators
@dataclass
class _Acc:
    """Features collected while the city is built (metric coordinates)."""

    roads: list = field(default_factory=list)  # (LineString, kind, name, walkable, is_bridge_line)
    compounds: list = field(default_factory=list)  # dicts
    buildings: list = field(default_factory=list)  # dicts of arrays per lot
    stations: list = field(default_factory=list)


# building kinds → (households-per-floor-per-unit, calibrated?)
_APARTMENT_KINDS = ("walkup", "midrise", "tower")


def _buildings_block(polys, kind, floors, units, households, compound_id, community, ctype) -> dict:
    n = len(polys)
    return {
        "geometry": np.asarray(polys, dtype=object),
        "kind": np.full(n, kind, dtype=object) if isinstance(kind, str) else np.asarray(kind, dtype=object),
        "floors": np.asarray(floors, dtype=np.int64),
        "units": np.asarray(units, dtype=np.int64),
        "households": np.asarray(households, dtype=np.int64),
        "compound_id": np.full(n, compound_id, dtype=object),
        "community": np.full(n, community, dtype=np.int64),
        "ctype": np.full(n, ctype, dtype=object),
    }


# ------------------------------------------------------------------------------------------ the generator
_LOT_TYPES = ("old", "resettle", "modern", "houses", "single", "village", "vacant")


def _lot_type_probs(r: float) -> np.ndarray:
    """Probabilities of :data:`_LOT_TYPES` at normalised distance ``r`` from the centre (0 centre, 1 edge)."""
    centre = np.array([0.34, 0.15, 0.15, 0.10, 0.19, 0.02, 0.05])
    edge = np.array([0.18, 0.25, 0.06, 0.25, 0.10, 0.11, 0.05])
    w = min(max(r, 0.0), 1.0)
    p = (1 - w) * centre + w * edge
    return p / p.sum()


@dataclass
class _Ctx:
    rng: np.random.Generator
    names: _Names
    acc: _Acc
    n_compounds: int = 0


def _fill_lot(ctx: _Ctx, quad: np.ndarray, ltype: str, community: int) -> int:
    """Fill one lot (a convex quadrilateral bounded by road centre lines); return the households placed."""
    rng = ctx.rng
    q = Polygon(quad)
    # frame: u along the longer pair of opposite sides
    s01 = (quad[1] - quad[0] + quad[2] - quad[3]) / 2
    s12 = (quad[2] - quad[1] + quad[3] - quad[0]) / 2
    along = s01 if np.hypot(*s01) >= np.hypot(*s12) else s12
    u = along / np.hypot(*along)
    v = np.array([-u[1], u[0]])
    inner = q.buffer(-9.0, join_style="mitre")
    if inner.is_empty or inner.area < 600 or ltype == "vacant":
        return 0
    centre = np.asarray(inner.centroid.coords[0])
    pu, pv = _to_uv(inner, centre, u, v)
    u0, u1, v0, v1 = pu.min(), pu.max(), pv.min(), pv.max()
    if rng.random() < 0.5:  # flip so that gates and frontages face either side
        v = -v
        u = -u
        u0, u1, v0, v1 = -u1, -u0, -v1, -v0
    households = 0

    if ltype == "village":
        households += _fill_village(ctx, q, inner, centre, u, v, (u0, u1, v0, v1), community)
        return households

    zone = inner
    # street-front shops outside the compound, along the v1 side
    if ltype in ("old", "resettle", "modern", "houses") and v1 - v0 > 70 and rng.random() < 0.4:
        front = shapely.intersection(inner, _uv_box(centre, u, v, u0 - 5, u1 + 5, v1 - 14, v1 + 5))
        zone = shapely.intersection(inner, _uv_box(centre, u, v, u0 - 5, u1 + 5, v0 - 5, v1 - 16))
        w = rng.uniform(8, 14)
        cu = _pack(u0, u1, w, 1.5)
        if len(cu):
            floors = rng.integers(1, 5, len(cu))
            rect = _rects(centre, u, v, cu, np.full(len(cu), v1 - 7.5), np.full(len(cu), w), np.full(len(cu), 11.0))
            ok = shapely.within(rect, front)
            rect, floors = rect[ok], floors[ok]
            hh = np.where(floors <= 1, 0, (floors - 1) * rng.integers(0, 3, len(floors)))
            ctx.acc.buildings.append(_buildings_block(rect, "shop", floors, np.ones(len(rect)), hh, None, community,
                                                      "frontage"))
            households += int(hh.sum())

    # split the zone into strips along u, one compound each
    span = u1 - u0
    if ltype == "single":
        m = max(1, int(span // rng.uniform(45, 70)))
    elif ltype == "old":
        m = max(1, min(4, int(span // 45)))
        m = int(rng.integers(1, m + 1))
    elif ltype == "houses":
        m = 1 if span < 110 else int(rng.integers(1, 3))
    else:
        m = 1
    cuts = np.linspace(u0, u1, m + 1)
    if m > 1:
        cuts[1:-1] += rng.uniform(-0.12, 0.12, m - 1) * span / m
    for k in range(m):
        strip = shapely.intersection(zone, _uv_box(centre, u, v, cuts[k], cuts[k + 1], v0 - 5, v1 + 5))
        if strip.is_empty or strip.geom_type != "Polygon" or strip.area < 500:
            continue
        households += _fill_compound(ctx, q, strip, centre, u, v, ltype, community)
    return households


def _gate(ctx: _Ctx, lot: Polygon, compound: Polygon, start: np.ndarray, direction: np.ndarray, name: str,
          walkable: bool = True) -> np.ndarray | None:
    """A gate from 3 m inside the compound out across the lot's road (0.5 m overshoot); returns the inner end."""
    out_c = _ray_exit(start, direction, compound)
    out_l = _ray_exit(start, direction, lot)
    if out_c is None or out_l is None:
        return None
    inner_end = out_c - direction * 3.0
    outer_end = out_l + direction * 0.5
    if np.dot(outer_end - inner_end, direction) <= 1.0:
        return None
    ctx.acc.roads.append((LineString([inner_end, outer_end]), "gate", name, walkable, False))
    return inner_end


def _fill_compound(ctx: _Ctx, lot: Polygon, strip: Polygon, centre, u, v, ltype: str, community: int) -> int:
    rng = ctx.rng
    su, sv = _to_uv(strip, centre, u, v)
    a0, a1, b0, b1 = su.min(), su.max(), sv.min(), sv.max()
    width, depth = a1 - a0, b1 - b0
    zone = strip.buffer(-3.5, join_style="mitre")
    if zone.is_empty:
        return 0
    names = ctx.names
    if ltype == "old":
        if rng.random() < 0.6:
            cname = names.draw(_UNITS, ["宿舍", "家属院", "职工宿舍", "宿舍区", "生活区"])
        else:
            cname = names.draw(_PLACES, ["小区", "小区", "苑", "里"])
    elif ltype == "resettle":
        cname = names.draw(_PLACES, ["安置小区", "新村", "家园", "安居小区", "小区"])
    elif ltype == "modern":
        cname = names.draw(_MODERN_PREFIX, _MODERN_SUFFIX)
    elif ltype == "houses":
        cname = names.draw(_PLACES, ["院落", "村居", "小院", "院", "居民点"])
    else:
        cname = names.draw(_PLACES + _MODERN_PREFIX, ["大厦", "商住楼", "公寓", "大楼", "楼"])
    ctx.n_compounds += 1
    cid = f"C{ctx.n_compounds:05d}"

    um = (a0 + a1) / 2
    has_path = ltype != "single" and depth > 45 and width > 30
    # buildings ------------------------------------------------------------------------------
    gap_u = 4.5 if has_path else 0.0
    cols = [(a0 + 3.5, um - gap_u), (um + gap_u, a1 - 3.5)] if has_path else [(a0 + 3.5, a1 - 3.5)]
    none: np.ndarray = np.zeros(0)  # each branch below sets the arrays of its buildings
    cu_l, cv_l, L_l, D_l, kind_l, fl_l, un_l, hh_l = (none,) * 8

    def slots(length, dep, gu, gv):
        out_u, out_v = [], []
        rows = _pack(b0 + 3.5, b1 - 3.5, dep, gv)
        for lo, hi in cols:
            for c in _pack(lo, hi, length, gu):
                out_u.extend([c] * len(rows))
                out_v.extend(rows)
        return np.asarray(out_u, float), np.asarray(out_v, float)

    if ltype in ("old", "resettle"):
        length = rng.uniform(18, 45) if ltype == "old" else rng.uniform(30, 54)
        dep = rng.uniform(10.5, 12.5)
        cu, cv = slots(length, dep, rng.uniform(6, 10), rng.uniform(12, 16))
        n = len(cu)
        units = np.full(n, max(1, int(round(length / 15))))
        floors = rng.integers(3, 7, n) if ltype == "old" else rng.integers(5, 8, n)
        kind = np.full(n, "walkup", dtype=object)
        hh = floors * units * 2
        shed = rng.random(n) < (0.12 if ltype == "old" else 0.05)
        kind[shed] = "ancillary"
        floors[shed], units[shed], hh[shed] = 1, 0, 0
        cu_l, cv_l, L_l, D_l = cu, cv, np.full(n, length), np.full(n, dep)
        kind_l, fl_l, un_l, hh_l = kind, floors, units, hh
    elif ltype == "modern":
        big = rng.random() < 0.08
        length, dep = (56.0, 21.0) if big else (rng.uniform(26, 36), rng.uniform(15, 19))
        cu, cv = slots(length, dep, rng.uniform(10, 16), rng.uniform(20, 27))
        n = len(cu)
        mid = rng.random(n) < 0.3
        floors = np.where(mid, 11, rng.integers(15, 31, n))
        units = rng.integers(1, 3, n) + (1 if big else 0)
        hh = floors * units * rng.integers(2, 4, n)
        kind = np.where(mid, "midrise", "tower").astype(object)
        if big and n:  # one or two very large towers (more than 500 households: their own grid)
            sup = rng.choice(n, size=min(n, int(rng.integers(1, 3))), replace=False)
            floors[sup] = rng.integers(32, 35, len(sup))
            units[sup] = 4
            hh[sup] = floors[sup] * 4 * 4
            kind[sup] = "supertower"
        if n > 2:
            j = int(rng.integers(n))
            kind[j], floors[j], units[j], hh[j] = "ancillary", 2, 0, 0
        cu_l, cv_l, L_l, D_l = cu, cv, np.full(n, length), np.full(n, dep)
        kind_l, fl_l, un_l, hh_l = kind, floors, units, hh
    elif ltype == "houses":
        w, d = rng.uniform(10, 14), rng.uniform(9, 12)
        cu, cv = slots(w, d, rng.uniform(3, 5), rng.uniform(3, 5))
        n = len(cu)
        floors = rng.integers(1, 4, n)
        hh = rng.choice([1, 1, 1, 1, 2, 2, 2, 3, 4], n)
        hh = np.minimum(hh, floors + 1)
        cu_l, cv_l, L_l, D_l = cu, cv, np.full(n, w), np.full(n, d)
        kind_l, fl_l, un_l, hh_l = np.full(n, "house", dtype=object), floors, np.ones(n, int), hh
    else:  # single building
        length = min(width - 8, rng.uniform(24, 50))
        dep = min(depth - 8, rng.uniform(11, 16))
        if length < 8 or dep < 6:
            ctx.n_compounds -= 1
            return 0
        is_mid = rng.random() < 0.3
        floors = np.array([11 if is_mid else int(rng.integers(4, 8))])
        units = np.array([max(1, int(round(length / 15)))])
        hh = floors * units * 2
        cu_l, cv_l = np.array([um]), np.array([(b0 + b1) / 2])
        L_l, D_l = np.array([length]), np.array([dep])
        kind_l, fl_l, un_l, hh_l = np.array(["midrise" if is_mid else "walkup"], dtype=object), floors, units, hh

    if len(cu_l) == 0:
        ctx.n_compounds -= 1
        return 0
    rect = _rects(centre, u, v, cu_l, cv_l, L_l, D_l)
    keep = shapely.within(rect, zone)
    if ltype != "single" and keep.sum() > 3:  # leave some slots as green space
        keep &= rng.random(len(keep)) > 0.08
    if not keep.any():
        ctx.n_compounds -= 1
        return 0
    rect = rect[keep]
    kind_l, fl_l, un_l, hh_l = (np.asarray(a)[keep] for a in (kind_l, fl_l, un_l, hh_l))

    # gates and internal path ----------------------------------------------------------------
    start = centre + um * u + ((b0 + b1) / 2) * v
    inner = _gate(ctx, lot, strip, start, -v, f"{cname}大门")
    if inner is not None and has_path:
        far = _ray_exit(start, v, strip)
        if far is not None:
            second = rng.random() < 0.35
            end = far - v * (3.0 if second else 6.0)
            ctx.acc.roads.append((LineString([inner, end]), "path", f"{cname}内部道路", True, False))
            if second:
                _gate(ctx, lot, strip, start, v, f"{cname}侧门", walkable=rng.random() > 0.4)
    ctx.acc.compounds.append({"compound_id": cid, "name": cname, "community": community, "ctype": ltype,
                              "geometry": strip, "lot": lot})
    ctx.acc.buildings.append(_buildings_block(rect, kind_l, fl_l, un_l, hh_l, cid, community, ltype))
    return int(hh_l.sum())


def _fill_village(ctx: _Ctx, lot: Polygon, inner: Polygon, centre, u, v, box, community: int) -> int:
    """Self-built houses outside any compound (城中村), with a lane through the middle."""
    rng = ctx.rng
    u0, u1, v0, v1 = box
    um = (u0 + u1) / 2
    start = centre + um * u + ((v0 + v1) / 2) * v
    a = _ray_exit(start, -v, lot)
    b = _ray_exit(start, v, lot)
    if a is not None and b is not None:
        lane = _pick(rng, _LANE_PREFIX) + "巷"
        ctx.acc.roads.append((LineString([a - v * 0.5, b + v * 0.5]), "path", lane, True, False))
    w, d = rng.uniform(9, 13), rng.uniform(8, 12)
    gu, gv = rng.uniform(2.5, 5), rng.uniform(2.5, 5)
    us: list[float] = []
    vs: list[float] = []
    rows = _pack(v0, v1, d, gv)
    for lo, hi in ((u0, um - 4), (um + 4, u1)):
        for c in _pack(lo, hi, w, gu):
            us.extend([c] * len(rows))
            vs.extend(rows)
    if not us:
        return 0
    cu = np.asarray(us) + rng.uniform(-0.8, 0.8, len(us)) * min(gu, 2) / 2
    cv = np.asarray(vs) + rng.uniform(-0.8, 0.8, len(vs)) * min(gv, 2) / 2
    n = len(cu)
    rect = _rects(centre, u, v, cu, cv, np.full(n, w), np.full(n, d))
    keep = shapely.within(rect, inner) & (rng.random(n) > 0.12)
    rect = rect[keep]
    n = len(rect)
    floors = rng.integers(1, 5, n)
    hh = np.minimum(rng.choice([0, 1, 1, 1, 1, 2, 2, 3], n), floors)
    ctx.acc.buildings.append(_buildings_block(rect, "house", floors, np.ones(n, int), hh, None, community, "village"))
    return int(hh.sum())


def _bsp(quad: np.ndarray, rng: np.random.Generator, max_lot: tuple[float, float], roads: list,
         lane_names: list[str]) -> list[np.ndarray]:
    """Split a convex quad by local streets into lots no longer than ``max_lot`` on either side."""
    out, stack = [], [quad]
    while stack:
        qd = stack.pop()
        d01 = (np.hypot(*(qd[1] - qd[0])) + np.hypot(*(qd[2] - qd[3]))) / 2
        d12 = (np.hypot(*(qd[2] - qd[1])) + np.hypot(*(qd[3] - qd[0]))) / 2
        limit = rng.uniform(*max_lot)
        if max(d01, d12) <= limit:
            out.append(qd)
            continue
        t = rng.uniform(0.38, 0.62)
        if d01 >= d12:
            a = qd[0] + t * (qd[1] - qd[0])
            b = qd[3] + t * (qd[2] - qd[3])
            q1 = np.array([qd[0], a, b, qd[3]])
            q2 = np.array([a, qd[1], qd[2], b])
        else:
            a = qd[1] + t * (qd[2] - qd[1])
            b = qd[0] + t * (qd[3] - qd[0])
            q1 = np.array([qd[0], qd[1], a, b])
            q2 = np.array([b, a, qd[2], qd[3]])
        d = (b - a) / np.hypot(*(b - a))
        roads.append((LineString([a - d * 0.5, b + d * 0.5]), "local",
                      _pick(rng, lane_names) + _pick(rng, _LANE_SUFFIX), True, False))
        stack.extend([q2, q1])
    return out


def _grow_regions(adj: list[set[int]], seeds: list[int], centroids: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Contiguous regions grown from seeds, always extending the smallest region that can grow."""
    label = np.full(len(adj), -1)
    size = np.zeros(len(seeds))
    for r, s in enumerate(seeds):
        label[s] = r
        size[r] = 1
    stuck = np.zeros(len(seeds), bool)
    while (label[allowed] == -1).any() and not stuck.all():
        order = np.lexsort((np.arange(len(seeds)), size))
        progressed = False
        for r in order:
            if stuck[r]:
                continue
            members = np.flatnonzero(label == r)
            frontier = sorted({n for m in members for n in adj[m] if label[n] == -1 and allowed[n]})
            if not frontier:
                stuck[r] = True
                continue
            seed_c = centroids[seeds[r]]
            f = min(frontier, key=lambda n: (np.hypot(*(centroids[n] - seed_c)), n))
            label[f] = r
            size[r] += 1
            progressed = True
            break
        if not progressed:
            break
    return label


def _node_lines(lines: list[LineString]) -> tuple[list[LineString], np.ndarray]:
    """Split every line at its intersections with the others; returns pieces and their source line index."""
    arr = np.asarray(lines, dtype=object)
    tree = shapely.STRtree(arr)
    i, j = tree.query(arr, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    inter = shapely.intersection(arr[i], arr[j])
    parts, idx = shapely.get_parts(inter, return_index=True)
    types = shapely.get_type_id(parts)
    pts_list, owner_pair = [], []
    point = types == 0
    pts_list.append(shapely.get_coordinates(parts[point]))
    owner_pair.append(idx[point])
    lin = np.flatnonzero(types == 1)
    if len(lin):
        for end in (0, -1):
            pts_list.append(shapely.get_coordinates(shapely.get_point(parts[lin], end)))
            owner_pair.append(idx[lin])
    pts = np.concatenate(pts_list)
    pair = np.concatenate(owner_pair)
    line_of = np.concatenate([i[pair], j[pair]])
    pts2 = np.concatenate([pts, pts])
    order = np.argsort(line_of, kind="stable")
    line_of, pts2 = line_of[order], pts2[order]
    bounds = np.searchsorted(line_of, np.arange(len(arr) + 1))
    pieces, source = [], []
    for k, ln in enumerate(arr):
        cuts = pts2[bounds[k]:bounds[k + 1]]
        coords = shapely.get_coordinates(ln)
        if len(cuts) == 0:
            pieces.append(ln)
            source.append(k)
            continue
        seg = np.hypot(*np.diff(coords, axis=0).T)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        total = cum[-1]
        prm = shapely.line_locate_point(ln, shapely.points(cuts))
        inside = (prm > 1e-7) & (prm < total - 1e-7)
        prm, cuts = prm[inside], cuts[inside]
        o = np.argsort(prm, kind="stable")
        prm, cuts = prm[o], cuts[o]
        if len(prm):
            uniq = np.concatenate([[True], np.diff(prm) > 1e-7])
            prm, cuts = prm[uniq], cuts[uniq]
        events = [(0.0, coords[0])] + list(zip(prm, cuts)) + [(total, coords[-1])]
        for (pa, ca), (pb, cb) in zip(events[:-1], events[1:]):
            mid = [coords[m] for m in range(1, len(coords) - 1) if pa + 1e-7 < cum[m] < pb - 1e-7]
            pieces.append(LineString([ca, *mid, cb]))
            source.append(k)
    return pieces, np.asarray(source)


@dataclass
class _Frame:
    """The perturbed, rotated road grid the city is laid on: ``nodes[i, j]`` (metric) and the same in the
    local, unrotated frame (``nodes_local``; ``xs``/``ys`` are its unperturbed lines)."""

    xs: np.ndarray
    ys: np.ndarray
    gx: np.ndarray
    gy: np.ndarray
    nodes_local: np.ndarray
    nodes: np.ndarray
    rot: np.ndarray
    origin: np.ndarray

    @property
    def nx(self) -> int:
        return len(self.xs) - 1

    @property
    def ny(self) -> int:
        return len(self.ys) - 1

    def place(self, local_xy) -> np.ndarray:
        """Local coordinates → metric coordinates."""
        return np.asarray(local_xy) @ self.rot.T + self.origin


def _road_grid(rng: np.random.Generator, n_blocks: int, block_m: float) -> _Frame:
    """Stage 1: about ``n_blocks`` blocks of about ``block_m`` on a perturbed grid, rotated by up to 12°."""
    to_metric = Transformer.from_crs(4326, _METRIC_EPSG, always_xy=True)
    ox, oy = to_metric.transform(*_CENTRE_LONLAT)
    origin = np.array([round(ox, -1), round(oy, -1)])
    nx = max(2, int(round(math.sqrt(n_blocks * 4 / 3))))
    ny = max(2, int(math.ceil(n_blocks / nx)))
    block_m = block_m * math.sqrt(n_blocks / (nx * ny))  # keep the city's area in step with n_blocks
    xs = np.concatenate([[0.0], np.cumsum(block_m * rng.uniform(0.8, 1.2, nx))])
    ys = np.concatenate([[0.0], np.cumsum(block_m * rng.uniform(0.8, 1.2, ny))])
    xs -= xs[-1] / 2
    ys -= ys[-1] / 2
    gx = xs[:, None] + rng.uniform(-0.07, 0.07, (nx + 1, ny + 1)) * block_m
    gy = ys[None, :] + rng.uniform(-0.07, 0.07, (nx + 1, ny + 1)) * block_m
    angle = math.radians(rng.uniform(-12, 12))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    nodes_local = np.stack([gx, gy], axis=-1)  # (nx+1, ny+1, 2)
    nodes = (nodes_local.reshape(-1, 2) @ rot.T + origin).reshape(nodes_local.shape)
    return _Frame(xs=xs, ys=ys, gx=gx, gy=gy, nodes_local=nodes_local, nodes=nodes, rot=rot, origin=origin)


def _river(rng: np.random.Generator, fr: _Frame) -> tuple[np.ndarray, np.ndarray, LineString]:
    """Stage 2: the river, west → east through the middle band; its local x and y and its metric line."""
    xs, ys = fr.xs, fr.ys
    rx = np.arange(xs[0] - 800, xs[-1] + 800, 20.0)
    ry0 = rng.uniform(-0.12, 0.12) * (ys[-1] - ys[0])
    ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)
    lam = rng.uniform(2200, 3200)
    ry = (ry0 + 110 * np.sin(2 * np.pi * rx / lam + ph1) + 45 * np.sin(2 * np.pi * rx / (lam / 2.7) + ph2)
          + rng.uniform(-0.06, 0.06) * rx)
    river_local = np.column_stack([rx, ry])
    return rx, ry, LineString(fr.place(river_local))


def _community_blocks(rng: np.random.Generator, fr: _Frame, rx: np.ndarray, ry: np.ndarray, n_tiny: int,
                      n_regular: int) -> tuple[list[np.ndarray], np.ndarray, list[int], np.ndarray]:
    """Stage 3: the blocks (corner quads), the community of each, the blocks of the tiny communities and the
    blocks' local centres. Communities grow from seeds spread on each side of the river."""
    nodes, nodes_local, nx, ny = fr.nodes, fr.nodes_local, fr.nx, fr.ny
    blocks, bij = [], []
    for i in range(nx):
        for j in range(ny):
            blocks.append(np.array([nodes[i, j], nodes[i + 1, j], nodes[i + 1, j + 1], nodes[i, j + 1]]))
            bij.append((i, j))
    nb = len(blocks)
    cen_local = np.array([nodes_local[i:i + 2, j:j + 2].reshape(-1, 2).mean(axis=0) for i, j in bij])
    side = cen_local[:, 1] > np.interp(cen_local[:, 0], rx, ry)  # north of the river
    adj: list[set[int]] = [set() for _ in range(nb)]
    index = {ij: k for k, ij in enumerate(bij)}
    for k, (i, j) in enumerate(bij):
        for di, dj in ((1, 0), (0, 1)):
            n2 = index.get((i + di, j + dj))
            if n2 is not None and side[k] == side[n2]:
                adj[k].add(n2)
                adj[n2].add(k)

    allowed = np.ones(nb, bool)
    tiny_blocks: list[int] = []
    if n_tiny:
        s = cen_local.sum(axis=1)
        cands = [int(np.argmax(s)), int(np.argmin(s))]  # north-east and south-west corners
        for c in cands[:n_tiny]:
            tiny_blocks.append(c)
            allowed[c] = False
    # seeds: per river side, proportional to its blocks, spread by farthest-point sampling
    seeds: list[int] = []
    groups = [np.flatnonzero(allowed & side), np.flatnonzero(allowed & ~side)]
    share = np.array([len(g) for g in groups], float)
    n_north = int(round(n_regular * share[0] / share.sum())) if share.sum() else 0
    n_north = min(max(n_north, 1 if len(groups[0]) else 0), len(groups[0]), n_regular)
    n_south = n_regular - n_north
    if n_south > len(groups[1]):
        n_south = len(groups[1])
        n_north = n_regular - n_south
    for g, cnt in ((groups[0], n_north), (groups[1], n_south)):
        if cnt <= 0:
            continue
        first = int(g[rng.integers(len(g))])
        chosen = [first]
        d = np.hypot(*(cen_local[g] - cen_local[first]).T)
        while len(chosen) < cnt:
            nxt = int(g[np.argmax(d)])
            chosen.append(nxt)
            d = np.minimum(d, np.hypot(*(cen_local[g] - cen_local[nxt]).T))
        seeds.extend(chosen)
    label = _grow_regions(adj, seeds, cen_local, allowed)
    for t, b in enumerate(tiny_blocks):
        label[b] = n_regular + t
    if (label < 0).any():  # blocks unreachable from any seed join their nearest labelled neighbour
        for b in np.flatnonzero(label < 0).tolist():
            lab = np.flatnonzero(label >= 0)
            label[b] = label[lab[np.argmin(np.hypot(*(cen_local[lab] - cen_local[b]).T))]]
    return blocks, label, tiny_blocks, cen_local


def _streets_and_names(rng: np.random.Generator, comm_polys: list) -> tuple[np.ndarray, int, list[str], list[str]]:
    """Stage 4: the street of each community (sectors around the centre), and the communities' codes and names
    (codes per street, north → south, west → east)."""
    n_comm = len(comm_polys)
    comm_cen = np.array([np.asarray(p.centroid.coords[0]) for p in comm_polys])
    city_c = comm_cen.mean(axis=0)
    n_streets = 1 if n_comm < 3 else max(3 if n_comm >= 6 else 1, min(len(_STREETS), int(round(n_comm / 4.5))))
    ang = np.arctan2(comm_cen[:, 1] - city_c[1], comm_cen[:, 0] - city_c[0])
    start = rng.uniform(-np.pi, np.pi)
    order = np.argsort((ang - start) % (2 * np.pi), kind="stable")
    street_of = np.empty(n_comm, int)
    for s_i, chunk in enumerate(np.array_split(order, n_streets)):
        street_of[chunk] = s_i
    comm_code, comm_name = [""] * n_comm, [""] * n_comm
    name_order = rng.permutation(len(_COMMUNITIES))
    k_name = 0
    for s_i in range(n_streets):
        members = np.flatnonzero(street_of == s_i)
        members = members[np.lexsort((comm_cen[members, 0], -np.round(comm_cen[members, 1], -2)))]
        for serial, c in enumerate(members, start=1):
            comm_code[c] = f"{_COUNTY_CODE}{s_i + 1:03d}{serial:03d}"
            comm_name[c] = _nth([_COMMUNITIES[q] for q in name_order], k_name) + "社区"
            k_name += 1
    if "阳光社区" in comm_name and street_of[comm_name.index("阳光社区")] != 0:  # 方亭街道阳光社区, as in the article
        a = comm_name.index("阳光社区")
        b0 = int(np.flatnonzero(street_of == 0)[0])
        comm_name[a], comm_name[b0] = comm_name[b0], comm_name[a]
    return street_of, n_streets, comm_code, comm_name


def _main_roads(rng: np.random.Generator, acc: _Acc, fr: _Frame, river: LineString, comm_polys: list) -> set[int]:
    """Stage 5: the arterial / secondary grid, the expressway and the riverside roads (into ``acc.roads``);
    returns the north-south lines that keep their river crossing (bridges)."""
    nodes, nodes_local, nx, ny, ys = fr.nodes, fr.nodes_local, fr.nx, fr.ny, fr.ys
    for i in range(nx + 1):  # north-south lines
        kind = "arterial" if (i in (0, nx) or i % 2 == 0) else "secondary"
        name = _nth(_ROADS_NS, i)
        for j in range(ny):
            acc.roads.append((LineString([nodes[i, j], nodes[i, j + 1]]), kind, name, True, ("ns", i)))
    for j in range(ny + 1):
        kind = "arterial" if (j in (0, ny) or j % 2 == 0) else "secondary"
        name = _nth(_ROADS_EW, j)
        for i in range(nx):
            acc.roads.append((LineString([nodes[i, j], nodes[i + 1, j]]), kind, name, True, False))
        if kind == "arterial":  # leaves the city eastwards, under the expressway
            e = nodes_local[nx, j]
            acc.roads.append((LineString(fr.place([e, e + [260.0, 0.0]])), kind, name, True, False))
    # bridges: a few north-south lines keep their river crossing
    n_bridges = max(2, int(round((nx + 1) / 3)))
    bridge_lines = set(np.unique(np.round(np.linspace(1, nx - 1, n_bridges) + rng.uniform(-0.4, 0.4, n_bridges))
                                 .astype(int).clip(0, nx)).tolist())
    exp_x = fr.gx[nx].max() + 70
    acc.roads.append((LineString(fr.place([[exp_x, ys[0] - 500], [exp_x, ys[-1] + 500]])), "arterial",
                      _EXPRESSWAY, False, "bridge"))
    # riverside roads
    city_poly = shapely.union_all(comm_polys)
    for off, nm in ((30.0, "滨江北路"), (-30.0, "滨江南路")):
        bank = shapely.intersection(river.offset_curve(off), city_poly)
        for part in shapely.get_parts(bank):
            if part.geom_type == "LineString" and part.length > 20:
                acc.roads.append((part, "secondary", nm, True, False))
    return bridge_lines


def _fill_blocks(ctx: _Ctx, blocks: list[np.ndarray], label: np.ndarray, tiny_blocks: list[int],
                 cen_local: np.ndarray, park_zone, tiny_households: tuple[int, ...]) -> None:
    """Stage 6: lots, compounds and buildings in every block (into ``ctx.acc``); lots by the river stay parks.
    A tiny community fills its lots nearest the block's centre until it has about its households."""
    rng, acc = ctx.rng, ctx.acc
    dist = np.hypot(*(cen_local - cen_local.mean(axis=0)).T)
    r_norm = dist / max(dist.max(), 1.0)
    tiny_index = {b: t for t, b in enumerate(tiny_blocks)}
    for k in range(len(blocks)):
        lots = _bsp(blocks[k], rng, (150.0, 260.0), acc.roads, _LANE_PREFIX)
        c = int(label[k])
        if k in tiny_index:
            target = tiny_households[tiny_index[k]]
            lc = np.array([Polygon(q).centroid.coords[0] for q in lots])
            bc = np.asarray(Polygon(blocks[k]).centroid.coords[0])
            got = 0
            for q_i in np.argsort(np.hypot(*(lc - bc).T), kind="stable"):
                if got >= target * 0.9 or Polygon(lots[q_i]).intersects(park_zone):
                    continue
                got += _fill_lot(ctx, lots[q_i], "old" if rng.random() < 0.6 else "houses", c)
            continue
        probs = _lot_type_probs(r_norm[k])
        for q in lots:
            if Polygon(q).intersects(park_zone):
                continue
            ltype = _LOT_TYPES[rng.choice(len(_LOT_TYPES), p=probs)]
            _fill_lot(ctx, q, ltype, c)


def _building_arrays(rng: np.random.Generator, acc: _Acc, scale: float, n_regular: int) -> dict[str, np.ndarray]:
    """Stage 7: the buildings as arrays, with a handful of very large towers (> 500 households) whatever the
    draw (the largest towers are promoted)."""
    b = {key: np.concatenate([blk[key] for blk in acc.buildings]) for key in acc.buildings[0]}
    n_super = max(1, int(round(5 * scale * n_regular / 16))) if n_regular else 0
    have = int((b["kind"] == "supertower").sum())
    if have < n_super:
        area = shapely.area(b["geometry"])
        cand = np.flatnonzero((b["kind"] == "tower") & (b["community"] < n_regular))
        for k in cand[np.argsort(-area[cand], kind="stable")][:n_super - have]:
            b["kind"][k] = "supertower"
            b["units"][k] = 4
            b["floors"][k] = int(rng.integers(32, 35))
            b["households"][k] = b["floors"][k] * 16
    return b


def _people(rng: np.random.Generator, b: dict[str, np.ndarray], *, n_regular: int, n_tiny_blocks: int,
            total_target: int, tiny_households: tuple[int, ...], tiny_persons: tuple[int, ...],
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Stage 8: households calibrated to the targets per community, persons and party members per building;
    also the factor the regular communities' households were scaled by."""
    n_comm = n_regular + n_tiny_blocks
    hh = b["households"].astype(np.int64)
    comm = b["community"]
    kinds = b["kind"]
    scalable = np.isin(kinds, _APARTMENT_KINDS)
    regular_target = total_target - sum(tiny_households[:n_tiny_blocks])
    targets = np.zeros(n_comm, np.int64)
    reg = np.arange(n_regular)
    raw_reg = np.array([hh[comm == c].sum() for c in reg], float)
    f_global = regular_target / max(raw_reg.sum(), 1.0)
    log.debug("households: raw %d for a target of %d (factor %.3f)", raw_reg.sum(), regular_target, f_global)
    targets[reg] = np.floor(raw_reg * f_global).astype(np.int64)
    if n_regular:
        targets[int(np.argmax(raw_reg))] += regular_target - targets[reg].sum()
    for t in range(n_tiny_blocks):
        targets[n_regular + t] = tiny_households[t]
    for c in range(n_comm):
        idx = np.flatnonzero(comm == c)
        hh[idx] = _calibrate(hh[idx], scalable[idx] | (hh[idx] > 0) & (c >= n_regular), targets[c], rng)
    house_like = np.isin(kinds, ("house",))
    lam = np.where(house_like, 2.1, 1.65)
    persons = hh + rng.poisson(hh * lam)
    for t in range(n_tiny_blocks):
        c = n_regular + t
        idx = np.flatnonzero(comm == c)
        persons[idx] = hh[idx] + _calibrate(persons[idx] - hh[idx], hh[idx] > 0,
                                            tiny_persons[t] - hh[idx].sum(), rng)
    # at least half of the very large towers exceed the person bound too (1,500), so that they are
    # "larger than a grid" under every rule mode
    sup = np.flatnonzero(b["kind"] == "supertower")
    sup = sup[np.argsort(-hh[sup], kind="stable")][:max(1, (len(sup) + 1) // 2)] if len(sup) else sup
    persons[sup] = np.maximum(persons[sup], np.maximum(1520, np.round(hh[sup] * rng.uniform(2.85, 3.1, len(sup)))))
    p_party = np.where(b["ctype"] == "old", 0.075, 0.045)
    party = rng.binomial(persons, p_party)
    return hh, persons, party, f_global


def _compound_attributes(rng: np.random.Generator, comps: list[dict], hh: np.ndarray,
                         building_compound: np.ndarray) -> dict[str, np.ndarray]:
    """Stage 9: per compound, its property company, the three 三无 flags (about 15 % 三无, mostly old
    compounds) and its party organisation (about a third, larger compounds more likely)."""
    ncp = len(comps)
    cids = np.array([cp["compound_id"] for cp in comps], dtype=object)
    ctype = np.array([cp["ctype"] for cp in comps], dtype=object)
    comp_hh = pd.Series(hh, index=building_compound).groupby(level=0).sum().reindex(cids).fillna(0).to_numpy()
    w_sw = np.select([ctype == "old", ctype == "single", ctype == "houses", ctype == "resettle"],
                     [0.30, 0.35, 0.35, 0.03], 0.0)
    n_sw = int(round(0.15 * ncp))
    sanwu = np.zeros(ncp, bool)
    if n_sw and w_sw.sum() > 0:
        sanwu[rng.choice(ncp, size=min(n_sw, int((w_sw > 0).sum())), replace=False, p=w_sw / w_sw.sum())] = True
    p_mgmt = np.select([ctype == "modern", ctype == "resettle", ctype == "old", ctype == "single"],
                       [1.0, 0.95, 0.85, 0.8], 0.7)
    p_dept = np.select([ctype == "old", ctype == "resettle"], [0.7, 0.5], 0.1)
    p_owner = np.select([ctype == "modern", ctype == "resettle", ctype == "old"], [0.6, 0.3, 0.15], 0.05)
    has_mgmt = (rng.random(ncp) < p_mgmt) & ~sanwu
    has_dept = (rng.random(ncp) < p_dept) & ~sanwu
    has_owner = (rng.random(ncp) < p_owner) & ~sanwu
    fix = ~sanwu & ~has_mgmt & ~has_dept & ~has_owner
    has_dept |= fix
    company = np.array([_pick(rng, _PROPERTY_COMPANIES) if m else None for m in has_mgmt], dtype=object)
    n_party = int(round(ncp / 3))
    w_party = np.sqrt(comp_hh + 1) * np.where(np.isin(ctype, ("modern", "resettle")), 2.0, 1.0)
    party_org = np.full(ncp, None, dtype=object)
    if n_party:
        chosen = rng.choice(ncp, size=min(n_party, ncp), replace=False, p=w_party / w_party.sum())
        party_org[chosen] = np.where((comp_hh[chosen] >= 250) | (rng.random(len(chosen)) < 0.3),
                                     "独立党支部", "联合党支部")
    return {"compound_id": cids, "property_company": company, "has_property_mgmt": has_mgmt,
            "has_competent_dept": has_dept, "has_owners_committee": has_owner, "party_org": party_org}


def _clean_roads(roads: list, bridge_lines: set[int], river: LineString, river_poly
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, str]]:
    """Stage 11: roads cut at the river (except bridges), noded, tiny dangling pieces dropped; walkable
    pieces over the river named as bridges. Returns pieces, kinds, names, walkable and the bridge names."""
    lines, kinds_r, names_r, walk_r = [], [], [], []
    for geom, kind, name, walk, tag in roads:
        is_bridge = tag == "bridge" or (isinstance(tag, tuple) and tag[1] in bridge_lines)
        if not is_bridge and geom.intersects(river_poly):
            geom = shapely.difference(geom, river.buffer(29.0))
        for part in shapely.get_parts(geom):
            if part.geom_type == "LineString" and part.length > 0.01:
                lines.append(part)
                kinds_r.append(kind)
                names_r.append(name)
                walk_r.append(walk)
    noded, src = _node_lines(lines)
    pieces = np.asarray(noded, dtype=object)
    length = shapely.length(pieces)
    ends = np.concatenate([shapely.get_coordinates(shapely.get_point(pieces, 0)),
                           shapely.get_coordinates(shapely.get_point(pieces, -1))])
    keys = [tuple(p) for p in np.round(ends, 6)]
    _, inv, counts = np.unique(np.asarray(keys), axis=0, return_inverse=True, return_counts=True)
    deg = counts[inv.ravel()]
    dangling = (deg[:len(pieces)] == 1) | (deg[len(pieces):] == 1)
    keep = (length > 1e-3) & ~(dangling & (length < 1.5))
    pieces, src = pieces[keep], src[keep]
    kinds = np.asarray(kinds_r, dtype=object)[src]
    names = np.asarray(names_r, dtype=object)[src]
    walk = np.asarray(walk_r, dtype=bool)[src]
    on_river = shapely.intersects(pieces, river_poly) & walk
    bridge_names: dict[str, str] = {}
    for k in np.flatnonzero(on_river):
        key = names[k]
        if key not in bridge_names:
            bridge_names[key] = _BRIDGES[len(bridge_names) % len(_BRIDGES)]
        names[k] = bridge_names[key]
    return pieces, kinds, names, walk, bridge_names


def _lonlat_layers(metric: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    """Stage 13: the layers in EPSG:4326. Road pieces shorter than the 6-decimal rounding collapse to a point:
    they are dropped (their ends merge), from ``metric["roads"]`` too, and the roads renumbered."""
    layers = {name: _to_lonlat(g) for name, g in metric.items()}
    rd = layers["roads"]
    ok = shapely.get_num_coordinates(rd.geometry.array) >= 2
    ok &= np.array([len(set(map(tuple, shapely.get_coordinates(g)))) >= 2 for g in rd.geometry.array])
    if not ok.all():
        keep_idx = np.flatnonzero(ok)
        rd = rd.iloc[keep_idx].reset_index(drop=True)
        rd["road_id"] = [f"R{k + 1:06d}" for k in range(len(rd))]
        layers["roads"] = rd
        metric["roads"] = metric["roads"].iloc[keep_idx].reset_index(drop=True).assign(road_id=rd["road_id"].values)
    return layers


def _generate(*, seed: int = DEFAULT_SEED, n_communities: int = 18, scale: float = 1.0,
              households_per_community: float = 60000 / 18, block_m: float = 440.0,
              tiny_households: tuple[int, ...] = (220, 550), tiny_persons: tuple[int, ...] = (600, 1650),
              ) -> tuple[dict[str, gpd.GeoDataFrame], dict]:
    """Build the city; returns the five layers (EPSG:4326) and extras (river, metric layers, figures).

    The stages run in a fixed order on one random generator (each draws from it in turn), so a seed
    always gives the same city.
    """
    if n_communities < 1:
        raise ValueError("n_communities must be at least 1")
    if not scale > 0:
        raise ValueError("scale must be positive")
    rng = np.random.default_rng(seed)
    acc = _Acc()
    ctx = _Ctx(rng=rng, names=_Names(rng), acc=acc)
    n_tiny = len(tiny_households) if n_communities >= 6 else 0
    n_regular = n_communities - n_tiny
    n_blocks = max(n_communities, int(round(n_tiny + 3.5 * n_regular * scale)))

    fr = _road_grid(rng, n_blocks, block_m)
    rx, ry, river = _river(rng, fr)
    river_poly = river.buffer(20.0)
    park_zone = river.buffer(45.0)
    blocks, label, tiny_blocks, cen_local = _community_blocks(rng, fr, rx, ry, n_tiny, n_regular)
    n_comm = n_regular + len(tiny_blocks)
    comm_polys = [shapely.union_all(shapely.polygons([blocks[k] for k in np.flatnonzero(label == c)]))
                  for c in range(n_comm)]
    city_c = np.array([np.asarray(p.centroid.coords[0]) for p in comm_polys]).mean(axis=0)
    street_of, n_streets, comm_code, comm_name = _streets_and_names(rng, comm_polys)
    bridge_lines = _main_roads(rng, acc, fr, river, comm_polys)
    _fill_blocks(ctx, blocks, label, tiny_blocks, cen_local, park_zone, tiny_households)
    b = _building_arrays(rng, acc, scale, n_regular)
    nbld = len(b["geometry"])
    hh, persons, party, f_global = _people(rng, b, n_regular=n_regular, n_tiny_blocks=len(tiny_blocks),
                                           total_target=round(households_per_community * n_communities * scale),
                                           tiny_households=tiny_households, tiny_persons=tiny_persons)
    comps = acc.compounds
    attrs = _compound_attributes(rng, comps, hh, b["compound_id"])
    # stage 10: red stations, 郁心站, mobile stops and service centres
    stations = _place_stations(rng, comm_polys, comm_name, street_of, n_streets, scale, n_communities, acc,
                               city_c)
    pieces, kinds_r, names_r, walk_r, bridge_names = _clean_roads(acc.roads, bridge_lines, river, river_poly)

    # stage 12: the layers (metric)
    crs = f"EPSG:{_METRIC_EPSG}"
    communities = gpd.GeoDataFrame({
        "community_id": comm_code,
        "name": comm_name,
        "street": [_nth(_STREETS, s) for s in street_of],
        "street_id": [f"{_COUNTY_CODE}{s + 1:03d}" for s in street_of],
    }, geometry=comm_polys, crs=crs).sort_values("community_id", kind="stable").reset_index(drop=True)
    code_of = np.asarray(comm_code, dtype=object)
    compounds = gpd.GeoDataFrame({
        "compound_id": attrs["compound_id"],
        "name": [cp["name"] for cp in comps],
        "community_id": code_of[[cp["community"] for cp in comps]],
        **{k: attrs[k] for k in ("property_company", "has_property_mgmt", "has_competent_dept",
                                 "has_owners_committee", "party_org")},
    }, geometry=[cp["geometry"] for cp in comps], crs=crs)
    buildings = gpd.GeoDataFrame({
        "building_id": [f"B{k + 1:06d}" for k in range(nbld)],
        "households": hh.astype(np.int64),
        "persons": persons.astype(np.int64),
        "party_members": party.astype(np.int64),
        "floors": b["floors"].astype(np.int64),
        "units": b["units"].astype(np.int64),
        "building_no": _building_numbers(b["compound_id"], b["units"]),
        "compound_id": b["compound_id"],
        "community_id": code_of[b["community"]],
    }, geometry=b["geometry"], crs=crs)
    roads = gpd.GeoDataFrame({
        "road_id": [f"R{k + 1:06d}" for k in range(len(pieces))],
        "kind": kinds_r,
        "walkable": walk_r,
        "name": names_r,
    }, geometry=pieces, crs=crs)
    st = gpd.GeoDataFrame({
        "station_id": [f"S{k + 1:04d}" for k in range(len(stations))],
        "name": [s_[0] for s_ in stations],
        "kind": [s_[1] for s_ in stations],
        "community_id": code_of[[s_[2] for s_ in stations]],
    }, geometry=shapely.points([s_[3] for s_ in stations]), crs=crs)
    metric = {"communities": communities, "compounds": compounds, "buildings": buildings, "roads": roads,
              "stations": st}
    layers = _lonlat_layers(metric)
    extras = {
        "metric": metric,
        "river": gpd.GeoSeries([river], crs=crs),
        "river_polygon": gpd.GeoSeries([river_poly], crs=crs),
        "river_name": _RIVER_NAME,
        "bridges": sorted(set(bridge_names.values())),
        "household_factor": f_global,
        "tiny_communities": [code_of[n_regular + t] for t in range(len(tiny_blocks))],
    }
    log.info("sample city (seed %s): %d communities, %d compounds, %d buildings, %d households, %d roads",
             seed, n_comm, len(comps), nbld, int(hh.sum()), len(roads))
    return layers, extras


#: a compound whose building layer carries one building number twice, a data-entry slip kept on purpose
#: (the sample roster, :mod:`gridplan.sample_roster`, shows the ambiguous match it causes)
_DOUBLE_NUMBER_COMPOUND = "C00515"


def _building_numbers(compound_ids, units) -> list:
    """楼栋号 within each compound: 1, 2, … in the order the dwellings were laid out (sheds and
    clubhouses, ``units == 0``, and buildings outside compounds get none). No random draw."""
    out: list = [None] * len(units)
    seen: dict = {}
    for k, (cid, u) in enumerate(zip(compound_ids, units)):
        if cid is not None and cid == cid and u > 0:
            seen[cid] = seen.get(cid, 0) + 1
            out[k] = str(seen[cid])
    if seen.get(_DOUBLE_NUMBER_COMPOUND, 0) >= 4:
        last = max(k for k, cid in enumerate(compound_ids) if cid == _DOUBLE_NUMBER_COMPOUND and out[k] is not None)
        out[last] = "3"
    return out


def _calibrate(values: np.ndarray, mask: np.ndarray, target: int, rng: np.random.Generator) -> np.ndarray:
    """Scale the masked values so that the total equals ``target`` (integers ≥ 1 where scaled)."""
    v = values.astype(np.int64).copy()
    mask = np.asarray(mask, bool)
    if not mask.any():
        return v
    fixed = v[~mask].sum()
    want = int(target) - int(fixed)
    cur = v[mask].sum()
    if cur <= 0 or want <= mask.sum():
        return v
    scaled = np.maximum(1, np.round(v[mask] * (want / cur))).astype(np.int64)
    idx = np.flatnonzero(mask)
    diff = want - scaled.sum()
    while diff != 0:
        step = 1 if diff > 0 else -1
        pool = np.arange(len(scaled)) if step > 0 else np.flatnonzero(scaled > 1)
        if len(pool) == 0:
            break
        pick = rng.choice(pool, size=min(abs(diff), len(pool)), replace=False)
        scaled[pick] += step
        diff = want - scaled.sum()
    v[idx] = scaled
    return v


def _lot_side_point(poly: Polygon, toward: np.ndarray) -> np.ndarray:
    """A point 4.5 m inside ``poly``'s boundary near ``toward`` (between the road and the buildings)."""
    ring = poly.exterior
    p = np.asarray(ring.interpolate(ring.project(shapely.Point(toward))).coords[0])
    c = np.asarray(poly.centroid.coords[0])
    d = c - p
    n = np.hypot(*d)
    return p + d / n * 4.5 if n > 0 else p


def _place_stations(rng, comm_polys, comm_name, street_of, n_streets, scale, n_communities, acc, city_c):
    """Station tuples (name, kind, community index, xy) near roads, outside buildings."""
    lots_by_comm: dict[int, list[Polygon]] = {}
    for cp in acc.compounds:
        lots_by_comm.setdefault(cp["community"], []).append(cp["lot"])
    n_comm = len(comm_polys)
    out = []

    def site(c, toward=None):
        """Beside the road in front of the compound nearest ``toward``: 4.5 m inside its lot, where
        there are no buildings (they keep 9 m from the lot's edge)."""
        polys = lots_by_comm.get(c)
        if not polys:
            return np.asarray(comm_polys[c].representative_point().coords[0])
        cen = np.array([p.centroid.coords[0] for p in polys])
        aim = np.asarray(comm_polys[c].centroid.coords[0]) if toward is None else toward
        k = int(np.argmin(np.hypot(*(cen - aim).T)))
        return _lot_side_point(polys[k], aim)

    # one 郁心站 per community
    for c in range(n_comm):
        out.append((comm_name[c].removesuffix("社区") + "郁心站", "grid_station", c, site(c)))
    # red stations spread over the city (farthest-point over community centroids)
    cen = np.array([p.centroid.coords[0] for p in comm_polys])
    n_red = max(2, int(round(7 * n_communities * scale / 18)))
    n_red = min(n_red, n_comm * 3)
    first = int(np.argmin(np.hypot(*(cen - city_c).T)))
    chosen, d = [first], np.hypot(*(cen - cen[first]).T)
    while len(chosen) < n_red:
        nxt = int(np.argmax(d))
        if d[nxt] <= 0:
            nxt = int(rng.integers(n_comm))
        chosen.append(nxt)
        d = np.minimum(d, np.hypot(*(cen - cen[nxt]).T))
    for r, c in enumerate(chosen):
        jitter = rng.normal(0, 150, 2)
        out.append((_nth(_RED_STATIONS, r) + "红色驿站", "red_station", c, site(c, cen[c] + jitter)))
    # 党群服务中心: one per street and one for the city
    for s in range(n_streets):
        members = np.flatnonzero(street_of == s)
        sc = cen[members].mean(axis=0)
        c = int(members[np.argmin(np.hypot(*(cen[members] - sc).T))])
        out.append((_nth(_STREETS, s) + "党群服务中心", "service_center", c, site(c, sc + rng.normal(0, 100, 2))))
    c = int(np.argmin(np.hypot(*(cen - city_c).T)))
    out.append(("什邡市城市社区党群服务中心", "service_center", c, site(c, city_c + rng.normal(0, 200, 2))))
    # mobile stations at gathering places
    n_mobile = max(2, int(round(5 * n_communities * scale / 18)))
    for m in range(n_mobile):
        c = int(rng.integers(n_comm))
        out.append((_nth(_MOBILE_PLACES, m) + "流动郁心站", "mobile", c,
                    site(c, cen[c] + rng.normal(0, 250, 2))))
    return out


def _to_lonlat(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Convert to EPSG:4326 with coordinates rounded to 6 decimals (about 0.1 m)."""
    out = gdf.to_crs(4326)
    geoms = shapely.transform(out.geometry.array, lambda xy: np.round(xy, 6))
    poly = shapely.get_type_id(geoms) == 3
    geoms[poly] = shapely.remove_repeated_points(geoms[poly])
    # RFC 7946 winding (exterior counter-clockwise), as the GeoJSON files are written
    geoms = shapely.orient_polygons(geoms, exterior_cw=False)
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=4326))


# ------------------------------------------------------------------------------------------ public API
def generate_city(*, seed: int = DEFAULT_SEED, n_communities: int = 18, scale: float = 1.0,
                  households_per_community: float = 60000 / 18, block_m: float = 440.0,
                  tiny_households: tuple[int, ...] = (220, 550),
                  tiny_persons: tuple[int, ...] = (600, 1650)) -> dict[str, gpd.GeoDataFrame]:
    """Generate the sample city: the five input layers of SPEC §2, in EPSG:4326.

    The same arguments always give the same layers (one :class:`numpy.random.Generator` seeded with
    ``seed``; no global randomness).

    Parameters
    ----------
    seed
        Seed of the random generator.
    n_communities
        Number of communities (社区). With 6 or more, two of them are the deliberately tiny ones of
        ``tiny_households``.
    scale
        Multiplies the size of every regular community (blocks, compounds, buildings, households);
        ``scale=3`` gives about 27,000 buildings. The city grows in area, not in density.
    households_per_community
        Average households per community before ``scale``; the default city has exactly 60,000
        (very small cities, e.g. ``scale=0.1``, may end above the target: every dwelling keeps at
        least one household).
    block_m
        Typical spacing of the arterial/secondary grid in metres.
    tiny_households, tiny_persons
        Exact totals of the tiny communities (220 households cannot reach 300; 550 households and
        1,650 persons fall in the gaps 500–600 and 1,500–2,000, so no number of grids complies).

    Returns
    -------
    dict
        ``{"communities", "compounds", "buildings", "roads", "stations"}`` → GeoDataFrame, ids as
        string columns, coordinates rounded to 6 decimals.
    """
    layers, _ = _generate(seed=seed, n_communities=n_communities, scale=scale,
                          households_per_community=households_per_community, block_m=block_m,
                          tiny_households=tiny_households, tiny_persons=tiny_persons)
    return layers


_DRIVERS = {"GeoJSON": ".geojson", "GPKG": ".gpkg", "FlatGeobuf": ".fgb"}


def write_city(layers: dict[str, gpd.GeoDataFrame], folder: str | os.PathLike, *, driver: str = "GeoJSON",
               overwrite: bool = False) -> list[Path]:
    """Write the layers as a dataset (SPEC §2).

    Parameters
    ----------
    layers
        Layer name → GeoDataFrame, e.g. from :func:`generate_city`.
    folder
        Target folder (created if needed). With ``driver="GPKG"`` the layers go into one GeoPackage:
        ``folder`` itself when it ends in ``.gpkg``, else ``<folder>/city.gpkg``.
    driver
        ``"GeoJSON"`` (one ``<layer>.geojson`` per layer, EPSG:4326, 6 decimals), ``"GPKG"`` or
        ``"FlatGeobuf"``.
    overwrite
        Replace existing files. Without it, an existing target file raises :class:`FileExistsError`
        and nothing is written.

    Returns
    -------
    list of Path
        The files written.
    """
    if driver not in _DRIVERS:
        raise ValueError(f"unknown driver {driver!r}; use one of {', '.join(_DRIVERS)}")
    unknown = [n for n in layers if n not in LAYERS]
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown}; layers are {', '.join(LAYERS)}")
    folder = Path(folder)
    if driver == "GPKG":
        target = folder if folder.suffix.lower() == ".gpkg" else folder / "city.gpkg"
        targets = [target]
    else:
        targets = [folder / f"{n}{_DRIVERS[driver]}" for n in layers]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing file(s): {', '.join(existing)}; "
                              "choose another folder or pass overwrite=True (--overwrite)")
    targets[0].parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if driver == "GPKG":
        with atomic_path(targets[0]) as tmp:
            for name, gdf in layers.items():
                gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
        return [targets[0]]
    for (name, gdf), target in zip(layers.items(), targets):
        with atomic_path(target) as tmp:
            opts = {"layer_options": {"COORDINATE_PRECISION": 6, "RFC7946": "YES"}} if driver == "GeoJSON" else {}
            out = gdf.to_crs(4326) if driver == "GeoJSON" else gdf
            out.to_file(tmp, driver=driver, engine="pyogrio", layer=name, **opts)
        written.append(target)
    return written


def tiny_city() -> dict[str, gpd.GeoDataFrame]:
    """A tiny hand-checkable city for unit tests (EPSG:4326, near 什邡市).

    Two communities side by side on a 200 m road grid (metric frame EPSG:4544, x east, y north,
    origin near 104.17°E 31.13°N):

    * ``510682001001`` 阳光社区 (x 0–400 m, y 0–300 m), 方亭街道: **900 households, 2,700 persons,
      44 party members**, 10 buildings — feasible (2 or 3 grids of 300–500 households):

      - ``C1`` 蓥华小区: buildings B01, B02, B03 with 100 households each (300); party 独立党支部
      - ``C2`` 金桂花园: B04, B05 with 150 each (300)
      - ``C3`` 粮食局宿舍, 三无 (no company, no department, no owners' committee; 联合党支部):
        B06, B07, B08 with 50 each (150)
      - outside any compound: B09 (80) and B10 (70)
    * ``510682001002`` 雍城社区 (x 400–600 m), 方亭街道: **220 households, 660 persons,
      11 party members**, 3 buildings — too small for the rule (one grid, marked):

      - ``C4`` 亭江新村: B11 (100) and B12 (60); outside any compound: B13 (60)

    Totals: 2 communities, 4 compounds (1 三无), 13 buildings, 1,120 households, 3,360 persons
    (persons = 3 × households in every building), 55 party members. Party members per building:
    100 → 5, 150 → 8, 50 → 2, 80 → 4, 70 → 3, 60 → 3.

    Roads: 17 walkable segments noded at every crossing — north-south lines at x = 0, 200, 400,
    600 and east-west lines at y = 0, 150, 300 (x = 400 and y = 150 are ``secondary``, the rest
    ``local``). Stations: ``S1`` 雍城印象红色驿站 (red_station) at (200, 145) in 阳光社区 and
    ``S2`` 雍城郁心站 (grid_station) at (500, 145) in 雍城社区.
    """
    to_metric = Transformer.from_crs(4326, _METRIC_EPSG, always_xy=True)
    ox, oy = to_metric.transform(*_CENTRE_LONLAT)
    o = np.array([round(ox, -1), round(oy, -1)])
    crs = f"EPSG:{_METRIC_EPSG}"

    def box(x0, y0, x1, y1):
        return shapely.box(x0 + o[0], y0 + o[1], x1 + o[0], y1 + o[1])

    a, bb = "510682001001", "510682001002"
    communities = gpd.GeoDataFrame({
        "community_id": [a, bb], "name": ["阳光社区", "雍城社区"], "street": ["方亭街道", "方亭街道"],
        "street_id": ["510682001", "510682001"]},
        geometry=[box(0, 0, 400, 300), box(400, 0, 600, 300)], crs=crs)
    compounds = gpd.GeoDataFrame({
        "compound_id": ["C1", "C2", "C3", "C4"],
        "name": ["蓥华小区", "金桂花园", "粮食局宿舍", "亭江新村"],
        "community_id": [a, a, a, bb],
        "property_company": ["什邡市雍城物业管理有限公司", "四川金桂物业服务有限公司", None, "什邡亭江物业服务有限公司"],
        "has_property_mgmt": [True, True, False, True],
        "has_competent_dept": [False, False, False, True],
        "has_owners_committee": [True, False, False, False],
        "party_org": ["独立党支部", None, "联合党支部", None]},
        geometry=[box(10, 10, 190, 140), box(210, 10, 390, 140), box(10, 160, 190, 290), box(410, 10, 590, 140)],
        crs=crs)
    rows = [  # id, x0, y0, x1, y1, households, party, floors, units, compound, community
        ("B01", 20, 20, 80, 35, 100, 5, 17, 2, "C1", a), ("B02", 110, 20, 170, 35, 100, 5, 17, 2, "C1", a),
        ("B03", 20, 90, 80, 105, 100, 5, 17, 2, "C1", a),
        ("B04", 220, 20, 300, 40, 150, 8, 19, 2, "C2", a), ("B05", 220, 90, 300, 110, 150, 8, 19, 2, "C2", a),
        ("B06", 20, 170, 60, 182, 50, 2, 6, 2, "C3", a), ("B07", 20, 210, 60, 222, 50, 2, 6, 2, "C3", a),
        ("B08", 100, 170, 140, 182, 50, 2, 6, 2, "C3", a),
        ("B09", 220, 170, 280, 185, 80, 4, 10, 2, None, a), ("B10", 320, 170, 380, 185, 70, 3, 9, 2, None, a),
        ("B11", 420, 20, 480, 35, 100, 5, 17, 2, "C4", bb), ("B12", 420, 80, 480, 95, 60, 3, 10, 2, "C4", bb),
        ("B13", 420, 170, 480, 185, 60, 3, 10, 2, None, bb),
    ]
    buildings = gpd.GeoDataFrame({
        "building_id": [r[0] for r in rows],
        "households": np.array([r[5] for r in rows], dtype=np.int64),
        "persons": np.array([3 * r[5] for r in rows], dtype=np.int64),
        "party_members": np.array([r[6] for r in rows], dtype=np.int64),
        "floors": np.array([r[7] for r in rows], dtype=np.int64),
        "units": np.array([r[8] for r in rows], dtype=np.int64),
        "compound_id": [r[9] for r in rows],
        "community_id": [r[10] for r in rows]},
        geometry=[box(*r[1:5]) for r in rows], crs=crs)
    segs = []
    for x in (0, 200, 400, 600):
        for y0, y1 in ((0, 150), (150, 300)):
            segs.append(((x, y0), (x, y1), "secondary" if x == 400 else "local", f"{x}号路"))
    for y in (0, 150, 300):
        for x0, x1 in ((0, 200), (200, 400), (400, 600)):
            segs.append(((x0, y), (x1, y), "secondary" if y == 150 else "local", f"{y}号街"))
    roads = gpd.GeoDataFrame({
        "road_id": [f"R{k + 1:02d}" for k in range(len(segs))],
        "kind": [s[2] for s in segs],
        "walkable": [True] * len(segs),
        "name": [s[3] for s in segs]},
        geometry=[LineString([np.add(s[0], o), np.add(s[1], o)]) for s in segs], crs=crs)
    stations = gpd.GeoDataFrame({
        "station_id": ["S1", "S2"], "name": ["雍城印象红色驿站", "雍城郁心站"],
        "kind": ["red_station", "grid_station"], "community_id": [a, bb]},
        geometry=shapely.points([o + (200, 145), o + (500, 145)]), crs=crs)
    return {n: _to_lonlat(g) for n, g in (("communities", communities), ("compounds", compounds),
                                          ("buildings", buildings), ("roads", roads), ("stations", stations))}


def main(argv: list[str] | None = None) -> int:
    """``python -m gridplan.sample [--out data/sample] [--seed N] [--scale S] [--communities N] [--overwrite]``."""
    p = argparse.ArgumentParser(prog="python -m gridplan.sample",
                                description="Generate the sample city (样例城市) as a dataset folder.")
    p.add_argument("--out", default=str(SAMPLE_DIR), help="output folder (default: the bundled data/sample)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--scale", type=float, default=1.0, help="size multiplier (3 → about 27k buildings)")
    p.add_argument("--communities", type=int, default=18)
    p.add_argument("--driver", default="GeoJSON", choices=sorted(_DRIVERS))
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.add_argument("--rosters", default=None, help="folder for the sample household rosters (default: data/rosters "
                   "with the default --out, none otherwise)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    layers = generate_city(seed=args.seed, scale=args.scale, n_communities=args.communities)
    from . import sample_chain  # staff list, mobile-stop schedule, 三无/三有 history (gridplan.sample_chain)
    try:
        sample_chain.chain_targets(args.out, driver=args.driver, overwrite=args.overwrite)
        written = write_city(layers, args.out, driver=args.driver, overwrite=args.overwrite)
        written += sample_chain.write_sample_chain(args.out, seed=args.seed, driver=args.driver, overwrite=True)
    except FileExistsError as exc:
        log.error("%s", exc)
        return 1
    rosters = args.rosters or (None if Path(args.out).resolve() != SAMPLE_DIR.resolve() else "")
    if rosters is not None:
        from .sample_roster import ROSTER_DIR, write_sample_rosters
        try:
            written += write_sample_rosters(layers["buildings"], layers["compounds"], layers["communities"],
                                            rosters or ROSTER_DIR, overwrite=args.overwrite)
        except FileExistsError as exc:
            log.error("%s", exc)
            return 1
    for path in written:
        log.info("wrote %s (%.1f kB)", path, path.stat().st_size / 1024)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
