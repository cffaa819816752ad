"""The ``tierfs`` command line: one subcommand group per module, plus plug-ins.

Subcommands of other distributions (the daemon in ``server/``) register through the
``tierfs.commands`` entry point group, so the library never imports them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import entry_points

from tierfs.cli import ec, embedded_s3, shuffle, writeback

_BUILTIN_COMMANDS = [embedded_s3, ec, shuffle, writeback]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tierfs", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in _BUILTIN_COMMANDS:
        module.register(commands)
    for entry in entry_points(group="tierfs.commands"):
        entry.load()(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
