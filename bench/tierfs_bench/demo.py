"""``tierfs-bench demo``: a guided tour of every capability on an embedded SeaweedFS.

One section per capability, each a few measured lines and what they mean, then a summary
that fits one screen and ``demo-report/index.html`` with a plot per section. Sizes are
modest (the tour takes about a minute); the full comparisons are the other scenarios'.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import uuid
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import fsspec

from tierfs_bench import demo_report
from tierfs_bench.demo_sharing import shared_daemon, shuffle
from tierfs_bench.demo_storage import erasure_coding, read_cache, write_back
from tierfs_bench.demo_tour import TINY, DemoSize, Section, Tour


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="a guided tour of every capability, with an "
                                   "HTML report", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-report",
                        help="directory of the HTML report and its plots (default demo-report)")
    parser.add_argument("--tiny", action="store_true", help="a few MiB per section (tests)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--endpoint", help="use this S3 endpoint instead of an embedded "
                                           "SeaweedFS (a new bucket is created on it)")
    parser.add_argument("--key", help="access key for --endpoint")
    parser.add_argument("--secret", help="secret key for --endpoint")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    started = time.perf_counter()
    size = TINY if args.tiny else DemoSize()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tierfs-demo-")))
        tour = Tour({}, f"demo-{uuid.uuid4().hex[:8]}", workdir, size, quiet=args.quiet)
        tour.storage_options, where = _store(args, tour, stack)
        fsspec.filesystem("s3", skip_instance_cache=True, **tour.storage_options).mkdir(
            tour.bucket)
        sections = []
        for section in (read_cache, erasure_coding, write_back,
                        partial(shared_daemon, stack=stack), shuffle):
            sections.append(section(tour))
            print(_text(sections[-1]), flush=True)
    seconds = time.perf_counter() - started
    print(demo_report.summary(sections, seconds))
    about = (f"Measured on {where} with {'tiny' if args.tiny else 'demo'} sizes; absolute "
             "figures depend on this machine and its load, the ratios within a section less so")
    page = demo_report.write(sections, Path(args.out), seconds, about)
    print(f"\nHTML report: {page} (plots beside it)")
    return 0 if all(section.verified for section in sections) else 1


def _store(args: argparse.Namespace, tour: Tour, stack: ExitStack) -> tuple[dict, str]:
    """s3fs options of the tour's store, and how to name it in the report."""
    if args.endpoint:
        options = {"client_kwargs": {"endpoint_url": args.endpoint, "region_name": "us-east-1"}}
        if args.key:
            options |= {"key": args.key, "secret": args.secret}
        return options, f"the S3 endpoint {args.endpoint}"
    from tierfs.embedded import EmbeddedS3

    (tour.workdir / "seaweed").mkdir()
    server = EmbeddedS3(tour.workdir / "seaweed", volume_size_mb=128)
    stack.callback(server.stop)
    with tour.steps("starting SeaweedFS", 1) as done:
        server.start()
        done(server.endpoint_url)
    return server.storage_options(), "an embedded SeaweedFS on 127.0.0.1"


def _text(section: Section) -> str:
    title = f"{section.title}{'' if section.verified else '  (BYTES DIFFER)'}"
    return "\n".join(["", title, "-" * len(title)] + [f"  {line}" for line in section.lines])
