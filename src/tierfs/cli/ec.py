"""``tierfs ec scrub|repair TARGET...``: verify and heal an erasure-coded store.

The positional URLs are the store's targets, as given to ``ecfs``; a replacement target
takes the place of a dead one in that list, and repair rebuilds onto it.
"""

from __future__ import annotations

import argparse
import json

from tqdm import tqdm

from tierfs.ec import ECFileSystem
from tierfs.ec.repair import repair_file
from tierfs.ec.scrub import scrub


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("ec", help="scrub or repair an erasure-coded (ecfs) store")
    actions = parser.add_subparsers(dest="ec_command", required=True)
    for name, run, help_text in (
        ("scrub", run_scrub, "verify every cell checksum and manifest copy; report damage"),
        ("repair", run_repair, "rebuild missing or corrupt fragments and manifest copies"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("targets", nargs="+", metavar="TARGET",
                            help="the store's target URLs, in any order")
        action.add_argument("--k", type=int, default=4, help="data fragments (default 4)")
        action.add_argument("--m", type=int, default=2, help="parity fragments (default 2)")
        action.add_argument("--cell-size", default="1MiB", help="cell size (default 1MiB)")
        action.add_argument("--target-options", type=json.loads, default=None,
                            help="JSON: one dict for all targets or a list of dicts")
        action.add_argument("--path", default="", help="only files under this path")
        action.add_argument("--no-progress", action="store_true", help="no progress bar")
        action.set_defaults(run=run)


def _open_store(args: argparse.Namespace) -> ECFileSystem:
    return ECFileSystem(targets=args.targets, target_options=args.target_options, k=args.k,
                        m=args.m, cell_size=args.cell_size, skip_instance_cache=True)


def _check_all(args: argparse.Namespace, fs: ECFileSystem):
    total = sum(entry["size"] for entry in fs.find(args.path, detail=True).values())
    with tqdm(total=total, unit="B", unit_scale=True, disable=args.no_progress,
              desc=args.ec_command) as bar:
        yield from scrub(fs, args.path, progress=bar.update)


def run_scrub(args: argparse.Namespace) -> int:
    fs = _open_store(args)
    files = damaged = lost = 0
    for health in _check_all(args, fs):
        files += 1
        if not health.healthy:
            damaged += 1
            lost += not health.recoverable
            print(health.describe())
    print(f"scrub: {files} files checked, {damaged} damaged, {lost} not recoverable")
    return 1 if damaged else 0


def run_repair(args: argparse.Namespace) -> int:
    fs = _open_store(args)
    files = repaired = failed = 0
    for health in _check_all(args, fs):
        files += 1
        if health.healthy:
            continue
        try:
            outcome = repair_file(fs, health)
        except OSError as error:
            failed += 1
            print(f"{health.path}: repair failed: {error}")
            continue
        repaired += 1
        rebuilt = ", ".join(f"fragment {i} -> {url}" for i, url in sorted(outcome.rebuilt.items()))
        print(f"{health.path}: repaired ({rebuilt or 'manifest copies only'})")
    print(f"repair: {files} files checked, {repaired} repaired, {failed} failed")
    return 1 if failed else 0
