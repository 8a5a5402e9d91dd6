import numpy as np
import pytest
import shapely
from pyproj import CRS

from gridplan.crs import (bd09_to_wgs84, central_meridian, gcj02_to_wgs84, metric_crs_for, require_metric,
                          to_wgs84, wgs84_to_bd09, wgs84_to_gcj02)
from gridplan._errors import CRSError


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
