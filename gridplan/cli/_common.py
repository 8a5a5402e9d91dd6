"""What every subcommand shares: exit codes, output, dataset options and option parsing.

Usage errors (a malformed option value) raise :class:`UsageError`, which :func:`gridplan.cli.main`
turns into exit status 2 with the message; bad input data exits 1.
"""
from __future__ import annotations

import argparse
import json
import sys

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


def parse_or_usage(fn, text):
    """``fn(text)``, with a ValueError turned into a :class:`UsageError`."""
    try:
        return fn(text)
    except ValueError as e:
        raise UsageError(str(e)) from None
