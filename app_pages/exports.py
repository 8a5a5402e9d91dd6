"""Glue between the export page and the library's writers: each returns (bytes, file name, MIME type).

The library writes into a fresh temporary folder and the bytes are read back, so a download never
overwrites anything under ``maps/`` or elsewhere.
"""
from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

MIME = {
    ".pdf": "application/pdf", ".png": "image/png", ".html": "text/html", ".geojson": "application/geo+json",
    ".gpkg": "application/geopackage+sqlite3", ".zip": "application/zip", ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _read(path: Path) -> tuple[bytes, str, str]:
    return path.read_bytes(), path.name, MIME.get(path.suffix.lower(), "application/octet-stream")


def _zip_folder(folder: Path, name: str) -> tuple[bytes, str, str]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder).as_posix())
    return buf.getvalue(), name, MIME[".zip"]


def build(kind: str, ds, plan, grids, *args, base: str, lang: str = "zh", include_personal: bool = False,
          coverage=None):
    with tempfile.TemporaryDirectory(prefix="gridplan-export-") as d:
        d = Path(d)
        if kind == "assignment":
            a = plan.assignment.rename("grid_id").reset_index()
            return a.to_csv(index=False).encode("utf-8-sig"), f"{base}_assignment.csv", MIME[".csv"]
        from gridplan import export
        if kind == "html":
            path, = export.export_html(ds, plan, d / f"{base}_map.html", grids=grids, coverage=coverage,
                                       lang=lang, include_personal=include_personal)
            return _read(path)
        if kind == "data":
            fmt = args[0] if args else "gpkg"
            out = d / "out"
            written = export.export_data(ds, plan, out, grids=grids, formats=[fmt], include_personal=include_personal,
                                         stem=f"{base}_grids")
            if fmt == "gpkg":
                return _read(written[0])
            return _zip_folder(out, f"{base}_grids_{fmt}.zip")
        if kind == "ledger":
            fmt = args[0] if args else "xlsx"
            written = export.export_ledger(ds, plan, d / f"{base}_网格台账.{fmt}", grids=grids, coverage=coverage,
                                           include_personal=include_personal, csv=(fmt == "csv"))
            return _read(written[0])
        if kind == "hierarchy":
            path, = export.export_hierarchy(ds, plan, d / f"{base}_党建层级.csv", grids=grids,
                                            include_personal=include_personal)
            return _read(path)
        if kind == "poster":
            paper, orientation, fmt = tuple(args) + ("A3", "landscape", "pdf")[len(args):]
            paths = export.export_poster(ds, plan, d / f"{base}_poster_{paper}.{fmt}", grids=grids, paper=paper,
                                         orientation=orientation, lang=lang, coverage=coverage, dpi=150)
            return _read(Path(paths[0]))
        raise ValueError(f"unknown export {kind!r}")
