"""``gridplan roster DATASET ROSTER [ROSTER …] --out OUT_DIR [--json] [--map 列名=field]`` (SPEC §7).

Household rosters (住户台账) to building counts: OUT_DIR becomes a dataset with the roster's counts on
the matched buildings (``count_source`` roster/input/estimate on every building) plus
``roster_report.xlsx`` (汇总, 楼栋, 未匹配, 重复, 歧义, 证件号警告; names and ID numbers masked).

``--map`` takes roster columns (``--map 住址楼号=building`` or ``=楼栋``) and, for a target that is a
dataset field, dataset columns (``--map 住户=households``). Exit 0 also with unmatched rows; 1 when
a roster or the dataset cannot be read; 2 on bad usage (a malformed ``--map``, an OUT_DIR that is
the input or exists and is not empty without ``--force``).
"""
from __future__ import annotations

import argparse
import time

from ._common import EXIT_OK, UsageError, emit, load, parse_column_map, parse_or_usage


def register(subparsers) -> argparse.ArgumentParser:
    """Register the ``roster`` subcommand."""
    p = subparsers.add_parser("roster", help="household rosters (住户台账) to building counts")
    p.add_argument("dataset", help="folder of layer files, or a GeoPackage")
    p.add_argument("rosters", nargs="+", metavar="ROSTER",
                   help="roster files (.xlsx .xls .csv .txt; a folder: every roster file in it)")
    p.add_argument("--out", required=True, help="folder for the dataset with the roster's counts and roster_report.xlsx")
    p.add_argument("--force", action="store_true", help="replace OUT_DIR when it exists and is not empty "
                   "(never the input dataset)")
    p.add_argument("--map", dest="column_map", action="append", default=[], metavar="列名=FIELD",
                   help="map a roster column by hand, e.g. --map 住址楼号=building (fields: community compound "
                        "building unit room name id_number relation category politics, or 社区 小区 楼栋 单元 户室 …); "
                        "a dataset field maps a dataset column (--map 住户=households)")
    p.add_argument("--format", choices=["gpkg", "geojson"], default="gpkg",
                   help="layer files of OUT_DIR (default gpkg: input CRS kept)")
    p.add_argument("--coord-system", choices=["wgs84", "gcj02", "bd09"], default=None,
                   help="the dataset was digitised on Amap/Tencent (gcj02) or Baidu (bd09) maps")
    p.add_argument("--assume-crs", default=None, metavar="CRS", help="CRS of layer files that declare none")
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="language of the report and the summary")
    p.add_argument("--json", action="store_true", help="print JSON instead of a human summary")
    p.set_defaults(func=cmd_roster)
    return p


def _split_map(items) -> tuple[dict, list[str]]:
    """``--map`` items → (roster column map, dataset ``--map`` items); UsageError on a malformed item
    or a target that is neither a roster nor a dataset field."""
    from ..model import FIELDS, ID_FIELD
    from ..roster import is_roster_field, parse_field_map

    pairs = parse_column_map(items) or {}
    dataset_fields = {f for layer in FIELDS for f in (ID_FIELD[layer], *FIELDS[layer])}
    roster_map, dataset_items = {}, []
    for src, dst in pairs.items():
        if is_roster_field(dst):
            roster_map[src] = dst
        elif dst in dataset_fields:
            dataset_items.append(f"{src}={dst}")
        else:
            raise UsageError(f"--map {src}={dst}: {dst!r} is neither a roster field (community compound building "
                             "unit room name id_number relation category politics, or 社区 小区 楼栋 单元 户室 姓名 "
                             "身份证号 与户主关系 人员类别 政治面貌) nor a dataset field")
    parse_or_usage(parse_field_map, roster_map)
    return roster_map, dataset_items


def cmd_roster(args) -> int:
    """Read the rosters, match them to the dataset's buildings, write OUT_DIR; returns the exit status."""
    from ..roster import apply_roster, check_output_folder, human_summary, roster_files, write_roster_output

    t0 = time.perf_counter()
    roster_map, dataset_items = _split_map(args.column_map)
    args.column_map = dataset_items
    files = roster_files(args.rosters)
    parse_or_usage(lambda _: check_output_folder(args.out, dataset_path=args.dataset, rosters=files,
                                                 force=args.force), None)
    dataset = load(args)
    result = apply_roster(dataset, files, column_map=roster_map)
    written = write_roster_output(result, args.out, dataset_path=args.dataset, rosters=files, force=args.force,
                                  driver={"gpkg": "GPKG", "geojson": "GeoJSON"}[args.format], lang=args.lang)
    payload = {**result.summary, "seconds": round(time.perf_counter() - t0, 3), "out": str(args.out),
               "files": [p.name for p in written], "warnings": list(result.warnings)}
    result.summary["seconds"] = payload["seconds"]
    emit(args, payload, human_summary(result, lang=args.lang) + f"\n  → {args.out}")
    return EXIT_OK
