"""Coordinate reference systems: the metric CRS to compute in, and the Chinese web-map offsets.

* :func:`metric_crs_for` picks the projected metre CRS for data at a longitude/latitude: the
  CGCS2000 3-degree Gauss-Kruger zone (no zone prefix, EPSG:4534–4554) inside China — EPSG:4544
  (central meridian 105°E) around Shifang — and WGS 84 / UTM elsewhere.
* GCJ-02 (Amap, Tencent) and BD-09 (Baidu) are obfuscated WGS 84 coordinates used by Chinese web
  maps. :func:`to_wgs84` converts coordinates declared in either back to WGS 84 (the GCJ-02
  inverse is iterated to below 1e-9 degrees, about 0.1 mm).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from pyproj import CRS

from ._errors import CRSError

# The CGCS2000 3-degree Gauss-Kruger zones without zone prefix: EPSG:4534 (CM 75°E) … EPSG:4554 (CM 135°E).
_CGCS2000_GK3_FIRST_EPSG = 4534
_CGCS2000_GK3_FIRST_CM = 75
_CGCS2000_GK3_LAST_CM = 135

#: declared coordinate systems of Chinese web maps that :func:`to_wgs84` understands
OFFSET_SYSTEMS = ("gcj02", "bd09")


#: the box inside which GCJ-02 offsets apply (the bounds used by the published reference implementations,
#: which include the South China Sea islands)
_GCJ_BOX = (72.004, 0.8293, 137.8347, 55.8271)


_TRANSFORMERS: dict = {}


def transformer(src, dst):
    """A cached lon/lat-ordered (``always_xy``) transformer from ``src`` to ``dst``.

    It is built once from its PROJ pipeline, so a new thread (a web server answers each request in
    its own) gets its own copy in well under a millisecond instead of the ~0.1 s a fresh
    ``Transformer.from_crs`` (or ``GeoDataFrame.to_crs``) spends searching the PROJ database.
    """
    from pyproj import Transformer
    key = (CRS.from_user_input(src).to_wkt(), CRS.from_user_input(dst).to_wkt())
    t = _TRANSFORMERS.get(key)
    if t is None:
        t = Transformer.from_pipeline(Transformer.from_crs(src, dst, always_xy=True).definition)
        if len(_TRANSFORMERS) > 64:
            _TRANSFORMERS.clear()
        _TRANSFORMERS[key] = t
    return t


def transform_geoms(geoms, src, dst):
    """Shapely geometries from ``src`` to ``dst`` with the cached :func:`transformer`."""
    t = transformer(src, dst)

    def f(coords):
        x, y = t.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])
    return shapely.transform(np.asarray(geoms, dtype=object), f)


def in_china(lon: float, lat: float) -> bool:
    """Rough bounding box of China (its land and near seas)."""
    return 73.5 <= lon <= 135.1 and 3.8 <= lat <= 53.6


def _cgcs2000_zone(lon: float, lat: float) -> CRS | None:
    """The CGCS2000 3° GK zone of (lon, lat) when the point lies within the zone's area of use (±0.5°)."""
    if not in_china(lon, lat):
        return None
    cm = int(math.floor(lon / 3.0 + 0.5)) * 3
    cm = min(max(cm, _CGCS2000_GK3_FIRST_CM), _CGCS2000_GK3_LAST_CM)
    crs = CRS.from_epsg(_CGCS2000_GK3_FIRST_EPSG + (cm - _CGCS2000_GK3_FIRST_CM) // 3)
    area = crs.area_of_use
    if area is not None:
        w, s, e, n = area.bounds
        if not (w - 0.5 <= lon <= e + 0.5 and s - 0.5 <= lat <= n + 0.5):
            return None
    return crs


def metric_crs_for(lon: float, lat: float) -> CRS:
    """The projected metre CRS to compute in for data centred at (lon, lat) in degrees.

    Inside China the CGCS2000 3-degree Gauss-Kruger zone whose central meridian is nearest
    (EPSG:4544, CM 105°E, around Shifang); elsewhere (including neighbours inside the rough China box
    but outside the zones' areas of use, e.g. Seoul or Hanoi) WGS 84 / UTM.

    >>> metric_crs_for(104.17, 31.13).to_epsg()
    4544
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90) or not (math.isfinite(lon) and math.isfinite(lat)):
        raise CRSError(f"({lon}, {lat}) is not a longitude/latitude in degrees")
    zone_crs = _cgcs2000_zone(lon, lat)
    if zone_crs is not None:
        return zone_crs
    zone = int((lon + 180) // 6) + 1
    zone = min(zone, 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def central_meridian(crs: CRS) -> float | None:
    """The longitude of origin of a transverse Mercator CRS (None for other projections)."""
    for p in crs.coordinate_operation.params if crs.coordinate_operation else []:
        if "longitude of natural origin" in p.name.lower():
            return float(p.value)
    return None


def require_metric(crs: Any, what: str = "this operation") -> CRS:
    """Raise :class:`CRSError` unless ``crs`` (anything :meth:`pyproj.CRS.from_user_input` takes) is projected in
    metres; return it as a :class:`~pyproj.CRS`."""
    if crs is None:
        raise CRSError(f"{what} needs a CRS; the data has none")
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise CRSError(f"{what} needs a projected metre CRS, got geographic {crs.name}; "
                       "load the data with gridplan.io.read_dataset, which projects it")
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if unit not in ("metre", "meter", "m"):
        raise CRSError(f"{what} needs a CRS in metres, got {unit!r} ({crs.name})")
    return crs


# --------------------------------------------------------------------------- GCJ-02 / BD-09
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


def _transform_lat(x, y):
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x, y):
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lon, lat):
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    w, s_, e, n = _GCJ_BOX
    inside = (lon >= w) & (lon <= e) & (lat >= s_) & (lat <= n)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon, lat):
    """WGS 84 → GCJ-02 (vectorised). Outside China coordinates are returned unchanged."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat, *, tol_deg: float = 1e-10, max_iter: int = 30):
    """GCJ-02 → WGS 84 by fixed-point iteration of the forward offset (exact to ``tol_deg``)."""
    glon, glat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return _invert(wgs84_to_gcj02, glon, glat, glon.copy(), glat.copy(), tol_deg, max_iter)


def _invert(forward, tlon, tlat, lon, lat, tol_deg: float, max_iter: int):
    """The point that ``forward`` maps onto (``tlon``, ``tlat``), by fixed-point iteration from
    (``lon``, ``lat``): each step subtracts the forward error (the offsets are smooth and small)."""
    for _ in range(max_iter):
        flon, flat = forward(lon, lat)
        elon, elat = flon - tlon, flat - tlat
        lon, lat = lon - elon, lat - elat
        if np.all(np.abs(elon) < tol_deg) and np.all(np.abs(elat) < tol_deg):
            break
    return lon, lat


def gcj02_to_bd09(lon, lat):
    """GCJ-02 → BD-09 (vectorised)."""
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat, *, tol_deg: float = 1e-10, max_iter: int = 30):
    """BD-09 → GCJ-02 (vectorised): the usual closed-form approximation refined by iterating the
    forward formula, so that a round trip is exact to ``tol_deg``."""
    blon, blat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x, y = blon - 0.0065, blat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _invert(gcj02_to_bd09, blon, blat, z * np.cos(theta), z * np.sin(theta), tol_deg, max_iter)


def wgs84_to_bd09(lon, lat):
    """Convert WGS-84 longitudes/latitudes to BD-09 (Baidu), through GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat):
    """Convert BD-09 (Baidu) longitudes/latitudes to WGS-84, through GCJ-02."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def _apply(geoms, func):
    def f(coords):
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])
    return shapely.transform(np.asarray(geoms, dtype=object), f)


def to_wgs84(geoms, system: str):
    """Convert an array of shapely geometries in lon/lat of ``system`` ('gcj02' or 'bd09') to WGS 84."""
    system = normalise_offset_system(system)
    return _apply(geoms, _TO_WGS84[system])


def from_wgs84(geoms, system: str):
    """Convert WGS 84 shapely geometries to ``system`` ('gcj02' or 'bd09') lon/lat."""
    system = normalise_offset_system(system)
    return _apply(geoms, _FROM_WGS84[system])


def normalise_offset_system(system: str) -> str:
    """Name an offset coordinate system: ``"gcj02"`` or ``"bd09"``.

    Accepts the usual spellings (``"GCJ-02"``, ``"amap"``, ``"高德"``, ``"baidu"``, ``"百度"``, …).

    Raises
    ------
    CRSError
        When the name is none of them.
    """
    s = str(system).lower().replace("-", "").replace("_", "").replace(" ", "")
    aliases = {"gcj02": "gcj02", "gcj": "gcj02", "amap": "gcj02", "gaode": "gcj02", "tencent": "gcj02",
               "火星坐标": "gcj02", "高德": "gcj02", "bd09": "bd09", "baidu": "bd09", "百度": "bd09", "bd09ll": "bd09"}
    if s not in aliases:
        raise CRSError(f"unknown coordinate system {system!r}; use 'gcj02' (Amap/Tencent) or 'bd09' (Baidu)")
    return aliases[s]
