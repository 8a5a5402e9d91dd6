"""Offline map assets: installed from packages, local URLs everywhere, inlining for standalone files."""
from __future__ import annotations

import re

import folium
import pytest
from folium.plugins import Draw

from gridplan import assets


@pytest.fixture(scope="module")
def vendor():
    assets.install()  # a no-op when already installed (setup.sh runs it)
    return assets.check_installed()


def test_install_puts_every_file_and_a_manifest(vendor):
    for rel in assets.FILES.values():
        assert (vendor / rel).stat().st_size > 1000, rel
    assert (vendor / "leaflet" / "images" / "layers.png").exists()
    assert (vendor / "leaflet-draw" / "images" / "spritesheet.svg").exists()
    man = (vendor / "manifest.json").read_text()
    assert '"leaflet": "1.9.3"' in man and '"leaflet-draw": "1.0.2"' in man


def test_missing_assets_name_the_fix(tmp_path):
    with pytest.raises(assets.AssetsMissingError, match="scripts/setup.sh"):
        assets.check_installed(tmp_path)
    m = folium.Map(tiles=None)
    with pytest.raises(assets.AssetsMissingError, match="setup.sh"):
        assets.localize_map(m, vendor_dir=tmp_path)


def test_asset_urls_are_absolute_streamlit_paths():
    urls = assets.asset_urls()
    assert urls["leaflet"] == "/app/static/vendor/leaflet/leaflet.js"
    # the relative form would resolve inside st_folium's component iframe: it is made absolute
    assert assets.asset_urls("app/static/vendor")["leaflet_css"] == "/app/static/vendor/leaflet/leaflet.css"


def test_localize_rewrites_map_and_plugins_and_drops_cdn_extras(vendor):
    m = folium.Map(tiles=None)
    Draw().add_to(m)
    assets.localize_map(m)
    html = m.get_root().render()
    links = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert links and all(u.startswith("/app/static/vendor/") for u in links), links
    assert "bootstrap" not in html and "awesome" not in html
    assert "L.Icon.Default.imagePath" in html
    # the class defaults stay untouched (other maps in the process are unaffected)
    assert folium.Map.default_js[0][1].startswith("https://")
    assert Draw.default_js[0][1].startswith("https://")


def test_unknown_plugin_resource_is_refused(vendor):
    from folium.plugins import MarkerCluster
    m = folium.Map(tiles=None)
    MarkerCluster().add_to(m)
    with pytest.raises(assets.AssetsMissingError, match="not available offline"):
        assets.localize_map(m)


def test_inline_assets_leaves_no_outside_link(vendor):
    m = folium.Map(tiles=None)  # plain folium: CDN links everywhere
    Draw().add_to(m)
    out = assets.inline_assets(m.get_root().render())
    assert not re.search(r'<script[^>]+src="https?:', out)
    assert not re.search(r'<link[^>]+href="https?:', out)
    assert "url(images/" not in out and "data:image/png;base64," in out
    assert "data:image/svg+xml;base64," in out  # leaflet.draw's sprite


def test_inline_refuses_unknown_outside_script(vendor):
    with pytest.raises(assets.AssetsMissingError, match="outside"):
        assets.inline_assets('<html><head><script src="https://example.com/x.js"></script></head></html>')


def test_streamlit_serves_static():
    assert assets.streamlit_config_ok()


def test_cli_check(vendor, capsys):
    assert assets.main(["check"]) == 0
    assert "OK" in capsys.readouterr().out


def test_install_into_a_fresh_folder(tmp_path):
    from conftest import require
    require(None if __import__("shutil").which("npm") else "npm is not installed")
    man = assets.install(tmp_path / "vendor")
    assert man["versions"] == {"leaflet": "1.9.3", "jquery": "3.7.1", "leaflet-draw": "1.0.2"}
    assets.check_installed(tmp_path / "vendor")
    # a second run is a no-op
    before = (tmp_path / "vendor" / "manifest.json").stat().st_mtime_ns
    assets.install(tmp_path / "vendor")
    assert (tmp_path / "vendor" / "manifest.json").stat().st_mtime_ns == before
