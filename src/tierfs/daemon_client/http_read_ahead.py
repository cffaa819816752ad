"""Read-ahead on the HTTP path: a sequential reader's next block asked for before it is read.

Once a read is answered, the request for the next block the reader announced goes out on
the same kept-alive connection (HTTP/1.1 pipelining), so the daemon sends block N+1 while
the reader works on block N, as HDFS streams a block to a sequential reader. At most
``_DEPTH`` requests are ahead (two keep the daemon's socket busy while the reader checks a
block; a third gained nothing: docs/performance.md) and one answered block is held per
thread. A read the reader did not announce ends the sequence (what was asked ahead is
received; the last answer is held until the next read-ahead replaces it).
"""

from __future__ import annotations

from collections import deque

_MAX_EXPECTED = 64  # announced blocks remembered, at most
_DEPTH = 2  # requests asked ahead, at most


class ReadAhead:
    """One thread's read-ahead on its connection (an ``_Exchange`` of ``http_blocks``)."""

    def __init__(self):
        self._expected: deque[tuple[str, int]] = deque(maxlen=_MAX_EXPECTED)
        self._asked: deque[tuple[str, int]] = deque()  # their answers not received yet
        self._held: tuple[str, bytes] | None = None  # received, not read to its end yet
        self._current: str | None = None  # the block of the latest read
        self._announced = False  # blocks were announced since the latest read: by it

    def expect(self, blocks: list[tuple[str, int]]) -> None:
        """(key, length) of blocks the reader reads next, in order."""
        self._expected.extend(block for block in blocks if block not in self._expected)
        self._announced = True

    def take(self, connection, key: str, start: int, end: int | None,
             dest: memoryview | None) -> memoryview | None:
        """Bytes ``[start, end)`` of ``key`` if they were read ahead (into ``dest`` if
        given), else None; first receives the answer asked ahead, as the next one on the
        connection is this read's."""
        while self._asked and (self._held is None or self._held[0] != key):
            asked, length = self._asked.popleft()  # the connection answers in order
            status, body = connection.receive(None)
            self._held = (asked, body.obj) if status in (200, 206) and len(body) == length \
                else None
        announced = any(key == expected for expected, _ in self._expected)
        if announced:  # read now: neither it nor the blocks skipped before it are next
            while self._expected.popleft()[0] != key:
                pass
        elif not (self._announced or key == self._current
                  or (self._held is not None and key == self._held[0])):
            self._expected.clear()  # a jump: stop reading ahead
        self._current, self._announced = key, False
        if self._held is None or self._held[0] != key:
            return None
        data = self._held[1]
        stop = len(data) if end is None else end
        if stop > len(data):
            return None
        if stop == len(data):
            self._held = None  # read to its end: a sequential reader is done with it
        view = memoryview(data)[start:stop]
        if dest is None:
            return view
        dest[:] = view
        return dest

    def ask_next(self, connection, key: str) -> None:
        """After a read of ``key``: ask for the next announced blocks, up to the depth."""
        held = self._held[0] if self._held is not None else None
        while self._expected and len(self._asked) < _DEPTH:
            block = self._expected.popleft()
            if block[0] not in (key, held) and block not in self._asked:
                self._asked.append(block)
                connection.ask(block[0], 0, block[1])

    def lost_connection(self) -> None:
        """The connection closed: what was asked ahead will not be answered."""
        self._asked.clear()
