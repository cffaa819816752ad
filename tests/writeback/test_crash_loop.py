"""A writer in a crash loop keeps acknowledging and uploading (issue 16, defect 2).

Every restart used to wait ``recovery_settle`` before uploading anything, so a process
killed more often than that never uploaded, and its buffer filled up for good.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time


def _round(buffer_dir, target_url: str, number: int, lifetime: float) -> list[str]:
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.writeback.crash_loop_writer", str(buffer_dir),
         target_url, str(number)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(lifetime)
    finally:
        writer.kill()
        writer.wait()
    return writer.stdout.read().split()


def test_a_writer_killed_every_one_to_three_seconds_keeps_acknowledging_and_uploading(
        tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    rng = random.Random(16)
    acknowledged: list[list[str]] = []
    for number in range(20):
        acknowledged.append(_round(tmp_path / "buffer", f"file://{target}", number,
                                   rng.uniform(1.0, 3.0)))
    assert all(acknowledged), [len(names) for names in acknowledged]  # every round got acks
    uploaded = {path.name for path in target.iterdir()}
    in_last_round = {name.rsplit("/", 1)[-1] for name in acknowledged[-1]}
    earlier = {name.rsplit("/", 1)[-1] for names in acknowledged[:-1] for name in names}
    assert earlier <= uploaded  # each restart uploaded what earlier rounds acknowledged
    assert len(uploaded) >= len(earlier) + len(in_last_round) // 2


def test_only_paths_in_flight_at_the_crash_wait_for_a_late_request(tmp_path):
    from tests.writeback.stalling_target import remote_like
    from tierfs.writeback import WriteBackBuffer

    target = tmp_path / "target"
    target.mkdir()
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.writeback.stalling_target", str(tmp_path / "buffer"),
         str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "acknowledged"
        time.sleep(0.5)  # its one upload worker is stuck in "stall"
    finally:
        writer.kill()
        writer.wait()
    restarted = time.monotonic()
    with WriteBackBuffer(tmp_path / "buffer", "16MiB", remote_like(str(target)),
                         recovery_settle=4.0) as buffer:
        deadline = restarted + 3
        while not (target / "quick").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (target / "quick").exists() and not (target / "stall").exists()
        assert buffer.wait_flushed(timeout=10)
        assert time.monotonic() - restarted >= 3  # "stall" waited out the dead request
    assert (target / "stall").read_bytes() == b"in flight when the writer died"
