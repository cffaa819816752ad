"""``tierfs daemon`` and ``tierfs stats``, plugged into the ``tierfs`` command.

Registered through the ``tierfs.commands`` entry point, so the library's CLI never
imports the daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from tierfs.cache import limit_malloc_arenas
from tierfs.daemon_client import DaemonClient
from tierfs.daemon_client.protocol import DAEMON_ENV


def register(commands: argparse._SubParsersAction) -> None:
    daemon = commands.add_parser("daemon", help="run the node's cache daemon")
    daemon.add_argument("--config", required=True, help="TOML configuration file")
    daemon.set_defaults(run=run_daemon)
    stats = commands.add_parser("stats", help="print a running daemon's figures")
    stats.add_argument("--daemon", default=os.environ.get(DAEMON_ENV, "http://127.0.0.1:7480"),
                       help="daemon URL or unix socket (default: $TIERFS_DAEMON)")
    stats.add_argument("--json", action="store_true", help="print raw JSON")
    stats.set_defaults(run=run_stats)


def run_daemon(args: argparse.Namespace) -> int:
    from tierfs_server.app import serve
    from tierfs_server.config import load_config

    try:
        config = load_config(args.config)
    except ValueError as error:
        print(f"tierfs daemon: bad configuration: {error}", file=sys.stderr)
        return 2
    limit_malloc_arenas()  # the daemon's process is its own: blocks reuse one arena
    asyncio.run(serve(config))
    return 0


def run_stats(args: argparse.Namespace) -> int:
    figures = DaemonClient(args.daemon).stats()
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    ratio = figures["hit_ratio"]
    print(f"hit ratio: {'n/a' if ratio is None else f'{100 * ratio:.1f}%'}  "
          f"requests: {figures['requests']}  under-store bytes: {figures['under_store_bytes']}")
    print(f"{'medium':8} {'used':>14} {'capacity':>14} {'blocks':>8}  path")
    for tier in figures["tiers"]:
        print(f"{tier['medium']:8} {tier['used']:>14,} {tier['capacity']:>14,} "
              f"{tier['blocks']:>8}  {tier['path'] or ''}")
    for path, count in figures["hottest_paths"]:
        print(f"hot: {count:>6}  {path}")
    return 0
