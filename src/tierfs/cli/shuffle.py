"""``tierfs shuffle ls URL`` and ``tierfs shuffle rm URL SHUFFLE_ID``: see and reclaim shuffles.

URL is any shuffle service (``local:///dir``, ``daemon+http://host:port``, ``s3://bucket/prefix``,
...); the store's options come from ``-o key=value`` (dotted keys nest) or ``--options JSON``
(or ``@FILE``, which keeps credentials out of the process list). Options are never printed.
"""

from __future__ import annotations

import argparse
import json

from tierfs.cli.json_option import json_object
from tierfs.shuffle import ShuffleNotFoundError, open_service


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("shuffle", help="list or delete the shuffles of a service")
    actions = parser.add_subparsers(dest="action", required=True)

    ls = actions.add_parser("ls", help="shuffles with partitions, committed maps and bytes")
    _service_arguments(ls)
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(run=run_ls)

    rm = actions.add_parser("rm", help="delete one shuffle and all its map outputs")
    _service_arguments(rm)
    rm.add_argument("shuffle_id")
    rm.set_defaults(run=run_rm)


def _service_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the shuffle service, e.g. local:///tmp/shuffle, "
                                    "daemon+http://127.0.0.1:7480, s3://bucket/shuffle")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a store option (VALUE parsed as JSON when it is JSON); dotted "
                             "keys nest: -o client_kwargs.endpoint_url=http://...")
    parser.add_argument("--options", metavar="JSON",
                        help="store options as a JSON object, or @FILE holding one")


def service_options(args: argparse.Namespace) -> dict:
    """The options of ``--options`` with every ``-o key=value`` merged in."""
    options = json_object(args.options, "--options") if args.options else {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"-o {key or item!r}: expected KEY=VALUE")
        *parents, leaf = key.split(".")
        table = options
        for parent in parents:
            table = table.setdefault(parent, {})
            if not isinstance(table, dict):
                raise ValueError(f"-o {key}: {parent!r} is already a value, not a table")
        table[leaf] = _value(value)
    return options


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _open(args: argparse.Namespace):
    try:
        return open_service(args.url, **service_options(args))
    except ValueError as error:
        raise SystemExit(f"tierfs shuffle {args.action}: {error}") from None


def run_ls(args: argparse.Namespace) -> int:
    service = _open(args)
    summaries = sorted(service.list(), key=lambda s: s.shuffle_id)
    if args.json:
        print(json.dumps([{"shuffle_id": s.shuffle_id, "partitions": s.num_partitions,
                           "committed_maps": s.committed_maps, "bytes": s.bytes}
                          for s in summaries], indent=2))
        return 0
    rows = [("SHUFFLE", "PARTITIONS", "COMMITTED MAPS", "BYTES")]
    rows += [(s.shuffle_id, str(s.num_partitions), str(s.committed_maps), str(s.bytes))
             for s in summaries]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join([row[0].ljust(widths[0])]
                        + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:],
                                                                     strict=True)]))
    print(f"{len(summaries)} shuffles, {sum(s.bytes for s in summaries)} bytes in {args.url}")
    return 0


def run_rm(args: argparse.Namespace) -> int:
    service = _open(args)
    try:
        service.delete(args.shuffle_id)
    except ShuffleNotFoundError as error:
        raise SystemExit(f"tierfs shuffle rm: {error}") from None
    print(f"deleted shuffle {args.shuffle_id!r} from {args.url}")
    return 0
