"""Read datasets in every supported format and write layers back, atomically, in the input CRS.

A dataset (SPEC §2) is a folder of layer files — ``communities``, ``compounds``, ``buildings``,
``roads``, ``stations``, each ``.geojson``, ``.gpkg``, ``.shp`` or ``.fgb`` (Chinese file names
such as ``楼栋.geojson`` are accepted) — or one GeoPackage holding those layer names, or a dict
of GeoDataFrames (for notebooks and tests).
"""
from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Mapping

import geopandas as gpd
import pandas as pd
import pyogrio
from pyproj import CRS

from ._errors import Problem, ValidationError
from .model import ID_FIELD, LAYERS, Dataset
from .validate import LAYER_ALIASES, LoadOptions, normalise

log = logging.getLogger(__name__)

#: file extensions read as layers, with the format name used in messages
FORMATS = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".shp": "shp", ".fgb": "fgb",
           ".zip": "shp"}


def _canonical_layer(stem: str) -> str | None:
    s = stem.strip().lower()
    for layer, names in LAYER_ALIASES.items():
        if s in names:
            return layer
    return None


def _read_file(path: Path, layer: str | None = None) -> gpd.GeoDataFrame:
    kw = {"layer": layer} if layer else {}
    src = f"/vsizip/{path}" if path.suffix.lower() == ".zip" else path
    return pyogrio.read_dataframe(src, **kw)


def read_layers(source, *, max_file_mb: float = 1024.0):
    """Read the raw layers of a dataset without changing them.

    Returns
    -------
    layers, formats, problems
        ``layers`` maps canonical layer names to GeoDataFrames as read; ``formats`` the format of
        each; ``problems`` lists unreadable files, unknown layers and the like.
    """
    problems: list[Problem] = []
    layers: dict[str, gpd.GeoDataFrame] = {}
    formats: dict[str, str] = {}

    if isinstance(source, Mapping):
        for key, gdf in source.items():
            layer = key if key in LAYERS else _canonical_layer(str(key))
            if layer is None:
                problems.append(Problem("warning", str(key), None, "is not a known layer and is ignored",
                                        f"name layers {', '.join(LAYERS)}", "unknown_layer"))
                continue
            if not isinstance(gdf, gpd.GeoDataFrame):
                problems.append(Problem("error", layer, None, "is not a GeoDataFrame",
                                        "pass geopandas GeoDataFrames", "not_a_layer"))
                continue
            layers[layer], formats[layer] = gdf, "memory"
        return layers, formats, problems

    path = Path(source)
    if not path.exists():
        problems.append(Problem("error", "dataset", None, f"{path} does not exist",
                                "give a folder of layer files or a GeoPackage (.gpkg)", "no_such_path"))
        return layers, formats, problems

    def too_big(p: Path) -> bool:
        mb = p.stat().st_size / 1e6
        if mb > max_file_mb:
            problems.append(Problem("error", p.name, None, f"the file is {mb:.0f} MB, above the {max_file_mb:.0f} MB limit",
                                    "split the data (e.g. one street at a time) or raise max_file_mb", "file_too_big"))
            return True
        return False

    if path.is_file():
        if path.suffix.lower() != ".gpkg":
            # a single layer file is a dataset of buildings only, if it is named so or nothing else fits
            layer = _canonical_layer(path.stem) or "buildings"
            files = [(layer, path)]
        else:
            if too_big(path):
                return layers, formats, problems
            try:
                names = [row[0] for row in pyogrio.list_layers(path)]
            except Exception as e:  # noqa: BLE001 - any driver failure is reported, not raised
                problems.append(Problem("error", path.name, None, f"cannot be read as a GeoPackage ({e})",
                                        "check that the file is a valid GeoPackage (open it in QGIS)", "unreadable"))
                return layers, formats, problems
            for n in names:
                layer = _canonical_layer(n)
                if layer is None:
                    if n.lower() not in ("layer_styles",):
                        problems.append(Problem("warning", n, None, "is not a known layer and is ignored",
                                                f"name layers {', '.join(LAYERS)}", "unknown_layer"))
                    continue
                try:
                    layers[layer] = _read_file(path, n)
                    formats[layer] = "gpkg"
                except Exception as e:  # noqa: BLE001
                    problems.append(Problem("error", layer, None, f"layer {n!r} cannot be read ({e})",
                                            "re-export the layer from your GIS", "unreadable"))
            return layers, formats, problems
    else:
        files = []
        for p in sorted(path.iterdir()):
            ext = p.suffix.lower()
            if ext not in FORMATS or p.name.startswith("."):
                continue
            if ext == ".gpkg" and _canonical_layer(p.stem) is None:
                sub, f2, pr2 = read_layers(p, max_file_mb=max_file_mb)
                for k in sub:
                    if k not in layers:
                        layers[k], formats[k] = sub[k], f2[k]
                problems.extend(pr2)
                continue
            layer = _canonical_layer(p.stem)
            if layer is None:
                problems.append(Problem("warning", p.name, None, "is not a known layer file and is ignored",
                                        f"name layer files {', '.join(LAYERS)} (.geojson/.gpkg/.shp/.fgb)",
                                        "unknown_layer"))
                continue
            files.append((layer, p))
        if not files and not layers:
            problems.append(Problem("error", "dataset", None, f"{path} holds no layer files",
                                    "add buildings.geojson (or .gpkg/.shp/.fgb) and the other layers",
                                    "no_layers"))
    seen: dict[str, Path] = {}
    for layer, p in files:
        if layer in seen:
            problems.append(Problem("error", layer, None, f"two files give this layer: {seen[layer].name} and {p.name}",
                                    "keep one file per layer", "duplicate_layer"))
            continue
        seen[layer] = p
        if too_big(p):
            continue
        try:
            layers[layer] = _read_file(p)
            formats[layer] = FORMATS.get(p.suffix.lower(), "file")
        except Exception as e:  # noqa: BLE001
            msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            problems.append(Problem("error", layer, None, f"{p.name} cannot be read ({msg})",
                                    "check the file: re-export it from your GIS as GeoJSON or GeoPackage",
                                    "unreadable"))
    return layers, formats, problems


def read_dataset(source, *, coord_system: str | None = None, column_map: dict | None = None,
                 area_per_household_m2: float = 90.0, persons_per_household: float = 2.7,
                 metric_crs=None, max_file_mb: float = 1024.0, name: str | None = None) -> Dataset:
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

    Raises
    ------
    ValidationError
        listing every problem (layer, feature, fix) when any is an error.
    """
    opts = LoadOptions(coord_system=coord_system, column_map=column_map,
                       area_per_household_m2=area_per_household_m2, persons_per_household=persons_per_household,
                       metric_crs=metric_crs, max_file_mb=max_file_mb)
    raw, formats, pre = read_layers(source, max_file_mb=max_file_mb)
    layers, problems, source_crs, _ = normalise(raw, formats=formats, options=opts, preproblems=pre)
    if layers is None or any(p.severity == "error" for p in problems):
        raise ValidationError(problems)
    for p in problems:
        log.warning("%s", p)
    if name is None:
        name = Path(source).stem if not isinstance(source, Mapping) else "dataset"
    return Dataset(**layers, source_crs=source_crs or CRS.from_epsg(4326), name=name, problems=tuple(problems))


def validate(source, **options) -> list[Problem]:
    """Every problem of a dataset (errors and warnings), without raising for bad data."""
    try:
        ds = read_dataset(source, **options)
    except ValidationError as e:
        return list(e.problems)
    return list(ds.problems)


# --------------------------------------------------------------------------- writing
def to_output_crs(gdf: gpd.GeoDataFrame, dataset: Dataset, *, driver: str) -> gpd.GeoDataFrame:
    """A layer in the CRS it is written in: GeoJSON always EPSG:4326, otherwise the input CRS."""
    target = CRS.from_epsg(4326) if driver == "GeoJSON" else (dataset.source_crs or CRS.from_epsg(4326))
    return gdf.to_crs(target) if gdf.crs is not None else gdf


def _atomic_target(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    return Path(tmp)


def write_layers(layers: Mapping[str, gpd.GeoDataFrame], path, *, dataset: Dataset | None = None,
                 driver: str | None = None, overwrite: bool = True) -> Path:
    """Write named layers to one file atomically: a GeoPackage takes all layers; GeoJSON/FlatGeobuf one.

    The file is written beside the target and moved into place, so a crash never leaves a
    half-written file where the previous one was. Layers are reprojected to the output CRS of
    ``dataset`` (see :func:`to_output_crs`) when it is given.
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
    tmp = _atomic_target(path)
    try:
        for lname, gdf in layers.items():
            out = to_output_crs(gdf, dataset, driver=driver) if dataset is not None else gdf
            out = out.reset_index() if out.index.name and out.index.name not in out.columns else out
            kw = {"layer": lname} if driver == "GPKG" else {}
            if driver == "GeoJSON":
                kw["layer_options"] = {"COORDINATE_PRECISION": 7}
            if driver == "ESRI Shapefile":
                kw["encoding"] = "UTF-8"
            out.to_file(tmp, driver=driver, engine="pyogrio", **kw)
        os.replace(tmp, path)
        if driver == "ESRI Shapefile":
            for ext in (".shx", ".dbf", ".prj", ".cpg"):
                side = tmp.with_suffix(ext)
                if side.exists():
                    os.replace(side, path.with_suffix(ext))
    finally:
        for ext in ("", ".shx", ".dbf", ".prj", ".cpg"):
            p = tmp.with_suffix(ext) if ext else tmp
            if p.exists():
                p.unlink()
    return path


def read_table_layer(path, layer: str) -> pd.DataFrame:
    """One layer of a file as a plain DataFrame (no geometry needed), e.g. a plan's assignment."""
    return pyogrio.read_dataframe(path, layer=layer, read_geometry=False)


def write_zip_shapefile(gdf: gpd.GeoDataFrame, path, *, dataset: Dataset | None = None) -> Path:
    """A zipped Shapefile (with a UTF-8 .cpg so Chinese attributes survive) written atomically."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as d:
        shp = Path(d) / f"{path.stem}.shp"
        write_layers({path.stem: gdf}, shp, dataset=dataset, driver="ESRI Shapefile")
        cpg = shp.with_suffix(".cpg")
        if not cpg.exists():
            cpg.write_text("UTF-8")
        tmp = _atomic_target(path)
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(Path(d).iterdir()):
                z.write(f, f.name)
        os.replace(tmp, path)
    return path


def layer_ids(dataset: Dataset, layer: str) -> pd.Index:
    g = dataset.layer(layer)
    return pd.Index([]) if g is None else g.index.rename(ID_FIELD[layer])
