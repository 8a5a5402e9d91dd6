import numpy as np
import pytest
import shapely
from pyproj import CRS

from gridplan._errors import CRSError
from gridplan.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    central_meridian,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_china,
    metric_crs_for,
    normalise_offset_system,
    require_metric,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)


def test_epsg_4544_is_cgcs2000_gk_cm_105():
    crs = CRS.from_epsg(4544)
    assert central_meridian(crs) == 105.0
    assert "CGCS2000" in crs.name
    assert crs.datum.name.startswith("China 2000")
    # no zone prefix in the false easting: 500 km
    x, _ = shapely.get_coordinates(
        __import__("geopandas").GeoSeries([shapely.Point(105, 31)], crs=4326).to_crs(4544).iloc[0])[0]
    assert abs(x - 500000) < 1e-6


@pytest.mark.parametrize("lon,lat,epsg", [
    (104.17, 31.13, 4544),   # Shifang
    (116.40, 39.90, 4548),   # Beijing, CM 117E
    (121.47, 31.23, 4549),   # Shanghai, CM 120E? no: round(121.47/3)*3 = 120 → 4549
    (87.6, 43.8, 4538),      # Urumqi, CM 87E? round(87.6/3)*3 = 87 → 4538
    (24.94, 60.17, 32635),   # Helsinki → UTM 35N
    (-74.0, 40.7, 32618),    # New York → UTM 18N
    (151.2, -33.9, 32756),   # Sydney → UTM 56S
])
def test_metric_crs_for(lon, lat, epsg):
    crs = metric_crs_for(lon, lat)
    assert crs.to_epsg() == epsg
    cm = central_meridian(crs)
    assert abs(cm - lon) <= 3.0
    require_metric(crs)


def test_require_metric_rejects_geographic():
    with pytest.raises(CRSError, match="projected"):
        require_metric(CRS.from_epsg(4326))
    with pytest.raises(CRSError):
        require_metric(None)


def test_gcj02_published_pair():
    lon, lat = wgs84_to_gcj02(120.0, 40.0)
    assert lon == pytest.approx(120.00567568355486, abs=1e-12)
    assert lat == pytest.approx(40.0013047896019, abs=1e-12)


def test_gcj02_round_trip_is_exact_to_a_millimetre():
    rng = np.random.default_rng(1)
    lon = rng.uniform(100, 120, 500)
    lat = rng.uniform(22, 40, 500)
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.abs(glon - lon).max() > 1e-4  # the offset is real (hundreds of metres)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert np.abs(wlon - lon).max() < 1e-8 and np.abs(wlat - lat).max() < 1e-8
    blon, blat = wgs84_to_bd09(lon, lat)
    wlon, wlat = bd09_to_wgs84(blon, blat)
    assert np.abs(wlon - lon).max() < 1e-8 and np.abs(wlat - lat).max() < 1e-8


def test_outside_china_is_unchanged():
    lon, lat = wgs84_to_gcj02(24.94, 60.17)
    assert (lon, lat) == (24.94, 60.17)


def test_to_wgs84_on_geometries():
    g = shapely.box(*wgs84_to_gcj02(104.17, 31.13), *wgs84_to_gcj02(104.18, 31.14))
    back = to_wgs84(np.array([g], dtype=object), "高德")[0]
    assert back.bounds[0] == pytest.approx(104.17, abs=1e-6)
    with pytest.raises(CRSError):
        to_wgs84(np.array([g], dtype=object), "mars")


# --------------------------------------------------------------------------- added with the loading work


@pytest.mark.parametrize("epsg", range(4534, 4555))
def test_every_cgcs2000_gk3_zone_is_pinned(epsg):
    crs = CRS.from_epsg(epsg)
    cm = 75 + 3 * (epsg - 4534)
    assert central_meridian(crs) == cm
    assert "CGCS2000" in crs.name and f"CM {cm}E" in crs.name
    # a point on the zone's central meridian inside its area of use selects the zone
    w, s, e, n = crs.area_of_use.bounds
    assert metric_crs_for(cm if w <= cm <= e else (w + e) / 2, (s + n) / 2).to_epsg() == epsg


@pytest.mark.parametrize("lon,lat,epsg", [
    (126.98, 37.57, 32652),  # Seoul: inside the rough China box, outside every CGCS2000 zone → UTM 52N
    (105.85, 21.03, 32648),  # Hanoi → UTM 48N
    (114.17, 22.32, 4547),   # Hong Kong → CM 114E
    (109.40, 18.30, 4545),   # west of Sanya (the zone boundary is 109.5°E)
])
def test_metric_crs_near_the_borders(lon, lat, epsg):
    assert metric_crs_for(lon, lat).to_epsg() == epsg


def test_metric_crs_rejects_non_degrees():
    with pytest.raises(CRSError):
        metric_crs_for(416000.0, 3444700.0)
    with pytest.raises(CRSError):
        metric_crs_for(float("nan"), 30.0)


def test_published_pairs_wandergis_coordtransform():
    # https://github.com/wandergis/coordtransform (README): the reference values most ports test against
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert (lon, lat) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-12)
    lon, lat = gcj02_to_bd09(116.404, 39.915)
    assert (lon, lat) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-12)
    # the published inverses are one-step approximations (≈ 1 m off); ours are exact round trips
    lon, lat = bd09_to_gcj02(116.404, 39.915)
    assert (lon, lat) == pytest.approx((116.39762729119315, 39.90865673957631), abs=2e-5)
    assert gcj02_to_bd09(lon, lat) == pytest.approx((116.404, 39.915), abs=1e-9)
    lon, lat = gcj02_to_wgs84(116.404, 39.915)
    assert (lon, lat) == pytest.approx((116.39775550083061, 39.91359571849836), abs=2e-5)
    assert wgs84_to_gcj02(lon, lat) == pytest.approx((116.404, 39.915), abs=1e-9)


def test_beijing_railway_station_gcj02_bd09():
    # Beijing railway station, GCJ-02 (116.42703, 39.90245) is BD-09 (116.43351, 39.90851) (5 decimals)
    assert gcj02_to_bd09(116.42703, 39.90245) == pytest.approx((116.43351, 39.90851), abs=1e-5)


def test_gcj02_applies_in_the_south_china_sea_and_not_abroad():
    lon, lat = wgs84_to_gcj02(112.33, 16.83)   # 永兴岛 (Woody Island)
    assert abs(lon - 112.33) > 1e-4
    assert wgs84_to_gcj02(139.69, 35.69) == (139.69, 35.69)  # Tokyo
    assert in_china(104.17, 31.13) and not in_china(2.35, 48.85)


def test_shifang_round_trip_geometries_all_systems():
    g = shapely.Polygon([(104.16, 31.12), (104.18, 31.12), (104.18, 31.14), (104.16, 31.14)])
    for system in ("gcj02", "bd09"):
        shifted = from_wgs84(np.array([g], dtype=object), system)[0]
        assert shapely.hausdorff_distance(shifted, g) > 1e-4
        back = to_wgs84(np.array([shifted], dtype=object), system)[0]
        assert np.abs(shapely.get_coordinates(back) - shapely.get_coordinates(g)).max() < 1e-9


@pytest.mark.parametrize("name,expected", [("GCJ-02", "gcj02"), ("amap", "gcj02"), ("高德", "gcj02"),
                                           ("BD09", "bd09"), ("百度", "bd09"), ("bd09ll", "bd09")])
def test_offset_system_names(name, expected):
    assert normalise_offset_system(name) == expected
