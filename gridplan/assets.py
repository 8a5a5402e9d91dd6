"""Offline map assets: Leaflet, jQuery and leaflet.draw served locally, never from a CDN (SPEC §1, §8).

folium writes links to public CDNs into every map; on an intranet with no internet the map then
silently does not render. This module

* installs the third-party files from packages the setup installs (``xstatic-leaflet``,
  ``xstatic-jquery`` from PyPI, ``leaflet-draw`` from the npm registry) into ``static/vendor/``
  (``python -m gridplan.assets install``; the files are not committed to the repository);
* rewrites a folium map so every ``default_js`` / ``default_css`` of the map and of each plugin
  element points at those local files (:func:`localize_map`) — streamlit-folium reads them per
  element, and Streamlit serves ``static/`` at ``/app/static/`` when ``enableStaticServing`` is on;
* inlines the files into rendered HTML for a standalone page that works from ``file://``
  (:func:`inline_assets`).

A missing asset is an :class:`AssetsMissingError` that says to run ``bash scripts/setup.sh``.
"""
from __future__ import annotations

import argparse
import base64
import json
import logging
import mimetypes
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import resources
from pathlib import Path

from ._errors import AssetsMissingError

log = logging.getLogger(__name__)

#: where ``install`` puts the files by default (served by Streamlit at ``/app/static/vendor``);
#: ``GRIDPLAN_VENDOR_DIR`` overrides it (e.g. when gridplan is installed outside the repository)
VENDOR_DIR = Path(os.environ.get("GRIDPLAN_VENDOR_DIR") or
                  Path(__file__).resolve().parent.parent / "static" / "vendor")

#: the URL base Streamlit serves ``static/vendor`` at (absolute path: the st_folium iframe lives
#: under ``/component/...``, so a relative URL would resolve inside the component's folder)
DEFAULT_BASE = "/app/static/vendor"

LEAFLET_DRAW_VERSION = "1.0.2"

#: asset key → path under the vendor folder
FILES: dict[str, str] = {
    "leaflet": "leaflet/leaflet.js",
    "leaflet_css": "leaflet/leaflet.css",
    "jquery": "jquery/jquery.min.js",
    "leaflet_draw_js": "leaflet-draw/leaflet.draw.js",
    "leaflet_draw_css": "leaflet-draw/leaflet.draw.css",
}

#: folium's resource names that map onto our files (name in default_js/default_css → asset key)
_NAME_TO_KEY: dict[str, str] = {
    "leaflet": "leaflet",
    "leaflet_js": "leaflet",
    "leaflet_css": "leaflet_css",
    "jquery": "jquery",
    "leaflet_draw_js": "leaflet_draw_js",
    "leaflet_draw_css": "leaflet_draw_css",
}

#: folium resources gridplan's maps do not need (we use CircleMarker / DivIcon, no Bootstrap UI)
DROPPED = frozenset({
    "bootstrap", "bootstrap_css", "glyphicons_css", "awesome_markers", "awesome_markers_css",
    "awesome_markers_font_css", "awesome_rotate_css",
})

#: file-name endings recognised when inlining HTML written with CDN or local links
_BASENAME_TO_KEY: dict[str, str] = {
    "leaflet.js": "leaflet",
    "leaflet.css": "leaflet_css",
    "jquery.min.js": "jquery",
    "jquery-3.7.1.min.js": "jquery",
    "leaflet.draw.js": "leaflet_draw_js",
    "leaflet.draw.css": "leaflet_draw_css",
}

SETUP_HINT = "run `bash scripts/setup.sh` (or `python -m gridplan.assets install`)"

#: asset key → (XStatic package, file in its data folder): where an installed gridplan finds Leaflet and
#: jQuery without a vendor folder (leaflet.draw comes from npm: only from the vendor folder)
_XSTATIC_FILES: dict[str, tuple[str, str]] = {
    "leaflet": ("leaflet", "leaflet.js"),
    "leaflet_css": ("leaflet", "leaflet.css"),
    "jquery": ("jquery", "jquery.min.js"),
}


# --------------------------------------------------------------------------- install
def _xstatic_dir(module: str) -> tuple[Path, str]:
    try:
        mod = __import__(f"xstatic.pkg.{module}", fromlist=["BASE_DIR"])
    except ImportError:
        raise AssetsMissingError(
            f"the Python package xstatic-{module} is not installed; {SETUP_HINT}") from None
    return Path(mod.BASE_DIR), str(getattr(mod, "VERSION", "?"))


def _npm_leaflet_draw(work: Path, npm: str = "npm") -> Path:
    """The ``dist/`` folder of leaflet-draw, from the npm registry (``npm pack``) or a local node_modules."""
    for cand in (Path.cwd() / "node_modules" / "leaflet-draw" / "dist",
                 VENDOR_DIR.parent.parent / "node_modules" / "leaflet-draw" / "dist"):
        if (cand / "leaflet.draw.js").exists():
            return cand
    exe = shutil.which(npm)
    if exe is None:
        raise AssetsMissingError(
            f"npm is needed once to fetch leaflet-draw@{LEAFLET_DRAW_VERSION} from the npm registry; install "
            f"Node.js/npm, then {SETUP_HINT}")
    try:
        out = subprocess.run([exe, "pack", f"leaflet-draw@{LEAFLET_DRAW_VERSION}", "--silent",
                              "--pack-destination", str(work)], check=True, capture_output=True,
                             text=True, timeout=300)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        detail = getattr(e, "stderr", "") or str(e)
        raise AssetsMissingError(f"`npm pack leaflet-draw@{LEAFLET_DRAW_VERSION}` failed: {detail.strip()[:300]}; "
                                 f"check access to the npm registry, then {SETUP_HINT}") from None
    tgz = work / (out.stdout.strip().splitlines()[-1] if out.stdout.strip() else
                  f"leaflet-draw-{LEAFLET_DRAW_VERSION}.tgz")
    with tarfile.open(tgz) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("package/dist/") and m.isfile()]
        tar.extractall(work, members=members, filter="data")
    return work / "package" / "dist"


def install(dest: str | os.PathLike | None = None, *, force: bool = False, npm: str = "npm") -> dict:
    """Copy the map assets from the installed packages into ``dest`` (default ``static/vendor``).

    Sources: Leaflet from ``xstatic-leaflet``, jQuery from ``xstatic-jquery`` (PyPI), leaflet.draw
    from the npm registry (``npm pack leaflet-draw@1.0.2``). Writes ``manifest.json`` with the
    versions. Nothing is fetched again when the files are there, unless ``force``.

    Returns
    -------
    dict
        the manifest (``versions``, ``files``).
    """
    dest = Path(dest) if dest is not None else VENDOR_DIR
    manifest_path = dest / "manifest.json"
    if not force and manifest_path.exists() and all((dest / f).exists() for f in FILES.values()):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        have = manifest.get("versions", {})
        want = {"leaflet": _xstatic_dir("leaflet")[1], "jquery": _xstatic_dir("jquery")[1],
                "leaflet-draw": LEAFLET_DRAW_VERSION}
        if all(have.get(k) == v for k, v in want.items()):
            log.info("map assets already installed in %s", dest)
            return manifest
        log.info("map asset versions changed (%s → %s): installing again", have, want)
    dest.mkdir(parents=True, exist_ok=True)
    versions = {}

    leaflet_dir, versions["leaflet"] = _xstatic_dir("leaflet")
    (dest / "leaflet").mkdir(exist_ok=True)
    for name in ("leaflet.js", "leaflet.css"):
        shutil.copy2(leaflet_dir / name, dest / "leaflet" / name)
    shutil.copytree(leaflet_dir / "images", dest / "leaflet" / "images", dirs_exist_ok=True)

    jq_dir, versions["jquery"] = _xstatic_dir("jquery")
    (dest / "jquery").mkdir(exist_ok=True)
    shutil.copy2(jq_dir / "jquery.min.js", dest / "jquery" / "jquery.min.js")

    with tempfile.TemporaryDirectory() as work:
        dist = _npm_leaflet_draw(Path(work), npm=npm)
        (dest / "leaflet-draw").mkdir(exist_ok=True)
        for name in ("leaflet.draw.js", "leaflet.draw.css"):
            shutil.copy2(dist / name, dest / "leaflet-draw" / name)
        shutil.copytree(dist / "images", dest / "leaflet-draw" / "images", dirs_exist_ok=True)
    versions["leaflet-draw"] = LEAFLET_DRAW_VERSION

    manifest = {"versions": versions, "files": FILES,
                "sources": {"leaflet": "PyPI xstatic-leaflet", "jquery": "PyPI xstatic-jquery",
                            "leaflet-draw": f"npm leaflet-draw@{LEAFLET_DRAW_VERSION}"}}
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, manifest_path)
    log.info("map assets installed in %s: %s", dest, versions)
    return manifest


def check_installed(vendor_dir: str | os.PathLike | None = None, keys=None) -> Path:
    """The vendor folder, or :class:`AssetsMissingError` naming the fix when a file is missing."""
    vendor = Path(vendor_dir) if vendor_dir is not None else VENDOR_DIR
    missing = [FILES[k] for k in (keys or FILES) if not (vendor / FILES[k]).exists()]
    if missing:
        raise AssetsMissingError(f"offline map assets missing in {vendor}: {', '.join(missing)}; {SETUP_HINT}")
    return vendor


def asset_path(key: str, vendor_dir: str | os.PathLike | None = None) -> Path:
    """The file of asset ``key`` (see :data:`FILES`) for reading it, e.g. to inline it.

    The vendor folder's copy when it is there (``static/vendor``, what :func:`install` writes); else, for
    Leaflet and jQuery, the file inside the installed XStatic package (found through
    :mod:`importlib.resources`), so a gridplan installed with ``pip install`` finds them too.

    Raises
    ------
    AssetsMissingError
        Neither has the file (the message says how to install it).

    Examples
    --------
    >>> asset_path("leaflet").name
    'leaflet.js'
    """
    vendor = Path(vendor_dir) if vendor_dir is not None else VENDOR_DIR
    path = vendor / FILES[key]
    if path.is_file():
        return path
    if key in _XSTATIC_FILES:
        module, name = _XSTATIC_FILES[key]
        try:
            packaged = resources.files(f"xstatic.pkg.{module}") / "data" / name
        except ModuleNotFoundError:
            packaged = None
        if packaged is not None and packaged.is_file():
            return Path(str(packaged))
    raise AssetsMissingError(f"offline map asset {FILES[key]} missing in {vendor}; {SETUP_HINT}")


# --------------------------------------------------------------------------- URLs and folium maps
def asset_urls(base: str = DEFAULT_BASE) -> dict[str, str]:
    """Asset key → URL under ``base`` (e.g. ``{"leaflet": "/app/static/vendor/leaflet/leaflet.js", …}``)."""
    base = _norm_base(base)
    return {k: f"{base}/{rel}" for k, rel in FILES.items()}


def _norm_base(base: str) -> str:
    """``app/static/vendor`` → ``/app/static/vendor``: st_folium loads scripts from inside its component
    iframe (``/component/streamlit_folium…/``), where a relative URL would point into the component's
    folder; Streamlit serves ``static/`` at ``/app/static/``."""
    base = base.rstrip("/")
    if base.startswith("app/static"):
        base = "/" + base
    return base


def _walk(element):
    yield element
    for child in list(getattr(element, "_children", {}).values()):
        yield from _walk(child)


def localize_map(m, base: str = DEFAULT_BASE, *, check: bool = True, vendor_dir=None, icon_fix: bool = True):
    """Point every ``default_js`` / ``default_css`` of a folium map and its elements at local files.

    Bootstrap, Font Awesome and awesome-markers are dropped (gridplan's maps use CircleMarker and
    DivIcon); an element needing a resource gridplan does not ship raises
    :class:`AssetsMissingError`. Also fixes ``L.Icon.Default.imagePath``. Changes ``m`` in place and
    returns it. ``check`` verifies the files are installed in ``vendor_dir``. ``icon_fix=False``
    leaves out the image-path fix (for layers rendered apart from their map).
    """
    from folium.elements import JSCSSMixin

    if check:
        check_installed(vendor_dir)
    urls = asset_urls(base)
    unknown = []
    for el in _walk(m):
        if not isinstance(el, JSCSSMixin):
            continue
        for attr in ("default_js", "default_css"):
            new = []
            for name, url in getattr(el, attr):
                key = _NAME_TO_KEY.get(name) or _BASENAME_TO_KEY.get(url.rsplit("/", 1)[-1])
                if name in DROPPED:
                    continue
                if key is None:
                    if url in urls.values():
                        new.append((name, url))
                    else:
                        unknown.append(f"{type(el).__name__}: {name} ({url})")
                    continue
                new.append((name, urls[key]))
            setattr(el, attr, new)  # instance attribute: the class lists stay untouched
    if unknown:
        raise AssetsMissingError("these map resources are not available offline: " + "; ".join(unknown)
                                 + " — gridplan only ships Leaflet, jQuery and leaflet.draw")
    if icon_fix:
        _add_icon_fix(m, f"{_norm_base(base)}/leaflet/images/")
    return m


def _add_icon_fix(m, image_path: str | None, data_uris: dict | None = None) -> None:
    from folium.elements import MacroElement
    from folium.template import Template

    for child in list(m._children.values()):
        if getattr(child, "_gridplan_icon_fix", False):
            m._children.pop(child.get_name(), None)
    if data_uris:
        js = ("L.Icon.Default.imagePath = '';\n"
              f"L.Icon.Default.mergeOptions({json.dumps(data_uris)});")
    else:
        js = f"L.Icon.Default.imagePath = {json.dumps(image_path)};"
    el = MacroElement()
    el._template = Template("{% macro script(this, kwargs) %}\n" + js + "\n{% endmacro %}")
    el._gridplan_icon_fix = True  # type: ignore[attr-defined]  # our mark on folium's element
    m.add_child(el)
    # render the fix before any marker: move it to the front of the map's children
    m._children.move_to_end(el.get_name(), last=False)


def marker_icon_data_uris(vendor_dir=None) -> dict[str, str]:
    """Leaflet's default marker images as data URIs (for standalone HTML)."""
    img = asset_path("leaflet", vendor_dir).parent / "images"
    return {"iconUrl": _data_uri(img / "marker-icon.png"), "iconRetinaUrl": _data_uri(img / "marker-icon-2x.png"),
            "shadowUrl": _data_uri(img / "marker-shadow.png")}


# --------------------------------------------------------------------------- standalone HTML
def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix.lower() == ".svg":
        mime = "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


_CSS_URL = re.compile(r"url\(\s*(['\"]?)([^'\")]+)\1\s*\)")


def _inline_css(css: str, css_dir: Path) -> str:
    def repl(mo):
        ref = mo.group(2).strip()
        if ref.startswith(("data:", "#")):
            return mo.group(0)
        target = (css_dir / ref.split("?")[0].split("#")[0]).resolve()
        if not target.exists():
            if ref.startswith(("http:", "https:", "//")):
                raise AssetsMissingError(f"a stylesheet refers to an outside file {ref}")
            log.warning("CSS reference %s not found; left out", ref)
            return "url()"
        return f'url("{_data_uri(target)}")'
    return _CSS_URL.sub(repl, css)


_SCRIPT_TAG = re.compile(r"<script\b[^>]*\bsrc\s*=\s*(['\"])([^'\"]+)\1[^>]*>\s*</script>", re.I)
_LINK_TAG = re.compile(r"<link\b[^>]*\bhref\s*=\s*(['\"])([^'\"]+)\1[^>]*/?>", re.I)


def _key_for_url(url: str, urls_to_key: dict) -> str | None:
    if url in urls_to_key:
        return urls_to_key[url]
    for key, rel in FILES.items():
        if url.endswith("/" + rel) or url == rel:
            return key
    return _BASENAME_TO_KEY.get(url.split("?")[0].rsplit("/", 1)[-1])


def inline_assets(html: str, *, vendor_dir=None, strict: bool = True) -> str:
    """Inline every script and stylesheet link of ``html`` (CSS ``url(...)`` as data URIs).

    Links to Leaflet, jQuery and leaflet.draw (local or CDN) are replaced by the installed files
    (:func:`asset_path`);
    Bootstrap/Font Awesome/awesome-markers links are removed. With ``strict``, any other outside
    ``<script src>`` or stylesheet raises :class:`AssetsMissingError` — the result must render
    with no network.
    """
    cache: dict[str, str] = {}
    leftovers = []

    def script(mo):
        url = mo.group(2)
        if url.startswith("data:"):
            return mo.group(0)
        key = _key_for_url(url, {})
        if key is None:
            if any(d in url for d in ("bootstrap", "awesome-markers", "awesome_markers", "fontawesome")):
                return ""
            leftovers.append(url)
            return mo.group(0)
        if key not in cache:
            js = asset_path(key, vendor_dir).read_text(encoding="utf-8")
            cache[key] = js.replace("</script", "<\\/script")
        return f"<script>/* {FILES[key]} (inlined) */\n{cache[key]}\n</script>"

    def link(mo):
        tag, url = mo.group(0), mo.group(2)
        if not re.search(r"rel\s*=\s*['\"]?stylesheet", tag, re.I):
            return tag
        if url.startswith("data:"):
            return tag
        key = _key_for_url(url, {})
        if key is None:
            if any(d in url for d in ("bootstrap", "awesome", "fontawesome", "glyphicons")):
                return ""
            leftovers.append(url)
            return tag
        if key not in cache:
            path = asset_path(key, vendor_dir)
            css = _inline_css(path.read_text(encoding="utf-8"), path.parent)
            cache[key] = css.replace("</style", "<\\/style")
        return f"<style>/* {FILES[key]} (inlined) */\n{cache[key]}\n</style>"

    out = _SCRIPT_TAG.sub(script, html)
    out = _LINK_TAG.sub(link, out)
    if leftovers and strict:
        raise AssetsMissingError("cannot inline these outside resources (the page would need the network): "
                                 + ", ".join(sorted(set(leftovers))))
    return out


def streamlit_config_ok(root: str | os.PathLike | None = None) -> bool:
    """Whether ``.streamlit/config.toml`` under ``root`` turns on static serving."""
    root = Path(root) if root is not None else VENDOR_DIR.parent.parent
    cfg = root / ".streamlit" / "config.toml"
    return cfg.exists() and re.search(r"enableStaticServing\s*=\s*true", cfg.read_text(encoding="utf-8")) is not None


# --------------------------------------------------------------------------- command line
def main(argv=None) -> int:
    """Run ``python -m gridplan.assets`` (``install`` the map assets into ``static/vendor``, …); return the exit code."""
    p = argparse.ArgumentParser(prog="python -m gridplan.assets", description="offline map assets (Leaflet, …)")
    sub = p.add_subparsers(dest="cmd", required=True)
    pi = sub.add_parser("install", help="copy the map assets from the installed packages into static/vendor")
    pi.add_argument("--dest", default=None, help=f"target folder (default {VENDOR_DIR})")
    pi.add_argument("--force", action="store_true", help="copy again even if present")
    pc = sub.add_parser("check", help="check the assets are installed")
    pc.add_argument("--dest", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.cmd == "install":
            man = install(args.dest, force=args.force)
            print(f"map assets in {args.dest or VENDOR_DIR}: "
                  + ", ".join(f"{k} {v}" for k, v in man["versions"].items()))
        else:
            print(f"map assets OK in {check_installed(args.dest)}")
    except AssetsMissingError as e:
        print(f"错误 / error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
