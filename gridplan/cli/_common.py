"""What every subcommand shares: exit codes, output, dataset options and option parsing.

Usage errors (a malformed option value) raise :class:`UsageError`, which :func:`gridplan.cli.main`
turns into exit status 2 with the message; bad input data exits 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_CONFLICT = 0, 1, 2, 3


class UsageError(Exception):
    """A command-line option has a malformed value (exit status 2)."""


def emit(args, payload: dict, human: str) -> None:
    """Print JSON when ``--json`` was given, the human summary otherwise."""
    if getattr(args, "json", False):
        print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    else:
        print(human)


def error(message: str) -> None:
    """Print an error message on stderr (both languages' prefix)."""
    print(f"错误 / error: {message}", file=sys.stderr)


def add_dataset_options(p: argparse.ArgumentParser) -> None:
    """The options every command that loads a dataset takes."""
    p.add_argument("dataset", help="folder of layer files, or a GeoPackage")
    p.add_argument("--coord-system", choices=["wgs84", "gcj02", "bd09"], default=None,
                   help="the data was digitised on Amap/Tencent (gcj02) or Baidu (bd09) maps")
    p.add_argument("--map", dest="column_map", action="append", default=[], metavar="SRC=FIELD",
                   help="map a column by hand, e.g. --map 住户=households (repeatable)")
    p.add_argument("--assume-crs", default=None, metavar="CRS",
                   help="CRS of layer files that declare none, e.g. EPSG:4544 (a Shapefile without .prj)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a human summary")


def add_output_options(p: argparse.ArgumentParser) -> None:
    """``--out-coord-system``: the coordinates files are written in."""
    p.add_argument("--out-coord-system", choices=["input", "wgs84", "gcj02", "bd09"], default="input",
                   help="coordinates of the files written: input (default: GCJ-02/BD-09 data is written back "
                        "in it), wgs84, gcj02 (Amap/Tencent) or bd09 (Baidu)")


def add_scheduler_options(p: argparse.ArgumentParser, *, what: str = "the communities") -> None:
    """``--scheduler`` (a Dask cluster) and ``--connect-timeout``."""
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT|local[:N]",
                   help=f"solve {what} on a Dask cluster: the address of a running scheduler (`dask scheduler`), "
                        "or local:N for N worker processes on this machine; the result is the same")
    p.add_argument("--connect-timeout", type=float, default=None, metavar="SECONDS",
                   help="seconds to wait for the scheduler (default 5)")


def cluster_options(args) -> dict:
    """``scheduler`` and ``connect_timeout_s`` from the command line (UsageError on bad values), and
    ``progress``: a bar only on a terminal and not with --json."""
    if args.scheduler is None:
        return {}
    import logging

    from ..cluster import CONNECT_TIMEOUT_S, parse_scheduler
    if not logging.getLogger().isEnabledFor(logging.INFO):  # Dask's start/stop chatter only with -v
        import distributed  # noqa: F401 - its import sets its loggers' levels: set ours after it
        logging.getLogger("distributed").setLevel(logging.WARNING)
    parse_or_usage(parse_scheduler, args.scheduler)
    t = CONNECT_TIMEOUT_S if args.connect_timeout is None else args.connect_timeout
    if not t > 0:
        raise UsageError(f"--connect-timeout takes seconds > 0, got {args.connect_timeout}")
    return {"scheduler": args.scheduler, "connect_timeout_s": float(t),
            "progress": bool(sys.stderr.isatty() and not getattr(args, "json", False))}


def parse_column_map(items) -> dict[str, str] | None:
    """``["住户=households", …]`` → ``{"住户": "households"}``; :class:`UsageError` on a malformed item."""
    cmap: dict[str, str] = {}
    for item in items or ():
        k, sep, v = str(item).partition("=")
        if not sep or not k.strip() or not v.strip():
            raise UsageError(f"--map takes SRC=FIELD (e.g. --map 户数=households), got {item!r}")
        cmap[k.strip()] = v.strip()
    return cmap or None


def load(args):
    """Load the dataset named on the command line (raises ValidationError on bad data)."""
    from ..io import read_dataset
    return read_dataset(args.dataset, coord_system=args.coord_system, column_map=parse_column_map(args.column_map),
                        assume_crs=getattr(args, "assume_crs", None))


#: argument names that hold the user's input files (compared with every ``--out``)
INPUT_ARGS = ("dataset", "plan", "from_plan", "staff", "schedule", "url", "rosters")


def _layer_stem(path: Path) -> bool:
    from ..io import _canonical_layer
    return _canonical_layer(path.stem) is not None


def refuse_overwriting_inputs(args) -> None:
    """:class:`UsageError` when ``--out`` names one of the command's input files (the dataset, one of its
    layer files, the plan, a staff list, a store …) or the dataset's own folder: writing there would
    replace or mix into the user's data. ``gridplan partition city.gpkg --out city.gpkg`` used to replace
    the dataset by the plan."""
    out = getattr(args, "out", None)
    if not out or getattr(args, "command", None) == "roster":    # roster checks its folder itself
        return
    o = Path(out).resolve()
    for name in INPUT_ARGS:
        values = getattr(args, name, None)
        for v in (values if isinstance(values, list) else [values]):
            if not v or (isinstance(v, str) and "://" in v):
                continue
            src = Path(v).resolve()
            same = o == src or (src.suffix.lower() == ".shp" and o.parent == src.parent and o.stem == src.stem)
            into = name == "dataset" and src.is_dir() and (o.parent == src or src in o.parents) and (
                o.exists() or _layer_stem(o))
            if same or into:
                what = "the input dataset" if name == "dataset" else f"the input {name.replace('_', ' ')} file"
                raise UsageError(f"--out {out} would overwrite {what} ({Path(v).name}) / 输出会覆盖输入文件; "
                                 "write to another file or folder")


def parse_or_usage(fn, text):
    """``fn(text)``, with a ValueError turned into a :class:`UsageError`."""
    try:
        return fn(text)
    except ValueError as e:
        raise UsageError(str(e)) from None
