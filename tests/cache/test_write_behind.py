"""Background stores: soon for ``submit``, at a quiet moment for ``defer``."""

from __future__ import annotations

import threading
import time

import pytest

from tierfs.cache.fetch_activity import FetchActivity
from tierfs.cache.write_behind import WriteBehind


@pytest.fixture
def fetching():
    """A fetch activity with a fetch under way for the whole test."""
    activity = FetchActivity()
    with activity.fetching():
        yield activity


def test_deferred_stores_wait_while_busy_and_run_once_quiet():
    activity = FetchActivity()
    done = threading.Event()
    behind = WriteBehind(64, 100, activity)
    with activity.fetching():
        behind.defer(10, done.set)
        assert not done.wait(0.2)  # fetching is under way
    assert done.wait(5)


def test_deferred_stores_run_when_too_many_bytes_wait(fetching):
    ran = []
    behind = WriteBehind(64, 100, fetching)
    for index in range(3):
        behind.defer(60, lambda index=index: ran.append(index))
    deadline = time.monotonic() + 5
    while len(ran) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran[:2] == [0, 1]  # over the bound: the oldest go, in order
    assert behind.drain(5) and ran == [0, 1, 2]  # a drain does not wait for quiet


def test_submitted_stores_do_not_wait_for_deferred_ones(fetching):
    done = threading.Event()
    behind = WriteBehind(64, 100, fetching)
    behind.defer(10, lambda: None)
    behind.submit(10, done.set)
    assert done.wait(5)
    assert behind.drain(5)


def test_a_deferred_store_waits_for_quiet_at_most_a_second(fetching):
    done = threading.Event()
    behind = WriteBehind(64, 100, fetching)
    started = time.monotonic()
    behind.defer(10, done.set)
    assert done.wait(5)
    assert 0.9 <= time.monotonic() - started < 3  # other processes wait for it too


def test_deferring_waits_for_room_so_memory_stays_bounded(fetching):
    gate = threading.Event()
    behind = WriteBehind(64, 100, fetching)
    behind.defer(60, lambda: gate.wait(5))  # a slow write, held up by the gate
    second = threading.Thread(target=behind.defer, args=(60, lambda: None))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # 120 bytes would be over the bound: the caller waits
    gate.set()
    second.join(5)
    assert not second.is_alive() and behind.drain(5)


def test_a_drain_waits_for_jobs_that_hold_no_bytes(fetching):
    done = threading.Event()
    behind = WriteBehind(64, 100, fetching)
    behind.defer(0, lambda: (time.sleep(0.2), done.set()), wait=False)
    assert behind.drain(5) and done.is_set()


def test_a_job_that_cannot_be_scheduled_is_not_waited_for():
    behind = WriteBehind(64, 100, FetchActivity())
    for executor in behind._executors.values():
        executor.shutdown()  # as at interpreter exit: nothing new is scheduled
    with pytest.raises(RuntimeError):
        behind.defer(10, lambda: None)
    assert behind.drain(1)


def test_deferred_stores_run_side_by_side_on_their_workers(fetching):
    both_running = threading.Barrier(2, timeout=5)  # broken unless two stores run at once
    behind = WriteBehind(64, 100, fetching, deferred_workers=2)
    for _ in range(2):
        behind.defer(60, both_running.wait, wait=False)  # over the bound: run now
    assert behind.drain(10)
    assert not both_running.broken
