"""Fixtures of the fault-injection tests: each test's counts are saved for the README table."""

from __future__ import annotations

import time

import pytest

from soak.records import FaultRecord


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.when == "call":
        item.fault_outcome = report.outcome


@pytest.fixture
def reliability(request) -> FaultRecord:
    """The test fills in its counts; they are written to build/reliability/ at teardown."""
    record = FaultRecord(name="faults-" + request.node.name)
    started = time.monotonic()
    yield record
    record.seconds = round(time.monotonic() - started, 1)
    record.outcome = getattr(request.node, "fault_outcome", "error")
    record.save()
