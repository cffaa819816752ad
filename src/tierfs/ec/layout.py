"""HDFS-style striping arithmetic: where each logical byte lives in which fragment object.

Stripe s holds logical bytes [s*k*cell, (s+1)*k*cell). Fragment i of a file is one object
holding its stored cell of every stripe in order (codec header + payload), so the data cells
of consecutive stripes are contiguous and a healthy range read is one ranged GET per data
fragment. The last stripe's cells are only as long as needed (``tail_cell``), not padded
to ``cell_size``. Pure arithmetic: no I/O, no codec.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    """A piece of a logical range that lies in one data cell."""

    stripe: int
    index: int  # data fragment index, 0 <= index < k
    offset: int  # within the cell's payload
    length: int


@dataclass(frozen=True)
class StripeLayout:
    k: int
    cell_size: int
    header_size: int
    size: int  # logical bytes of the file
    tail_cell: int  # payload bytes of each cell of the last stripe

    @property
    def stripe_size(self) -> int:
        return self.k * self.cell_size

    @property
    def num_stripes(self) -> int:
        return -(-self.size // self.stripe_size)

    def cell_payload(self, stripe: int) -> int:
        return self.tail_cell if stripe == self.num_stripes - 1 else self.cell_size

    def cell_offset(self, stripe: int) -> int:
        """Byte offset of the stored cell of ``stripe`` inside any fragment object."""
        return stripe * (self.cell_size + self.header_size)

    def cell_length(self, stripe: int) -> int:
        """Stored bytes of one cell of ``stripe`` (codec header included)."""
        return self.header_size + self.cell_payload(stripe)

    @property
    def fragment_size(self) -> int:
        """Stored bytes of each fragment object."""
        if self.num_stripes == 0:
            return 0
        last = self.num_stripes - 1
        return self.cell_offset(last) + self.cell_length(last)

    def run_range(self, first: int, last: int) -> tuple[int, int]:
        """The [start, end) bytes of a fragment object covering stripes first..last."""
        return self.cell_offset(first), self.cell_offset(last) + self.cell_length(last)

    def split_run(self, first: int, data: bytes) -> dict[int, memoryview]:
        """Cut the bytes of a run fetched from stripe ``first`` on into stored cells."""
        view = memoryview(data)
        cells: dict[int, memoryview] = {}
        position, stripe = 0, first
        while position < len(view):
            length = self.cell_length(stripe)
            cells[stripe] = view[position : position + length]
            position += length
            stripe += 1
        return cells

    def segments(self, start: int, end: int) -> list[Segment]:
        """The data-cell pieces of logical bytes [start, end), in logical order."""
        end = min(end, self.size)
        pieces: list[Segment] = []
        position = max(start, 0)
        while position < end:
            stripe, within = divmod(position, self.stripe_size)
            payload = self.cell_payload(stripe)
            index, offset = divmod(within, payload)
            length = min(payload - offset, end - position)
            pieces.append(Segment(stripe, index, offset, length))
            position += length
        return pieces
