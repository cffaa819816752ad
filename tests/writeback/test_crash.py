"""Crash safety: a writer process SIGKILLed at random moments loses no acknowledged operation.

Each round runs crash_writer.py on one buffer_dir and kills it after a random delay; the
next writer (or this process) recovers. In the target, every round's files must equal the
plan replayed up to the last acknowledged operation, or up to the one after it (acknowledged
but killed before it could print): nothing partial, nothing unacknowledged, no stray names.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.writeback.crash_plan import expected_state, plan
from tierfs.writeback import WriteBackBuffer

WRITER = Path(__file__).with_name("crash_writer.py")
PLAN_LENGTH = 2000


def _run_writer_until_killed(config_path: Path, rng: random.Random) -> int:
    """Start the writer, kill it at a random moment after it is ready; return ops acknowledged."""
    process = subprocess.Popen(
        [sys.executable, str(WRITER), str(config_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line.strip())
            ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not ready.wait(30):
        process.kill()
        raise AssertionError(f"writer did not start: {process.stderr.read()}")
    threading.Event().wait(rng.uniform(0.0, 0.8))
    process.send_signal(signal.SIGKILL)
    process.wait()
    reader.join()
    assert lines[0] == "ready", lines[:3]
    return len(lines) - 1


def _assert_round_in_target(s3, prefix: str, ops: list[tuple], acknowledged: int) -> None:
    found = {path: s3.cat_file(path) for path in s3.find(prefix)}
    allowed = [expected_state(ops[:acknowledged])]
    if acknowledged < len(ops):
        allowed.append(expected_state(ops[: acknowledged + 1]))
    if found not in allowed:
        expected = allowed[0]
        raise AssertionError(
            f"{prefix}: after {acknowledged} acknowledged ops the target differs: "
            f"missing {sorted(set(expected) - set(found))[:5]}, "
            f"unexpected {sorted(set(found) - set(expected))[:5]}, "
            f"different {[p for p in found if p in expected and found[p] != expected[p]][:5]}"
        )


def _crash_rounds(rounds: int, tmp_path: Path, s3, bucket: str, seed: int) -> None:
    rng = random.Random(seed)
    buffer_dir = tmp_path / "buffer"
    history: list[tuple[str, list[tuple], int]] = []
    for round_number in range(rounds):
        prefix = f"{bucket}/round{round_number:03d}"
        config = {
            "buffer_dir": str(buffer_dir),
            "target": s3.to_dict(),
            "seed": seed + round_number,
            "prefix": prefix,
            "count": PLAN_LENGTH,
        }
        config_path = tmp_path / "writer.json"
        config_path.write_text(json.dumps(config))
        acknowledged = _run_writer_until_killed(config_path, rng)
        history.append((prefix, plan(config["seed"], prefix, PLAN_LENGTH), acknowledged))
        # every other round this process recovers; otherwise the next writer does, and may
        # itself be killed while finishing the previous round's uploads
        if round_number % 2 == 1 or round_number == rounds - 1:
            with WriteBackBuffer(buffer_dir, "64MiB", s3) as recovered:
                assert recovered.wait_flushed(timeout=60), recovered.stats()
    assert sum(acknowledged for _, _, acknowledged in history) > rounds, "kills came too early"
    for prefix, ops, acknowledged in history:
        _assert_round_in_target(s3, prefix, ops, acknowledged)
    # and nothing outside the rounds' prefixes (no temporary or stray names)
    assert set(s3.ls(bucket)) <= {prefix for prefix, _, _ in history}


def test_sigkilled_writers_lose_no_acknowledged_operation(tmp_path, s3, bucket):
    _crash_rounds(20, tmp_path, s3, bucket, seed=1)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_sigkilled_writers_lose_nothing_over_many_rounds(tmp_path, s3, bucket):
    _crash_rounds(120, tmp_path, s3, bucket, seed=1000)
