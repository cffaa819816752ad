"""``tierfs-bench SCENARIO``: each scenario module registers one subcommand."""

from __future__ import annotations

import argparse
import logging
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tierfs-bench", description=__doc__.splitlines()[0])
    parser.add_subparsers(dest="scenario", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
