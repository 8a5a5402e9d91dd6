"""Glue between the export page and the library's writers: each returns (bytes, file name, MIME type).

The library writes into a fresh temporary folder and the bytes are read back, so a download never
overwrites anything under ``maps/`` or elsewhere. Every export shows what the planner sees: the
what-if stations (``stations``) and their coverage.
"""
from __future__ import annotations

import io
import re
import tempfile
import zipfile
from pathlib import Path

MIME = {
    ".pdf": "application/pdf", ".png": "image/png", ".html": "text/html", ".geojson": "application/geo+json",
    ".gpkg": "application/geopackage+sqlite3", ".zip": "application/zip", ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def basename(ds) -> str:
    """A file name from the dataset's display name."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f\s]+', "_", ds.name or "gridplan").strip("._") or "gridplan"
    return safe[:60]


def _read(path: Path) -> tuple[bytes, str, str]:
    return path.read_bytes(), path.name, MIME.get(path.suffix.lower(), "application/octet-stream")


def _zip_folder(folder: Path, name: str) -> tuple[bytes, str, str]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder).as_posix())
    return buf.getvalue(), name, MIME[".zip"]


def build(kind: str, ds, plan, *args, lang: str = "zh", include_personal: bool = False, coverage=None,
          stations=None, chain: dict | None = None):
    """One export of ``kind`` as (bytes, file name, MIME type). ``chain`` adds the party-chain page's
    state (``staff``, ``mobile``, ``sanwu_since``, ``households_per_central``, ``max_grids_per_leader``)
    to the exports that show it."""
    from gridplan import export
    chain = chain or {}
    staff = chain.get("staff")
    base = basename(ds)
    with tempfile.TemporaryDirectory(prefix="gridplan-export-") as d:
        d = Path(d)
        if kind == "assignment":
            return _read(export.export_assignment(ds, plan, d / f"{base}_assignment.csv")[0])
        if kind == "html":
            path, = export.export_html(ds, plan, d / f"{base}_map.html", coverage=coverage, stations=stations,
                                       lang=lang, include_personal=include_personal, staff=staff)
            return _read(path)
        if kind == "data":
            fmt = args[0] if args else "gpkg"
            out = d / "out"
            written = export.export_data(ds, plan, out, formats=[fmt], include_personal=include_personal,
                                         stem=f"{base}_grids")
            return _read(written[0]) if fmt == "gpkg" else _zip_folder(out, f"{base}_grids_{fmt}.zip")
        if kind == "ledger":
            fmt = args[0] if args else "xlsx"
            written = export.export_ledger(ds, plan, d / f"{base}_网格台账.{fmt}", coverage=coverage,
                                           include_personal=include_personal, csv=(fmt == "csv"), **chain)
            return _read(written[0])
        if kind == "hierarchy":
            path, = export.export_hierarchy(ds, plan, d / f"{base}_党建层级.csv", include_personal=include_personal,
                                             households_per_central=chain.get("households_per_central"))
            return _read(path)
        if kind == "poster":
            paper, orientation, fmt = tuple(args) + ("A3", "landscape", "pdf")[len(args):]
            paths = export.export_poster(ds, plan, d / f"{base}_poster_{paper}.{fmt}", paper=paper,
                                         orientation=orientation, lang=lang, coverage=coverage, stations=stations,
                                         dpi=150, formats=[fmt], staff=staff, include_personal=include_personal)
            return _read(Path(paths[0]))
        raise ValueError(f"unknown export {kind!r}")
