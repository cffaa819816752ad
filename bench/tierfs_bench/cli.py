"""``tierfs-bench SCENARIO``: each scenario module registers one subcommand.

A scenario module exposes ``register(subparsers)``, which adds its parser and sets
``run=`` to a function of the parsed arguments; adding a scenario is adding one module
and one line to ``_SCENARIOS``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from tierfs.sizes import parse_size

# module names under tierfs_bench
_SCENARIOS: list[str] = ["read", "writecache", "daemon_load", "ec", "shuffle", "engines", "demo"]


def size_arg(text: str) -> int:
    """argparse type for sizes such as 64KiB or 256MiB, parsed where every config is."""
    try:
        return parse_size(text, "size")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tierfs-bench", description=__doc__.splitlines()[0])
    scenarios = parser.add_subparsers(dest="scenario", required=True)
    for name in _SCENARIOS:
        importlib.import_module(f"tierfs_bench.{name}").register(scenarios)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
