"""The ``gridplan`` command line (SPEC §7): one module per subcommand group, sharing :mod:`._common`.

Each subcommand takes a dataset (a folder of layer files or a GeoPackage), prints a human
summary or JSON with ``--json``, and exits 0 on success, 1 on bad input (with the message),
2 on bad usage, 3 on a store conflict.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from .._errors import GridplanError, ValidationError
from ._common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_dataset_options,
    emit,
    parse_column_map,
    refuse_overwriting_inputs,
)


# --------------------------------------------------------------------------- validate
def cmd_validate(args) -> int:
    from ..io import validate
    t0 = time.perf_counter()
    cmap = parse_column_map(args.column_map)
    problems = validate(args.dataset, coord_system=args.coord_system, column_map=cmap,
                        assume_crs=getattr(args, "assume_crs", None))
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    payload = {"valid": not errors, "errors": len(errors), "warnings": len(warnings),
               "problems": [p.as_dict() for p in problems], "seconds": round(time.perf_counter() - t0, 3)}
    if errors:
        head = f"✗ {args.dataset}: {len(errors)} 个错误 / error(s), {len(warnings)} 个警告 / warning(s)"
    else:
        head = f"✓ {args.dataset}: 数据有效 / valid ({len(warnings)} 个警告 / warning(s))"
    emit(args, payload, "\n".join([head, *[f"  - {p}" for p in problems]]))
    return EXIT_BAD_INPUT if errors else EXIT_OK


def add_validate_parser(sub) -> None:
    p = sub.add_parser("validate", help="check a dataset and list every problem")
    add_dataset_options(p)
    p.set_defaults(func=cmd_validate)


# --------------------------------------------------------------------------- demo
def cmd_demo(args) -> int:
    from ..demo import run_demo
    summary = run_demo(out_dir=Path(args.out), progress=not args.json)
    emit(args, summary, summary.get("text", ""))
    return EXIT_OK


def add_demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on the bundled sample city")
    p.add_argument("--out", default="maps", help="folder for the maps and files (default: maps/)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridplan", description="网格划分与15分钟红色服务圈 — grid planning for "
                                     "urban community governance")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_demo_parser(sub)
    add_validate_parser(sub)
    from . import chain, coverage, export, partition, province, roster, store
    for module in (partition, province, coverage, export, roster, store, chain):
        module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, 0 on --help
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format="%(message)s")
    try:
        refuse_overwriting_inputs(args)
        return args.func(args)
    except UsageError as e:
        print(f"用法错误 / usage error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as e:
        print(str(e), file=sys.stderr)
        return EXIT_BAD_INPUT
    except (GridplanError, FileNotFoundError, FileExistsError) as e:
        print(f"错误 / error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # the output went into `| head` (or a pager) that closed early: nothing to report
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())       # so that the interpreter's last flush is quiet too
        except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests, notebooks)
            pass
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
