"""``tierfs embedded-s3``: run a local SeaweedFS S3 endpoint until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading

from tierfs.embedded import EmbeddedS3


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("embedded-s3", help="run a local SeaweedFS S3 server")
    parser.add_argument("--dir", help="data directory (default: a new temporary one)")
    parser.add_argument("--bucket", action="append", default=[], help="bucket to create")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedS3(args.dir) as server:
        for bucket in args.bucket:
            server.create_bucket(bucket)
        print(f"endpoint_url={server.endpoint_url}")
        print(f"key={server.access_key}")
        print(f"secret={server.secret_key}")
        print("running; press Ctrl-C to stop", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0
