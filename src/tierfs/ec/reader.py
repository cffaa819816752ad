"""Range reads of one file version: data cells when healthy, any k good cells when not.

A healthy read fetches, per data fragment, one ranged request for each run of consecutive
stripes it needs, verifies every cell's checksum and decodes nothing. A missing,
unreachable or corrupt cell turns just its stripe into a degraded one: the reader fetches
the fewest further cells that make k good ones (data cells first, targets known to be down
last) and decodes. Reads are cell-granular because checksums are per cell: no byte is
returned unverified.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import Executor

from tierfs.ec.catalog import Catalog
from tierfs.ec.codec import StripeCodec
from tierfs.ec.errors import FragmentsUnavailableError
from tierfs.ec.manifest import Manifest, cell_checksum
from tierfs.ec.targets import call_on_targets, is_missing

MAX_RUN_BYTES = 8 * 2**20  # one ranged GET per run; several runs per fragment go in parallel

Cells = dict[int, dict[int, memoryview]]  # stripe -> fragment index -> stored cell
Problems = dict[int, dict[int, str]]  # stripe -> fragment index -> what was wrong


class StripeReader:
    def __init__(self, manifest: Manifest, catalog: Catalog, codec: StripeCodec, pool: Executor):
        self.manifest = manifest
        self.layout = manifest.layout
        self.catalog = catalog
        self.codec = codec
        self.pool = pool

    def read(self, start: int, end: int) -> bytes:
        """Logical bytes [start, end), clipped to the file."""
        segments = self.layout.segments(start, end)
        wanted: dict[int, set[int]] = defaultdict(set)
        for segment in segments:
            wanted[segment.stripe].add(segment.index)
        payloads = self.data_cells(wanted)
        return b"".join(  # one copy: the pieces are views into the fetched runs
            payloads[segment.stripe][segment.index][segment.offset : segment.offset
                                                    + segment.length]
            for segment in segments
        )

    def data_cells(self, wanted: dict[int, set[int]]) -> dict[int, dict[int, memoryview]]:
        """The payloads of the wanted data cells, rebuilding stripes that need it."""
        good, problems = self.gather(wanted)
        payloads: dict[int, dict[int, memoryview]] = {}
        header = self.layout.header_size
        for stripe, indexes in wanted.items():
            if indexes <= good[stripe].keys():
                payloads[stripe] = {i: good[stripe][i][header:] for i in indexes}
                continue
            data = memoryview(self.codec.decode(
                {i: bytes(cell) for i, cell in sorted(good[stripe].items())[: self.layout.k]}
            ))
            width = self.layout.cell_payload(stripe)
            payloads[stripe] = {i: data[i * width : (i + 1) * width] for i in indexes}
        return payloads

    def gather(self, wanted: dict[int, set[int]],
               excluded: dict[int, str] | None = None) -> tuple[Cells, Problems]:
        """Verified stored cells: the wanted ones, or at least k of each stripe missing some.

        Fragments in ``excluded`` (index -> why) are never read. Raises
        ``FragmentsUnavailableError`` for a stripe that cannot reach k good cells.
        """
        good: Cells = {stripe: {} for stripe in wanted}
        problems: Problems = {stripe: dict(excluded or {}) for stripe in wanted}
        request = {stripe: self._first_request(indexes, problems[stripe])
                   for stripe, indexes in wanted.items()}
        first_round = True
        while request:
            self.fetch_cells(request, good, problems, avoid_down=first_round)
            first_round = False
            request = {}
            for stripe, indexes in wanted.items():
                have = good[stripe]
                if indexes <= have.keys() or len(have) >= self.layout.k:
                    continue
                untried = [i for i in self.preference() if i not in have
                           and i not in problems[stripe]]
                needed = self.layout.k - len(have)
                if len(untried) < needed:
                    raise FragmentsUnavailableError(
                        self.manifest.path, stripe, problems[stripe], self.layout.k)
                request[stripe] = set(untried[:needed])
        return good, problems

    def _first_request(self, wanted: set[int], excluded: dict[int, str]) -> set[int]:
        """The wanted cells; if any is excluded or on a target known to be down, the first k
        usable cells instead, so a degraded stripe takes one round of requests, not two."""
        if not wanted & (excluded.keys() | self._down_indexes()):
            return set(wanted)
        return set([i for i in self.preference() if i not in excluded][: self.layout.k])

    def _down_indexes(self) -> set[int]:
        return {i for i, url in enumerate(self.manifest.targets)
                if (target := self.catalog.by_url.get(url)) is None or target.is_down}

    def preference(self) -> list[int]:
        """Fragment indexes in the order to ask for them: reachable first, data before parity."""
        targets = self.manifest.targets

        def down(index: int) -> bool:
            target = self.catalog.by_url.get(targets[index])
            return target is None or target.is_down

        return sorted(range(len(targets)), key=lambda index: (down(index), index))

    def _runs(self, stripes: list[int]) -> list[tuple[int, int]]:
        """Group sorted stripes into runs of consecutive ones, each at most MAX_RUN_BYTES."""
        runs: list[tuple[int, int]] = []
        for stripe in stripes:
            if runs:
                first, last = runs[-1]
                start, _ = self.layout.run_range(first, last)
                if stripe == last + 1 and self.layout.run_range(first, stripe)[1] - start \
                        <= MAX_RUN_BYTES:
                    runs[-1] = (first, stripe)
                    continue
            runs.append((stripe, stripe))
        return runs

    def fetch_cells(self, request: dict[int, set[int]], good: Cells, problems: Problems,
                    avoid_down: bool = False) -> None:
        """Fetch and verify the requested cells into ``good``, or say why not in ``problems``.

        With ``avoid_down``, cells on targets marked down are left in neither.
        """
        by_fragment: dict[int, list[int]] = defaultdict(list)
        for stripe, indexes in request.items():
            for index in indexes:
                by_fragment[index].append(stripe)
        tasks = []
        for index, stripes in sorted(by_fragment.items()):
            url = self.manifest.targets[index]
            target = self.catalog.by_url.get(url)
            if target is None:
                for stripe in stripes:
                    problems[stripe][index] = f"target {url} not configured"
                continue
            if avoid_down and target.is_down:
                continue  # left untried: asked again last, if nothing else can serve
            tasks += [(index, target, run) for run in self._runs(sorted(stripes))]

        def fetch(task) -> bytes:
            index, target, (first, last) = task
            start, end = self.layout.run_range(first, last)
            return target.fs.cat_file(
                target.data_path(self.manifest.fragment_name(index)), start=start, end=end)

        for (index, target, (first, last)), data, error in call_on_targets(
                self.pool, fetch, tasks):
            if error is not None:
                reason = "missing" if is_missing(error) else f"unreachable: {error}"
                if not is_missing(error):
                    target.mark_down(error)
                for stripe in range(first, last + 1):
                    problems[stripe][index] = reason
                continue
            cells = self.layout.split_run(first, data)
            for stripe in range(first, last + 1):
                cell = cells.get(stripe)
                if cell is None or len(cell) != self.layout.cell_length(stripe):
                    problems[stripe][index] = "truncated"
                elif cell_checksum(cell) != self.manifest.checksums[index][stripe]:
                    problems[stripe][index] = "checksum mismatch"
                else:
                    good[stripe][index] = cell
