"""Glue between the export page and the library's writers: each returns (bytes, file name, MIME type).

Files are written by the library into a fresh temporary folder and read back, so nothing under
``maps/`` or anywhere else is overwritten by a download.
"""
from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

MIME = {
    ".pdf": "application/pdf", ".png": "image/png", ".html": "text/html", ".geojson": "application/geo+json",
    ".gpkg": "application/geopackage+sqlite3", ".zip": "application/zip", ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _read(path: Path) -> tuple[bytes, str, str]:
    return path.read_bytes(), path.name, MIME.get(path.suffix.lower(), "application/octet-stream")


def available(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(f"gridplan.{module}"), name)
    except ImportError:
        return False


def build(kind: str, ds, plan, grids, *args, base: str, lang: str = "zh", include_personal: bool = False):
    with tempfile.TemporaryDirectory(prefix="gridplan-export-") as d:
        d = Path(d)
        if kind == "assignment":
            a = plan.assignment.rename("grid_id").reset_index()
            data = a.to_csv(index=False).encode("utf-8-sig")
            return data, f"{base}_assignment.csv", MIME[".csv"]
        if kind == "html":
            from gridplan import webmap
            m = webmap.make_map(ds, grids=grids, assignment=plan.assignment, lang=lang, asset_base="inline",
                                include_personal=include_personal)
            html = webmap.to_html(m, title=f"{ds.name} 网格")
            return html.encode("utf-8"), f"{base}_map.html", MIME[".html"]
        if kind == "data":
            fmt = args[0] if args else "gpkg"
            from gridplan import export
            path = export.export_data(ds, plan, d / f"{base}_grids.{ 'zip' if fmt == 'shp' else fmt}",
                                      include_personal=include_personal)
            return _read(Path(path))
        if kind == "ledger":
            fmt = args[0] if args else "xlsx"
            from gridplan import export
            path = export.export_ledger(ds, plan, d / f"{base}_ledger.{fmt}", include_personal=include_personal)
            return _read(Path(path))
        if kind == "hierarchy":
            from gridplan import export
            path = export.export_hierarchy(ds, plan, d / f"{base}_hierarchy.csv", include_personal=include_personal)
            return _read(Path(path))
        if kind == "poster":
            paper, orientation, fmt = tuple(args) + ("A3", "landscape", "pdf")[len(args):]
            from gridplan import poster
            path = poster.make_poster(ds, plan, d / f"{base}_poster.{fmt}", paper=paper, orientation=orientation)
            return _read(Path(path))
        raise ValueError(f"unknown export {kind!r}")
