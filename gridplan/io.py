"""Read datasets in every supported format and write layers back, atomically, in the input CRS.

A dataset (SPEC §2) is a folder of layer files — ``communities``, ``compounds``, ``buildings``,
``roads``, ``stations``, each ``.geojson``, ``.gpkg``, ``.shp`` or ``.fgb`` (Chinese file names
such as ``楼栋.geojson`` are accepted) — or one GeoPackage holding those layer names, or a .zip of
such files (an upload), or a dict of GeoDataFrames (for notebooks and tests).

Reading never writes: the user's files keep their bytes and modification times (archives are
unpacked into a private temporary folder). Every problem becomes a :class:`~gridplan.Problem`;
:func:`read_dataset` raises one :class:`~gridplan.ValidationError` listing all of them, and even an
unexpected failure inside gridplan is reported that way rather than as a traceback.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import geopandas as gpd
import pandas as pd
import pyogrio
from pyproj import CRS

from ._atomic import atomic_path
from ._errors import Problem, ValidationError
from .checks import LAYER_ALIASES, LoadOptions, normalise
from .model import ID_FIELD, LAYERS, Dataset

log = logging.getLogger(__name__)

#: file extensions read as layers, with the format name used in messages
FORMATS = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".shp": "shp", ".fgb": "fgb",
           ".zip": "shp"}


#: files that belong to a Shapefile (or a GeoPackage's journal) beside a layer of that name
_SIDECARS = {".shx", ".dbf", ".prj", ".cpg", ".sbn", ".sbx", ".qix", ".qmd", ".xml", ".gpkg-wal", ".gpkg-shm",
             ".gpkg-journal", ".qpj", ".atx", ".ain", ".aih", ".ixs", ".mxs", ".fix", ".lock"}

#: spreadsheet and text tables read as a layer of points (经度/纬度 columns) or of WKT geometries, when the
#: file is named after a layer (``buildings.csv``, ``楼栋.xlsx``)
TABLE_FORMATS = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")

#: headers of the coordinate columns of such a table (compared like other headers: no blanks, case, unit)
COORDINATE_ALIASES = {
    "lon": ("经度", "lon", "lng", "long", "longitude", "x", "x坐标", "横坐标", "东经", "中心点经度", "gcj经度", "wgs84经度"),
    "lat": ("纬度", "lat", "latitude", "y", "y坐标", "纵坐标", "北纬", "中心点纬度", "gcj纬度", "wgs84纬度"),
    "wkt": ("wkt", "geometry", "geom", "the_geom", "shape", "几何", "几何图形", "空间信息", "轮廓", "坐标串"),
}


#: default size limit of one input file in MB (the environment variable overrides it, e.g. on a server)
DEFAULT_MAX_FILE_MB = 1024.0


def default_max_file_mb() -> float:
    """The file size limit: ``GRIDPLAN_MAX_FILE_MB`` if set, else :data:`DEFAULT_MAX_FILE_MB`."""
    try:
        return float(os.environ.get("GRIDPLAN_MAX_FILE_MB", DEFAULT_MAX_FILE_MB))
    except ValueError:
        return DEFAULT_MAX_FILE_MB


def _canonical_layer(stem: str) -> str | None:
    s = stem.strip().lower()
    for layer, names in LAYER_ALIASES.items():
        if s in names:
            return layer
    return None


def _sidecar(path: Path, ext: str) -> Path | None:
    """The file beside ``path`` with extension ``ext`` in any letter case (``.dbf`` / ``.DBF``)."""
    for cand in (path.with_suffix(ext), path.with_suffix(ext.upper())):
        if cand.exists():
            return cand
    stem = path.stem.lower()
    for cand in path.parent.iterdir():
        if cand.stem.lower() == stem and cand.suffix.lower() == ext:
            return cand
    return None


def _dbf_text_sample(dbf: Path, limit: int = 2_000_000) -> tuple[list[bytes], bytes]:
    """The field names and the first records of a .dbf file: the bytes that carry text."""
    with open(dbf, "rb") as f:
        head = f.read(32)
        if len(head) < 32:
            return [], b""
        header_len = int.from_bytes(head[8:10], "little")
        desc = f.read(max(header_len - 32, 0))
        names = [desc[i:i + 11].split(b"\x00")[0] for i in range(0, len(desc) - 31, 32) if desc[i] != 0x0D]
        return names, f.read(limit)


def _decode(raw: bytes, encoding: str, errors: str = "strict") -> str:
    """Decode, forgiving a multi-byte character cut at the end (DBF field names are cut at 10 bytes)."""
    for cut in range(4):
        try:
            return (raw[:-cut] if cut else raw).decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode(encoding, errors=errors)


def _detect_encoding(names: list[bytes], records: bytes) -> str | None:
    """``None`` for pure ASCII, else the first of UTF-8 and GB18030 that decodes the text."""
    if all(b < 0x80 for n in names for b in n) and records.isascii():
        return None
    for enc in ("UTF-8", "GB18030"):
        try:
            for n in names:
                _decode(n, enc)
            _decode(records, enc)  # a record cut at the sample limit may end inside a character
            return enc
        except UnicodeDecodeError:
            continue
    return None


def _shapefile_encoding(shp: Path, problems: list, layer: str) -> str | None:
    """The encoding of a Shapefile's attributes (``None``: plain ASCII, let GDAL decide).

    GDAL reads a .dbf without a .cpg as ISO-8859-1, which garbles Chinese text; Chinese desktop GIS
    often writes GBK without saying so, or a .cpg that claims UTF-8. The bytes decide; a mismatch
    with the .cpg is reported as a warning.
    """
    dbf = _sidecar(shp, ".dbf")
    if dbf is None:
        return None
    cpg = _sidecar(shp, ".cpg")
    declared = ""
    if cpg is not None:
        declared = cpg.read_bytes()[:64].decode("ascii", errors="replace").strip()
    detected = _detect_encoding(*_dbf_text_sample(dbf))
    if detected is None:
        return None
    d = declared.upper().replace("-", "").replace("_", "")
    declared_is = {"UTF8": "UTF-8", "65001": "UTF-8", "GBK": "GB18030", "GB2312": "GB18030", "GB18030": "GB18030",
                   "936": "GB18030", "CP936": "GB18030", "ANSI936": "GB18030"}.get(d)
    if declared_is == detected:
        return detected
    if cpg is not None and declared:
        problems.append(Problem("warning", layer, None, f"{cpg.name} declares the encoding {declared!r} but the "
                                f"attributes are {detected}; they were read as {detected} / 编码声明与内容不符",
                                f"write {detected} into {cpg.name} (or save the Shapefile as UTF-8)",
                                "encoding_assumed"))
    else:
        problems.append(Problem("warning", layer, None, f"{shp.name} has no .cpg file; its attributes were read as "
                                f"{detected} / 缺少 .cpg 编码文件", f"add {shp.stem}.cpg containing {detected} "
                                "(or save the Shapefile as UTF-8)", "encoding_assumed"))
    return detected


def _recode(gdf: gpd.GeoDataFrame, encoding: str) -> gpd.GeoDataFrame:
    """Text read as Latin-1 (byte for byte) decoded with the real encoding, names and values."""
    def fix(v):
        if isinstance(v, str):
            try:
                return _decode(v.encode("latin-1"), encoding, errors="replace")
            except UnicodeEncodeError:
                return v
        return v
    geom = gdf.geometry.name
    out = gdf.rename(columns={c: fix(c) for c in gdf.columns if c != geom})
    for c in out.columns:
        if c != geom and (out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype)):
            out[c] = out[c].map(fix).astype(object)
    return out


def _read_file(path: Path, layer: str | None = None, *, encoding: str | None = None) -> gpd.GeoDataFrame:
    kw = {"layer": layer} if layer else {}
    if encoding:
        # read the bytes as Latin-1 (never fails) and decode them here, so that a field name cut inside a
        # character by the 10-byte DBF limit does not make the whole file unreadable
        kw["encoding"] = "ISO-8859-1"
    src = f"/vsizip/{path}" if path.suffix.lower() == ".zip" else path
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gdf = pyogrio.read_dataframe(src, **kw)
    for w in caught:
        log.info("%s: %s", path.name, w.message)
    return _recode(gdf, encoding) if encoding else gdf


def _number(v) -> float | None:
    """A coordinate cell as a number (full-width digits and a trailing ° accepted); ``None`` when it is not one."""
    import unicodedata
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    t = unicodedata.normalize("NFKC", str(v)).strip().rstrip("°").strip()
    try:
        return float(t)
    except ValueError:
        return None


def read_table_layer_file(path: Path, layer: str) -> tuple[gpd.GeoDataFrame | None, list[Problem]]:
    """A layer kept as a table (first sheet of a workbook, or CSV/TXT in UTF-8/GBK/UTF-16): points from
    its 经度/纬度 (lon/lat, x/y) columns, or geometries from a WKT column.

    The header row may sit under a title row. The other columns are kept under their own headers (as
    text; the loader reads counts in text). The table declares no CRS: longitude/latitude is taken as
    WGS 84 unless the dataset is loaded with ``coord_system``/``assume_crs``. Returns the layer (``None``
    when it cannot be built) and the problems, each naming the file and the row.
    """
    import shapely

    from .tables import alias_index, cell, find_header, read_sheets
    problems: list[Problem] = []
    try:
        sheet = read_sheets(path, sheet=0, layer=layer)[0]
    except ValidationError as e:
        return None, list(e.problems)
    rows = sheet.rows
    where = f"{path.name}" + (f" [{sheet.name}]" if sheet.name else "")
    header = find_header(rows, alias_index(COORDINATE_ALIASES),
                         accept=lambda f: {"lon", "lat"} <= f or "wkt" in f)
    if header is None:
        problems.append(Problem("error", layer, None, f"{where}: the table has no coordinate columns (经度/纬度, "
                                "x/y or WKT) in its first rows / 表格没有坐标列", "add 经度 and 纬度 columns (or a WKT "
                                "column), or save the layer from a GIS as GeoJSON/GeoPackage", "no_geometry"))
        return None, problems
    texts = header.texts(rows)
    by_field = {f: j for j, f in header.fields.items()}
    use_wkt = "wkt" in by_field and not ({"lon", "lat"} <= set(by_field))
    geo_cols = {by_field["wkt"]} if use_wkt else {by_field["lon"], by_field["lat"]}
    names: list[str] = []
    for j, t in enumerate(texts):
        name = t or f"column_{j + 1}"
        while name in names:
            name += "_"
        names.append(name)
    keep = [j for j in range(len(texts)) if j not in geo_cols and texts[j]]
    records, geoms, bad = [], [], []
    for r in range(header.index + 1, len(rows)):
        row = list(rows[r]) + [None] * max(0, len(texts) - len(rows[r]))
        if all(cell(v) is None for v in row[:len(texts)]):
            continue
        g = None
        if use_wkt:
            w = cell(row[by_field["wkt"]])
            if w is not None:
                try:
                    g = shapely.from_wkt(str(w))
                except Exception:  # noqa: BLE001 - shapely's GEOSException on bad WKT
                    bad.append((r + 1, f"WKT {str(w)[:40]!r} cannot be read"))
        else:
            x, y = cell(row[by_field["lon"]]), cell(row[by_field["lat"]])
            if x is not None or y is not None:
                fx, fy = (_number(x) if x is not None else None), (_number(y) if y is not None else None)
                if fx is None or fy is None:
                    bad.append((r + 1, f"{texts[by_field['lon']]}/{texts[by_field['lat']]} = {x!r}/{y!r} is not a "
                                "pair of numbers"))
                else:
                    g = shapely.Point(fx, fy)
        records.append({names[j]: cell(row[j]) for j in keep})
        geoms.append(g)
    for rownum, what in bad[:20]:
        problems.append(Problem("error", layer, f"row {rownum}", f"{where} row {rownum}: {what} / 坐标无法识别",
                                "write the coordinates as decimal degrees (e.g. 120.6234, 31.3012) or as WKT "
                                "(POINT (120.6234 31.3012))", "bad_coordinates"))
    if len(bad) > 20:
        problems.append(Problem("error", layer, None, f"{where}: {len(bad) - 20} more row(s) with unreadable "
                                "coordinates", "correct the coordinate columns", "bad_coordinates"))
    frame = pd.DataFrame(records, columns=[names[j] for j in keep]).astype(object)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=None), crs=None), problems


def _first_line(e: BaseException) -> str:
    msg = str(e).strip()
    return msg.splitlines()[0][:200] if msg else type(e).__name__


def _size(mb: float) -> str:
    return f"{mb * 1000:.1f} KB" if mb < 1 else f"{mb:,.0f} MB"


def _file_size_mb(p: Path) -> float:
    size = p.stat().st_size
    if p.suffix.lower() == ".shp":
        for ext in (".dbf", ".shx"):
            side = _sidecar(p, ext)
            if side is not None:
                size += side.stat().st_size
    return size / 1e6


def _zip_member_name(info: zipfile.ZipInfo) -> str:
    """The member's name, also when a Chinese Windows zip tool stored it in GBK without the UTF-8 flag
    (Python then decodes it as CP437: ``楼栋.shp`` would read as ``┬Ñ╢░.shp``)."""
    name = info.filename
    if info.flag_bits & 0x800 or name.isascii():
        return name
    try:
        return name.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name


def _read_zip(path: Path, *, as_layer: str | None, max_file_mb: float, single: bool = False):
    """The layers of a .zip archive: one layer (``buildings.zip`` holding a Shapefile) or a whole dataset.

    The members are extracted into a private temporary folder (flattened, hidden files and
    ``__MACOSX`` skipped, the total uncompressed size checked against the limit first) and read from
    there; the archive itself is only read.
    """
    where = as_layer or "dataset"
    problems: list[Problem] = []
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            members = [i for i in infos
                       if not any(part.startswith(".") or part == "__MACOSX" for part in PurePosixPath(i.filename).parts)]
            total_mb = sum(i.file_size for i in members) / 1e6
            if total_mb > max_file_mb:
                problems.append(Problem("error", where, None, f"{path.name} unpacks to {_size(total_mb)}, above the "
                                        f"{_size(max_file_mb)} limit / 文件过大", "split the data or raise the limit "
                                        "(max_file_mb, GRIDPLAN_MAX_FILE_MB)", "file_too_big"))
                return {}, {}, problems
            with tempfile.TemporaryDirectory(prefix="gridplan-zip-") as tmp:
                d = Path(tmp)
                for i in members:
                    name = PurePosixPath(_zip_member_name(i)).name
                    if not name or name in (".", ".."):
                        continue
                    target = d / name
                    if target.exists():
                        problems.append(Problem("error", where, None, f"{path.name} holds two files named {name!r}",
                                                "keep one file of each name in the archive", "duplicate_layer"))
                        continue
                    with zf.open(i) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                known = [f for f in d.iterdir() if f.suffix.lower() in FORMATS and f.suffix.lower() != ".zip"]
                rename_to = None
                if len(known) == 1 and known[0].suffix.lower() != ".gpkg":
                    if as_layer is not None:
                        rename_to = as_layer
                    elif single and _canonical_layer(known[0].stem) is None:
                        rename_to = "buildings"
                if rename_to and known[0].stem != rename_to:
                    stem = known[0].stem
                    for f in list(d.iterdir()):
                        if f.stem == stem:
                            f.rename(d / f"{rename_to}{f.suffix}")
                if not known:
                    problems.append(Problem("error", where, None, f"{path.name} holds no layer file",
                                            "zip the layer files (.shp with .shx/.dbf/.prj/.cpg, .geojson, .gpkg, "
                                            ".fgb)", "no_layers"))
                    return {}, {}, problems
                sub_layers, sub_formats, sub_problems = read_layers(d, max_file_mb=max_file_mb)
                for p in sub_problems:
                    problems.append(Problem(p.severity, p.layer, p.feature,
                                            p.message.replace(str(d), path.name).replace(f"{d.name}", path.name),
                                            p.fix, p.code))
                return sub_layers, sub_formats, problems
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, ValueError) as e:
        problems.append(Problem("error", where, None, f"{path.name} cannot be read as a zip archive "
                                f"({_first_line(e)}) / 无法读取", "zip the layer files again (a plain .zip, "
                                "no password)", "unreadable"))
        return {}, {}, problems


class _LayerReader:
    """The steps of :func:`read_layers`, collecting layers, their formats and every problem."""

    def __init__(self, max_file_mb: float):
        self.max_file_mb = max_file_mb
        self.problems: list[Problem] = []
        self.layers: dict[str, gpd.GeoDataFrame] = {}
        self.formats: dict[str, str] = {}

    def add(self, layer, gdf, fmt, where):
        if not isinstance(gdf, gpd.GeoDataFrame) or gdf._geometry_column_name not in gdf.columns:
            self.problems.append(Problem("error", layer, None, f"{where} has no geometry column / 没有几何图形",
                                         "save the layer with its geometry (a spatial layer, not a plain table)",
                                         "no_geometry"))
            return
        self.layers[layer], self.formats[layer] = gdf, fmt

    def from_mapping(self, source: Mapping) -> None:
        """Layers given as GeoDataFrames (keys: layer names or their aliases)."""
        for key, gdf in source.items():
            layer = key if key in LAYERS else _canonical_layer(str(key))
            if layer is None:
                self.problems.append(Problem("warning", str(key), None, "is not a known layer and is ignored",
                                             f"name layers {', '.join(LAYERS)}", "unknown_layer"))
                continue
            if not isinstance(gdf, gpd.GeoDataFrame):
                self.problems.append(Problem("error", layer, None, "is not a GeoDataFrame",
                                             "pass geopandas GeoDataFrames", "not_a_layer"))
                continue
            self.add(layer, gdf, "memory", f"layer {key!r}")

    def too_big(self, p: Path, layer: str) -> bool:
        mb = _file_size_mb(p)
        if mb > self.max_file_mb:
            self.problems.append(Problem("error", layer, None, f"{p.name} is {_size(mb)}, above the "
                                         f"{_size(self.max_file_mb)} limit / 文件过大", "split the data (e.g. one "
                                         "street at a time) or raise the limit (max_file_mb, GRIDPLAN_MAX_FILE_MB)",
                                         "file_too_big"))
            return True
        return False

    def read_gpkg(self, p: Path, *, only: str | None = None) -> None:
        """All layers of a GeoPackage (``only``: the one layer this per-layer file gives)."""
        problems = self.problems
        where = only or "dataset"
        if self.too_big(p, where):
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                info = pyogrio.list_layers(p)
        except Exception as e:  # noqa: BLE001 - any driver failure is reported, not raised
            problems.append(Problem("error", where, None, f"{p.name} cannot be read as a GeoPackage "
                                    f"({_first_line(e)}) / 无法读取", "check that the file is a valid GeoPackage "
                                    "(open it in QGIS and save it again)", "unreadable"))
            return
        names = [str(row[0]) for row in info]
        if only is not None:
            own = [n for n in names if _canonical_layer(n) == only]
            pick = own[0] if own else (names[0] if names else None)
            if pick is None:
                problems.append(Problem("error", only, None, f"{p.name} holds no layer", "save the layer into the "
                                        "GeoPackage again", "unreadable"))
                return
            if len(names) > 1 and not own:
                problems.append(Problem("warning", only, None, f"{p.name} holds {len(names)} layers; the first, "
                                        f"{pick!r}, was read", f"name the layer {only!r} or keep one layer per file",
                                        "ambiguous_layer"))
            plan = [(only, pick)]
        else:
            plan = []
            for n in names:
                layer = _canonical_layer(n)
                if layer is None:
                    if n.lower() not in ("layer_styles", "compound_status"):  # the status table: see read_dataset
                        problems.append(Problem("warning", n, None, f"layer {n!r} of {p.name} is not a known layer "
                                                "and is ignored", f"name layers {', '.join(LAYERS)}",
                                                "unknown_layer"))
                    continue
                if layer in self.layers or any(lay == layer for lay, _ in plan):
                    problems.append(Problem("error", layer, None, f"two layers give {layer}, one is {n!r}",
                                            "keep one layer per kind", "duplicate_layer"))
                    continue
                plan.append((layer, n))
        for layer, n in plan:
            try:
                self.add(layer, _read_file(p, n), "gpkg", f"layer {n!r} of {p.name}")
            except Exception as e:  # noqa: BLE001
                problems.append(Problem("error", layer, None, f"layer {n!r} of {p.name} cannot be read "
                                        f"({_first_line(e)}) / 无法读取", "re-export the layer from your GIS",
                                        "unreadable"))

    def merge(self, sub_layers, sub_formats, sub_problems) -> None:
        """Add the layers read from a zip archive."""
        for k, g in sub_layers.items():
            if k in self.layers:
                self.problems.append(Problem("error", k, None, "two files give this layer (one inside a zip "
                                             "archive)", "keep one file per layer", "duplicate_layer"))
                continue
            self.layers[k], self.formats[k] = g, sub_formats[k]
        self.problems.extend(sub_problems)

    def layer_files(self, path: Path) -> list[tuple[str, Path]]:
        """The per-layer files of ``path`` (a folder or one file); GeoPackages of several layers and zip
        archives are read on the way."""
        problems = self.problems
        files: list[tuple[str, Path]] = []
        if path.is_file():
            ext = path.suffix.lower()
            if ext in TABLE_FORMATS:
                return [(_canonical_layer(path.stem) or "buildings", path)]
            if ext not in FORMATS:
                problems.append(Problem("error", "dataset", None, f"{path.name}: the format {path.suffix or '(none)'} "
                                        "is not supported / 不支持的格式", "give a folder of .geojson/.gpkg/.shp/.fgb "
                                        "layer files, a .zip of them, or one GeoPackage", "unsupported_format"))
                return files
            if ext == ".gpkg" and _canonical_layer(path.stem) is None:
                self.read_gpkg(path)
                return files
            if ext == ".zip":
                self.merge(*_read_zip(path, as_layer=_canonical_layer(path.stem), max_file_mb=self.max_file_mb,
                                      single=True))
                return files
            # a single layer file is a dataset of buildings only, if it is named so or nothing else fits
            return [(_canonical_layer(path.stem) or "buildings", path)]
        if path.suffix.lower() == ".gdb":
            problems.append(Problem("error", "dataset", None, f"{path.name} is an ArcGIS file geodatabase, which is not "
                                    "read / 不支持 FileGDB", "export its layers to one GeoPackage (ArcGIS: Feature Class "
                                    "To Geodatabase → .gpkg; QGIS: Package Layers) named buildings, communities …",
                                    "unsupported_format"))
            return files
        unread: dict[str, list[str]] = {}
        for p in sorted(path.iterdir()):
            ext = p.suffix.lower()
            named = _canonical_layer(p.stem)
            if ext in TABLE_FORMATS and p.is_file() and not p.name.startswith((".", "~$")) and named is not None:
                files.append((named, p))      # buildings.csv, 楼栋.xlsx: a layer as a table
                continue
            if ext not in FORMATS and not p.name.startswith((".", "~$")) and named is not None \
                    and (p.is_file() or ext == ".gdb") and ext not in _SIDECARS:
                unread.setdefault(named, []).append(p.name)   # 楼栋.kml, buildings.tab, 社区.gdb
                continue
            if ext not in FORMATS or p.name.startswith(".") or not p.is_file() or p.name == METADATA_FILE:
                continue
            if ext == ".gpkg" and _canonical_layer(p.stem) is None:
                self.read_gpkg(p)
                continue
            if ext == ".zip":
                self.merge(*_read_zip(p, as_layer=_canonical_layer(p.stem), max_file_mb=self.max_file_mb))
                continue
            layer = _canonical_layer(p.stem)
            if layer is None:
                problems.append(Problem("warning", p.name, None, "is not a known layer file and is ignored",
                                        f"name layer files {', '.join(LAYERS)} (.geojson/.gpkg/.shp/.fgb)",
                                        "unknown_layer"))
                continue
            files.append((layer, p))
        main = (".kml", ".kmz", ".tab", ".mif", ".gdb", ".dxf", ".dwg", ".gml", ".sqlite", ".mdb")
        for layer, names in unread.items():
            if layer not in self.layers and all(lay != layer for lay, _ in files):
                names = sorted(names, key=lambda n: (Path(n).suffix.lower() not in main, n))
                left_out = "" if layer == "buildings" else "; the layer is left out"
                problems.append(Problem("error" if layer == "buildings" else "warning", layer, None,
                                        f"{', '.join(names[:3])}: this format is not read{left_out} / 不支持的格式",
                                        "save the layer as GeoPackage, GeoJSON or Shapefile (QGIS: Export → Save "
                                        "Features As), or as a table with 经度/纬度 columns", "unsupported_format"))
        if not files and not self.layers and not problems:
            problems.append(Problem("error", "dataset", None, f"{path} holds no layer files / 文件夹中没有图层文件",
                                    "add buildings.geojson (or .gpkg/.shp/.fgb) and the other layers",
                                    "no_layers"))
        return files

    def read_files(self, files: list[tuple[str, Path]]) -> None:
        """Read each layer file (one file per layer)."""
        seen: dict[str, Path] = {}
        for layer, p in files:
            if layer in seen or layer in self.layers:
                other = seen[layer].name if layer in seen else "a GeoPackage layer"
                self.problems.append(Problem("error", layer, None, f"two files give this layer: {other} and "
                                             f"{p.name}", "keep one file per layer", "duplicate_layer"))
                continue
            seen[layer] = p
            if p.suffix.lower() == ".gpkg":
                self.read_gpkg(p, only=layer)
                continue
            if not self.too_big(p, layer):
                self.read_file(layer, p)

    def read_file(self, layer: str, p: Path) -> None:
        """One layer file (GeoJSON, Shapefile with its sidecars, FlatGeobuf)."""
        problems = self.problems
        ext = p.suffix.lower()
        encoding = None
        if ext in TABLE_FORMATS:
            gdf, more = read_table_layer_file(p, layer)
            problems.extend(more)
            if gdf is not None:
                self.add(layer, gdf, "table", p.name)
            return
        if ext == ".shp":
            missing = [e for e in (".shx", ".dbf") if _sidecar(p, e) is None]
            if missing:
                problems.append(Problem("error", layer, None, f"{p.name} comes without its {' and '.join(missing)} "
                                        "file(s) / Shapefile 缺少配套文件", f"copy {', '.join(p.stem + e for e in missing)} "
                                        "next to it (a Shapefile is several files), or save the layer as GeoPackage",
                                        "missing_sidecar"))
                return
            try:
                encoding = _shapefile_encoding(p, problems, layer)
            except OSError:
                encoding = None
        try:
            try:
                gdf = _read_file(p, encoding=encoding)
            except UnicodeDecodeError:
                if ext == ".shp":
                    raise
                # a GeoJSON saved in GBK by a Chinese tool (GeoJSON must be UTF-8): read it as GB18030 and say so
                gdf = pyogrio.read_dataframe(p, encoding="GB18030")
                problems.append(Problem("warning", layer, None, f"{p.name} is not UTF-8; it was read as GBK "
                                        "(GB18030) / 文件编码不是 UTF-8", f"save {p.name} as UTF-8",
                                        "encoding_assumed"))
            self.add(layer, gdf, FORMATS.get(ext, "file"), p.name)
        except Exception as e:  # noqa: BLE001
            problems.append(Problem("error", layer, None, f"{p.name} cannot be read ({_first_line(e)}) / 无法读取",
                                    "check the file: re-export it from your GIS as GeoJSON or GeoPackage",
                                    "unreadable"))


def read_layers(source, *, max_file_mb: float | None = None):
    """Read the raw layers of a dataset without changing them (nor the files).

    Returns
    -------
    layers, formats, problems
        ``layers`` maps canonical layer names to GeoDataFrames as read; ``formats`` the format of
        each; ``problems`` lists unreadable files, unknown layers and the like.
    """
    r = _LayerReader(default_max_file_mb() if max_file_mb is None else float(max_file_mb))
    if isinstance(source, Mapping):
        r.from_mapping(source)
        return r.layers, r.formats, r.problems
    path = Path(source)
    if not path.exists():
        r.problems.append(Problem("error", "dataset", None, f"{path} does not exist / 路径不存在",
                                  "give a folder of layer files or a GeoPackage (.gpkg)", "no_such_path"))
        return r.layers, r.formats, r.problems
    r.read_files(r.layer_files(path))
    return r.layers, r.formats, r.problems


def read_dataset(source, *, coord_system: str | None = None, column_map: dict | None = None,
                 area_per_household_m2: float = 90.0, persons_per_household: float = 2.7,
                 metric_crs=None, max_file_mb: float | None = None, name: str | None = None,
                 assume_crs=None) -> Dataset:
    """Load, check and normalise a dataset.

    Parameters
    ----------
    source
        A folder of layer files, a GeoPackage, one layer file, or a dict of GeoDataFrames.
    coord_system
        ``'gcj02'`` (Amap/Tencent) or ``'bd09'`` (Baidu) when the data was digitised on those web
        maps; it is converted to WGS 84 on load.
    column_map
        Hand mapping of headers to canonical fields, per layer (``{"buildings": {"HH": "households"}}``)
        or flat (``{"HH": "households"}``).
    area_per_household_m2, persons_per_household
        Used to estimate missing counts (estimated values are flagged).
    metric_crs
        Force the CRS to compute in; by default chosen from the data's location.
    assume_crs
        The CRS of layers whose file declares none (a Shapefile without .prj); by default EPSG:4326.
        A declared CRS always wins.
    max_file_mb
        Refuse files larger than this (default :func:`default_max_file_mb`: 1024 MB, or
        ``GRIDPLAN_MAX_FILE_MB``).

    Raises
    ------
    ValidationError
        listing every problem (layer, feature, fix) when any is an error. The input files are
        only read, never written.
    """
    opts = LoadOptions(coord_system=coord_system, column_map=column_map,
                       area_per_household_m2=area_per_household_m2, persons_per_household=persons_per_household,
                       metric_crs=metric_crs, max_file_mb=default_max_file_mb() if max_file_mb is None else max_file_mb,
                       assume_crs=assume_crs)
    problems: list[Problem] = []
    status = None
    try:
        status_src = None
        if isinstance(source, Mapping) and "compound_status" in source:
            status_src = source["compound_status"]
            source = {k: v for k, v in source.items() if k != "compound_status"}
        raw, formats, pre = read_layers(source, max_file_mb=opts.max_file_mb)
        layers, problems, source_crs, _ = normalise(raw, formats=formats, options=opts, preproblems=pre)
        if layers is not None:
            status, more = _compound_status(source, status_src, layers.get("compounds"))
            problems = [*problems, *more]
    except ValidationError:
        raise
    except Exception as e:  # noqa: BLE001 - the last safety net: a bug in gridplan must not become a traceback
        # the traceback is for a bug report (-v shows it), not for the user's screen
        log.info("unexpected failure while loading %s", source, exc_info=True)
        problems = [*problems, Problem("error", "dataset", None, f"gridplan could not check this dataset "
                                       f"({type(e).__name__}: {_first_line(e)})",
                                       "please report this with the files; meanwhile re-export the data from your "
                                       "GIS as GeoPackage", "internal")]
        raise ValidationError(problems) from e
    if layers is None or any(p.severity == "error" for p in problems):
        raise ValidationError(problems)
    for p in problems:
        log.info("%s", p)
    if problems:
        log.warning("%d warning(s) while loading %s (see Dataset.warnings), e.g. %s", len(problems),
                    "the layers" if isinstance(source, Mapping) else source, problems[0])
    if name is None:
        name = dataset_name(source)
    system = "wgs84"
    if coord_system and str(coord_system).lower() not in ("wgs84", "epsg:4326", "4326"):
        from .crs import normalise_offset_system
        system = normalise_offset_system(coord_system)
    return Dataset(**layers, source_crs=source_crs or CRS.from_epsg(4326), name=name, problems=tuple(problems),
                   coord_system=system, compound_status=status)


def _compound_status(source, given, compounds):
    """The optional 三无/三有 status history beside the layers (``compound_status.csv`` in a folder, a
    ``compound_status`` table in a GeoPackage, or a DataFrame under that key of a dict), validated
    against the compounds (see :mod:`gridplan.sanwu`). A zipped upload is not searched for it.
    Returns ``(table or None, problems)``."""
    from .sanwu import FILE_NAME, TABLE_NAME, check_compound_status
    src = given
    if src is None and not isinstance(source, Mapping):
        p = Path(source)
        if p.is_dir():
            hit = [f for f in p.iterdir() if f.name.lower() == FILE_NAME]
            src = hit[0] if hit else None
        elif p.suffix.lower() == ".gpkg":
            try:
                names = [str(r[0]) for r in pyogrio.list_layers(p)]
            except Exception:  # noqa: BLE001 - an unreadable file was reported by read_layers already
                names = []
            if TABLE_NAME in names:
                src = read_table_layer(p, TABLE_NAME)
    if src is None:
        return None, []
    table, problems = check_compound_status(src, compounds)
    return (None if any(q.severity == "error" for q in problems) else table), problems


#: what an upload may hold: layer files, zipped Shapefiles (with their side files) and layers kept as
#: tables (:data:`TABLE_FORMATS`)
UPLOAD_TYPES = ("geojson", "json", "gpkg", "fgb", "zip") + tuple(e.lstrip(".") for e in TABLE_FORMATS)


def uploaded_name(names) -> str:
    """The name of a dataset uploaded as files: the file's own name for one file, else the first
    few names joined (``buildings+communities+compounds+…``)."""
    stems = sorted(dict.fromkeys(Path(str(n)).stem for n in names if n))
    if not stems:
        return "upload"
    return "+".join(stems[:3]) + ("+…" if len(stems) > 3 else "")


def read_uploaded(files, *, name: str | None = None, max_file_mb: float | None = None, **options) -> Dataset:
    """A dataset from files held in memory (a browser upload): ``files`` are ``(file name, bytes)``.

    The files go into a fresh private temporary folder (names stripped of any path, so nothing
    lands elsewhere), are read with :func:`read_dataset` (``options``) and the folder is deleted
    again whatever happens. Files of another type (:data:`UPLOAD_TYPES`) or above ``max_file_mb``
    are refused, each with a problem naming the file; the dataset is named after its files
    (:func:`uploaded_name`) unless ``name`` is given.

    Raises
    ------
    ValidationError
        listing every refused file, or every problem of the data.
    """
    import re
    files = [(str(n), bytes(b)) for n, b in files]
    limit = default_max_file_mb() if max_file_mb is None else float(max_file_mb)
    problems: list[Problem] = []
    if not files:
        problems.append(Problem("error", "upload", None, "no file was uploaded / 没有上传文件",
                                "choose the layer files (buildings, communities …) to upload", "no_layers"))
    folder = Path(tempfile.mkdtemp(prefix="gridplan-upload-"))
    try:
        for raw_name, data in files:
            fname = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", Path(raw_name.replace("\\", "/")).name).strip(" .") or "upload"
            mb = len(data) / 1e6
            if mb > limit:
                problems.append(Problem("error", "upload", fname, f"{fname} is {_size(mb)}, above the {_size(limit)} "
                                        "limit / 文件过大", "split the data (e.g. one street at a time)", "file_too_big"))
                continue
            if Path(fname).suffix.lower().lstrip(".") not in UPLOAD_TYPES:
                problems.append(Problem("error", "upload", fname, f"{fname}: this file type is not read / 不支持的文件类型",
                                        f"upload {', '.join('.' + t for t in UPLOAD_TYPES)} files (Shapefiles zipped; "
                                        "tables with 经度/纬度 or WKT columns)",
                                        "unsupported_format"))
                continue
            target, i = folder / fname, 1
            while target.exists():
                target = folder / f"{Path(fname).stem}_{i}{Path(fname).suffix}"
                i += 1
            target.write_bytes(data)
        if problems:
            raise ValidationError(problems)
        return read_dataset(folder, name=name or uploaded_name(n for n, _ in files), max_file_mb=limit, **options)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


#: an optional file in a dataset folder: ``{"name": "什邡市示例城区"}`` gives the dataset's display name
METADATA_FILE = "dataset.json"


def dataset_name(source) -> str:
    """The display name of a dataset source: the ``name`` in the folder's ``dataset.json`` when there
    is one (the bundled sample is "什邡市示例城区"), else the folder or file name."""
    if isinstance(source, Mapping):
        return "dataset"
    path = Path(source)
    meta = path / METADATA_FILE if path.is_dir() else None
    if meta is not None and meta.is_file():
        try:
            import json
            name = json.loads(meta.read_text(encoding="utf-8")).get("name")
            if isinstance(name, str) and name.strip():
                return name.strip()
        except (OSError, ValueError, AttributeError) as e:
            log.warning("%s is not readable (%s); the folder name is used", meta, e)
    return path.stem


def validate(source, **options) -> list[Problem]:
    """Every problem of a dataset (errors and warnings), without raising for bad data."""
    try:
        ds = read_dataset(source, **options)
    except ValidationError as e:
        return list(e.problems)
    return list(ds.problems)


# --------------------------------------------------------------------------- writing
OUTPUT_SYSTEMS = ("input", "wgs84", "gcj02", "bd09")


def to_output_crs(gdf: gpd.GeoDataFrame, dataset: Dataset, *, driver: str,
                  coord_system: str = "input") -> gpd.GeoDataFrame:
    """A layer in the coordinates it is written in.

    GeoJSON is always longitude/latitude (EPSG:4326), other formats use the input CRS. Data read as
    GCJ-02 (Amap/Tencent) or BD-09 (Baidu) is written back in that system, so outputs line up with
    the basemap it was digitised on; ``coord_system`` (``"input"``, ``"wgs84"``, ``"gcj02"`` or
    ``"bd09"``) chooses another.
    """
    if coord_system not in OUTPUT_SYSTEMS:
        raise ValueError(f"unknown output coordinate system {coord_system!r}; use one of {', '.join(OUTPUT_SYSTEMS)}")
    system = dataset.coord_system if coord_system == "input" else coord_system
    if gdf.crs is None:
        return gdf
    if system in ("gcj02", "bd09"):
        from .crs import from_wgs84
        g = gdf.to_crs(4326)
        return g.set_geometry(gpd.GeoSeries(from_wgs84(g.geometry.to_numpy(), system), index=g.index, crs=4326))
    if coord_system == "wgs84" and dataset.coord_system != "wgs84":
        target = CRS.from_epsg(4326)  # the input was offset lon/lat: plain WGS 84 lon/lat out
    else:
        target = CRS.from_epsg(4326) if driver == "GeoJSON" else (dataset.source_crs or CRS.from_epsg(4326))
    return gdf.to_crs(target)


def write_layers(layers: Mapping[str, gpd.GeoDataFrame], path, *, dataset: Dataset | None = None,
                 driver: str | None = None, overwrite: bool = True, coord_system: str = "input") -> Path:
    """Write named layers to one file atomically: a GeoPackage takes all layers; GeoJSON/FlatGeobuf one.

    The file is written beside the target and moved into place, so a crash never leaves a
    half-written file where the previous one was. Layers are reprojected to the output CRS of
    ``dataset`` (see :func:`to_output_crs`; ``coord_system`` chooses the offset system) when it is
    given. In a GeoPackage a plain DataFrame (no geometry) is written as an attribute table.
    """
    path = Path(path)
    driver = driver or {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".fgb": "FlatGeobuf",
                        ".shp": "ESRI Shapefile"}.get(path.suffix.lower())
    if driver is None:
        raise ValueError(f"cannot tell the format of {path.name}; use .gpkg, .geojson, .fgb or .shp")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another name or allow overwriting")
    if driver != "GPKG" and len(layers) != 1:
        raise ValueError(f"{driver} holds one layer; write {len(layers)} layers to a .gpkg")
    sidecars = (".shx", ".dbf", ".prj", ".cpg") if driver == "ESRI Shapefile" else ()
    with atomic_path(path, sidecars=sidecars) as tmp:
        for lname, gdf in layers.items():
            if not isinstance(gdf, gpd.GeoDataFrame):
                if driver != "GPKG":
                    raise ValueError(f"layer {lname!r} has no geometry; attribute tables go into a .gpkg")
                table = gdf.reset_index() if gdf.index.name and gdf.index.name not in gdf.columns else gdf
                pyogrio.write_dataframe(pd.DataFrame(table), tmp, layer=str(lname), driver="GPKG",
                                        append=tmp.exists())
                continue
            out = to_output_crs(gdf, dataset, driver=driver, coord_system=coord_system) if dataset is not None else gdf
            out = out.reset_index() if out.index.name and out.index.name not in out.columns else out
            # the layer name (GeoJSON's "name", FlatGeobuf's header) would otherwise be the temporary file's
            kw: dict[str, object] = {"layer": str(lname)} if driver != "ESRI Shapefile" else {}
            if driver == "GeoJSON":
                kw["layer_options"] = {"COORDINATE_PRECISION": 7}
            if driver == "ESRI Shapefile":
                kw["encoding"] = "UTF-8"
            out.to_file(tmp, driver=driver, engine="pyogrio", **kw)
    return path


#: file extension of each driver :func:`write_dataset` writes
DATASET_DRIVERS = {"GPKG": ".gpkg", "GeoJSON": ".geojson", "FlatGeobuf": ".fgb"}

#: columns the loader derives (written back they would be read as data)
_DERIVED_COLUMNS = {"buildings": ("households_estimated", "persons_estimated"), "compounds": ("sanwu",)}


def write_dataset(dataset: Dataset, folder, *, driver: str = "GPKG") -> list[Path]:
    """Write every layer of a dataset into ``folder`` as ``<layer>.gpkg`` (or ``.geojson``/``.fgb``),
    each atomically, in the input CRS (GeoJSON: EPSG:4326), so :func:`read_dataset` reads it back.

    Estimated counts are written empty (the loader estimates and flags them again instead of
    taking them for counted values); the other derived columns (``sanwu``, the estimate flags)
    are left out. Returns the files written.
    """
    if driver not in DATASET_DRIVERS:
        raise ValueError(f"unknown driver {driver!r}; use one of {', '.join(DATASET_DRIVERS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, gdf in dataset.layers().items():
        out = gdf.copy()
        if name == "buildings":
            for count, flag in (("households", "households_estimated"), ("persons", "persons_estimated")):
                if count in out.columns and flag in out.columns:
                    out[count] = out[count].astype("Int64").mask(out[flag].fillna(False).astype(bool))
        out = out.drop(columns=[c for c in _DERIVED_COLUMNS.get(name, ()) if c in out.columns])
        path = folder / f"{name}{DATASET_DRIVERS[driver]}"
        written.append(write_layers({name: out}, path, dataset=dataset, driver=driver))
    return written


def read_table_layer(path, layer: str) -> pd.DataFrame:
    """One layer of a file as a plain DataFrame (no geometry needed), e.g. a plan's assignment."""
    return pyogrio.read_dataframe(path, layer=layer, read_geometry=False)


#: the columns of a plan file's ``grids`` layer (SPEC §7), in order
PLAN_GRID_COLUMNS = ("community_id", "households", "persons", "party_members", "buildings", "compliant", "rule_met",
                     "reason", "note", "polsby_popper", "contiguous", "compounds_whole", "compounds_split")


def write_plan(dataset: Dataset, plan, path, *, grid_layer: gpd.GeoDataFrame | None = None,
               coord_system: str = "input") -> Path:
    """Write a plan as a GeoPackage (atomically, in the dataset's input CRS).

    Layers: ``assignment`` (building_id, grid_id), ``grids`` (grid_id, :data:`PLAN_GRID_COLUMNS`,
    polygon) and ``plan_info`` (the rule, locked grids and label, so :func:`read_plan` restores them).
    """
    from .metrics import grids as grid_layer_of

    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise ValueError(f"a plan is written as a GeoPackage: use a .gpkg name, not {path.name}")
    g = grid_layer_of(dataset, plan) if grid_layer is None else grid_layer
    g = g[[c for c in PLAN_GRID_COLUMNS if c in g.columns] + ["geometry"]]
    info = {**{f"rule.{k}": str(v) for k, v in plan.rule.as_dict().items()},
            "locked": ",".join(sorted(plan.locked)), "label": plan.label}
    info_table = pd.DataFrame({"key": list(info), "value": list(info.values())})
    assignment = plan.assignment.rename("grid_id").rename_axis("building_id").reset_index()
    return write_layers({"grids": g, "assignment": assignment, "plan_info": info_table}, path, dataset=dataset,
                        coord_system=coord_system)


def read_plan(path, dataset: Dataset | None = None):
    """Read a plan file written by :func:`write_plan` (or any GeoPackage with an ``assignment`` layer
    of ``building_id``, ``grid_id``); checked against ``dataset`` when given.

    Raises
    ------
    FileNotFoundError, ValueError, PlanError
        with a message naming the file and the fix.
    """
    from .model import Plan, Rule

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"plan {p} does not exist; write one with `gridplan partition DATASET --out {p.name}`")
    try:
        t = read_table_layer(p, "assignment")
    except Exception as e:  # noqa: BLE001 - any driver failure becomes a message
        raise ValueError(f"{p} has no readable 'assignment' layer ({str(e).splitlines()[0][:120]}); "
                         "use a plan written by `gridplan partition`") from None
    missing = {"building_id", "grid_id"} - set(t.columns)
    if missing:
        raise ValueError(f"the assignment layer of {p} lacks {sorted(missing)}; it needs building_id and grid_id")
    rule, label = Rule(), f"loaded from {p.name}"
    locked: list[str] = []
    try:
        info = dict(read_table_layer(p, "plan_info")[["key", "value"]].itertuples(index=False))
    except Exception:  # noqa: BLE001 - plan_info is optional (plans from other tools)
        info = {}
    if info:
        fields = {k[5:]: v for k, v in info.items() if k.startswith("rule.")}
        rule = Rule(**{k: (v if k == "mode" else int(v)) for k, v in fields.items()})  # type: ignore[arg-type]
        locked = [g for g in str(info.get("locked") or "").split(",") if g]
        label = info.get("label") or label
    plan = Plan(pd.Series(t["grid_id"].astype(str).to_numpy(), index=t["building_id"].astype(str).to_numpy()),
                rule=rule, locked=locked, label=label)
    if dataset is not None:
        plan.check_against(dataset.buildings.index)
    return plan


def write_zip_shapefile(gdf: gpd.GeoDataFrame, path, *, dataset: Dataset | None = None,
                        coord_system: str = "input") -> Path:
    """A zipped Shapefile (with a UTF-8 .cpg so Chinese attributes survive) written atomically."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as d:
        shp = Path(d) / f"{path.stem}.shp"
        write_layers({path.stem: gdf}, shp, dataset=dataset, driver="ESRI Shapefile", coord_system=coord_system)
        cpg = shp.with_suffix(".cpg")
        if not cpg.exists():
            cpg.write_text("UTF-8")
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(Path(d).iterdir()):
                z.write(f, f.name)
    return path


def layer_ids(dataset: Dataset, layer: str) -> pd.Index:
    """The ids of a layer's features (an empty index when the dataset lacks the layer)."""
    g = dataset.layer(layer)
    return pd.Index([]) if g is None else g.index.rename(ID_FIELD[layer])


# --------------------------------------------------------------------------- building → grid tables and drafts
#: header aliases of an assignment table (a building → grid CSV exported earlier or made in a spreadsheet)
ASSIGNMENT_ALIASES = {
    "building_id": ("building_id", "楼栋编码", "楼栋编号", "楼栋", "building", "bldg_id"),
    "grid_id": ("grid_id", "网格编码", "网格编号", "网格", "grid"),
}


def read_assignment_csv(source, *, name: str | None = None) -> pd.Series:
    """A building → grid table as a Series (index ``building_id``, values ``grid_id``).

    ``source`` is a path or the file's bytes (an upload; ``name`` is then used in messages). The
    headers may be the English field names or the Chinese ones (楼栋编码/楼栋, 网格编码/网格);
    UTF-8 (with or without BOM) and GBK are read. Cells are read as text, stripped; the ``'`` that
    :func:`gridplan.export.export_assignment` puts before formula-like ids is removed again.

    Raises
    ------
    ValueError
        naming the file and what to change (missing columns, empty or repeated building ids,
        an unreadable file).
    """
    import io as _io

    label = name or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "the table")
    raw = bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    df = None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            df = pd.read_csv(_io.BytesIO(raw), dtype=str, encoding=enc, keep_default_na=False)
            break
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            raise ValueError(f"{label} is not a readable CSV ({str(e).splitlines()[0][:120]}) / 无法读取; "
                             "save it from the spreadsheet as CSV (UTF-8)") from None
    if df is None:
        raise ValueError(f"{label} is neither UTF-8 nor GBK text / 编码无法识别; save it as CSV (UTF-8)")
    cols = {str(c).strip().lower(): c for c in df.columns}
    found = {f: next((cols[a.lower()] for a in aliases if a.lower() in cols), None)
             for f, aliases in ASSIGNMENT_ALIASES.items()}
    missing = [f for f, c in found.items() if c is None]
    if missing:
        raise ValueError(f"{label} lacks the column(s) {', '.join(missing)} / 缺少列 "
                         f"{'、'.join(ASSIGNMENT_ALIASES[f][1] for f in missing)}; the table needs building_id "
                         "(楼栋编码) and grid_id (网格编码)")
    # gridplan writes ids that a spreadsheet would run as a formula with a leading ' (export_assignment)
    b = df[found["building_id"]].astype(str).str.strip().str.replace(r"^'(?=[=+\-@])", "", regex=True)
    g = df[found["grid_id"]].astype(str).str.strip().str.replace(r"^'(?=[=+\-@])", "", regex=True)
    empty = (b == "") | (g == "")
    if empty.any():
        rows = (empty[empty].index[:5] + 2).tolist()          # spreadsheet rows (header is row 1)
        raise ValueError(f"{label}: rows {rows} have an empty building_id or grid_id / 存在空值; fill them or "
                         "delete the rows")
    dup = b[b.duplicated()].unique()[:5].tolist()
    if dup:
        raise ValueError(f"{label}: building(s) {dup} appear more than once / 楼栋重复; keep one row per building")
    return pd.Series(g.to_numpy(), index=pd.Index(b.to_numpy(), name="building_id"), name="grid_id", dtype=object)


def plan_to_json(plan, **meta) -> str:
    """A plan as JSON text (assignment, rule, locked grids, label, plus ``meta``), e.g. a draft."""
    import json
    return json.dumps({"format": "gridplan-plan", "version": 1, **meta, "label": plan.label,
                       "rule": plan.rule.as_dict(), "locked": sorted(plan.locked),
                       # the same mapping as .to_dict(), an order of magnitude faster on string indexes
                       "assignment": dict(zip(plan.assignment.index.tolist(), plan.assignment.tolist()))},
                      ensure_ascii=False)


def plan_from_json(text: str):
    """The plan of :func:`plan_to_json` and its extra fields: ``(plan, meta)``.

    Raises ValueError for text that is not such a plan."""
    import json

    from .model import Plan, Rule
    try:
        d = json.loads(text)
        if d.get("format") != "gridplan-plan":
            raise ValueError("not a gridplan plan")
        plan = Plan(pd.Series(d["assignment"], dtype=object), rule=Rule(**d["rule"]), locked=d.get("locked", ()),
                    label=str(d.get("label", "")))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"not a readable plan ({e})") from None
    meta = {k: v for k, v in d.items() if k not in ("format", "version", "label", "rule", "locked", "assignment")}
    return plan, meta


def write_plan_json(plan, path, **meta) -> Path:
    """Write :func:`plan_to_json` atomically (a crash leaves the old file or the new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(plan_to_json(plan, **meta), encoding="utf-8")
    return path


def read_plan_json(path):
    """``(plan, meta)`` from a file of :func:`write_plan_json`."""
    return plan_from_json(Path(path).read_text(encoding="utf-8"))
