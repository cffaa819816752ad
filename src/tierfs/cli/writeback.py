"""``tierfs writeback status DIR`` and ``tierfs writeback flush DIR``: inspect and drain a buffer.

``status`` only reads (it works while a process holds the buffer); ``flush`` takes the lock,
uploads everything pending to the target recorded in the buffer (or ``--target``), and exits
0 once it is all in the target. Neither prints credentials.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter

import fsspec

from tierfs.cli.json_option import json_object
from tierfs.writeback import WriteBackBuffer
from tierfs.writeback.buffer import BLOBS
from tierfs.writeback.journal import read_journal, still_pending
from tierfs.writeback.lock import lock_holder
from tierfs.writeback.target import describe_target, load_target


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("writeback", help="inspect or flush a write-back buffer")
    actions = parser.add_subparsers(dest="action", required=True)

    status = actions.add_parser("status", help="pending operations of a buffer directory")
    status.add_argument("dir", help="the buffer_dir")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(run=run_status)

    flush = actions.add_parser("flush", help="upload everything pending, then exit")
    flush.add_argument("dir", help="the buffer_dir")
    flush.add_argument(
        "--target", help="fsspec URL of the target (default: the one recorded in DIR)"
    )
    flush.add_argument(
        "--target-options", default="{}",
        help="JSON storage options for --target, or @FILE holding them (keeps credentials "
        "out of the process list); recorded in DIR/target.json, mode 0600",
    )
    flush.add_argument("--timeout", type=float, help="give up after this many seconds")
    flush.add_argument("--workers", type=int, default=4, help="concurrent uploads")
    flush.set_defaults(run=run_flush)


def buffer_status(directory: str) -> dict:
    pending = still_pending(read_journal(directory))
    kinds = Counter(record["op"] for record in pending)
    holder = lock_holder(directory)
    return {
        "buffer_dir": directory,
        "in_use_by_pid": holder,
        "target": describe_target(directory),
        "pending_ops": len(pending),
        "pending_by_kind": dict(kinds),
        "queued_bytes": sum(record.get("size", 0) for record in pending),
        "oldest": None if not pending else {
            key: pending[0][key] for key in ("op", "path", "seq")
        },
        "blob_files": _count_files(f"{directory}/{BLOBS}"),
    }


def run_status(args: argparse.Namespace) -> int:
    status = buffer_status(args.dir)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    holder = status["in_use_by_pid"]
    print(f"buffer_dir  {status['buffer_dir']}")
    print(f"in use by   {f'process {holder}' if holder else 'nobody'}")
    print(f"target      {status['target']}")
    by_kind = sorted(status["pending_by_kind"].items())
    kinds = ", ".join(f"{count} {kind}" for kind, count in by_kind)
    print(f"pending     {status['pending_ops']} operations ({kinds or 'none'}), "
          f"{status['queued_bytes']} bytes to upload")
    if status["oldest"]:
        oldest = status["oldest"]
        print(f"oldest      {oldest['op']} {oldest['path']} (seq {oldest['seq']})")
    return 0


def run_flush(args: argparse.Namespace) -> int:
    if args.target:
        try:
            options = json_object(args.target_options, "--target-options")
        except ValueError as error:
            raise SystemExit(str(error)) from None
        target = fsspec.core.url_to_fs(args.target, **options)[0]
    else:
        target = load_target(args.dir)
    with WriteBackBuffer(args.dir, None, target, upload_workers=args.workers) as buffer:
        pending = buffer.stats()["pending_ops"]
        flushed = buffer.wait_flushed(args.timeout)
        stats = buffer.stats()
    if flushed:
        print(f"flushed {pending} operations ({stats['uploaded_bytes']} bytes uploaded)")
        return 0
    print(f"timed out with {stats['pending_ops']} operations pending; "
          f"last error: {stats['last_error']}")
    return 1


def _count_files(directory: str) -> int:
    try:
        return len(os.listdir(directory))
    except FileNotFoundError:
        return 0
