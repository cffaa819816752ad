"""Polling a socket briefly before blocking: it finds data that is there, and backs off
after polls that found none, so a slow peer does not cost a core."""

from __future__ import annotations

import socket

import pytest

from tierfs.busy_poll import BusyPoll


def test_a_negative_budget_is_refused():
    with pytest.raises(ValueError, match="microseconds"):
        BusyPoll(-1)


def test_a_zero_budget_never_polls():
    poll = BusyPoll(0)
    left, right = socket.socketpair()
    with left, right:
        for _ in range(3):
            poll.wait(left)
    assert poll.figures == {"polls_found": 0, "polls_missed": 0, "polls_skipped": 0}


def test_data_waiting_is_found_and_misses_back_off_doubling():
    poll = BusyPoll(2000)
    left, right = socket.socketpair()
    with left, right:
        right.send(b"x")
        poll.wait(left)
        assert poll.figures["polls_found"] == 1
        left.recv(1)
        poll.wait(left)  # nothing comes: polls in vain, then skips the next wait
        poll.wait(left)
        assert (poll.figures["polls_missed"], poll.figures["polls_skipped"]) == (1, 1)
        poll.wait(left)  # in vain again: now skips two
        poll.wait(left)
        poll.wait(left)
        assert (poll.figures["polls_missed"], poll.figures["polls_skipped"]) == (2, 3)
        right.send(b"y")
        poll.wait(left)  # found: polling resumes at once
        right.send(b"z")
        poll.wait(left)
        assert poll.figures["polls_found"] == 3
