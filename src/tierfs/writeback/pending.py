"""Acknowledged operations not yet applied to the target, and the read overlay they imply.

``PendingOps`` is pure bookkeeping, not thread-safe: the buffer calls it under its own lock.
It decides which operation may run next (journal order per path) and when a buffered file is
no longer needed (reference counts), returning those decisions as values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tierfs.writeback.overlay import DELETED, BufferedFile, OverlayEntry, Redirect


@dataclass(eq=False)
class Op:
    """One acknowledged operation: ``write`` (path, file), ``rm`` (path) or ``mv`` (path → dst)."""

    seq: int
    kind: str
    path: str
    dst: str | None = None
    file: BufferedFile | None = None
    in_flight: bool = False  # being applied, or claimed by a later op that replaces it
    done_logged: bool = False  # its done mark is appended: applied, only bookkeeping remains
    replaces: int | None = None  # seq of a pending write this op makes pointless to upload
    started_at: float | None = None  # wall clock of its last upload start, if journaled
    not_before: float = 0.0  # monotonic: a dead process's request may land until then

    def paths(self) -> tuple[str, ...]:
        return (self.path,) if self.dst is None else (self.path, self.dst)

    def record(self) -> dict:
        record = {"op": self.kind, "seq": self.seq, "path": self.path}
        if self.dst is not None:
            record["dst"] = self.dst
        if self.replaces is not None:
            record["replaces"] = self.replaces
        if self.file is not None:
            record.update(
                blob=self.file.local_path.rsplit("/", 1)[-1],
                size=self.file.size,
                mtime=self.file.mtime,
            )
        return record

    @classmethod
    def from_record(cls, record: dict, blob_dir: str) -> Op:
        file = None
        if record["op"] == "write":
            file = BufferedFile(f"{blob_dir}/{record['blob']}", record["size"], record["mtime"])
        return cls(record["seq"], record["op"], record["path"], record.get("dst"), file)


class PendingOps:
    def __init__(self) -> None:
        self._ops: dict[int, Op] = {}  # insertion order is journal (seq) order
        self._overlay: dict[str, tuple[int, OverlayEntry]] = {}
        self._refs: Counter[BufferedFile] = Counter()
        self.durable_seq = 0  # every op with seq <= this has its journal record on disk

    def __len__(self) -> int:
        return len(self._ops)

    def journal_records(self) -> list[dict]:
        """What a rewritten journal must hold: the ops not yet known to be applied, and
        when their uploads started."""
        ops = [op for op in self._ops.values() if not op.done_logged]
        return [op.record() for op in ops] + [
            {"op": "start", "seq": op.seq, "at": op.started_at}
            for op in ops if op.started_at is not None]

    def add(self, op: Op) -> list[BufferedFile]:
        """Record ``op`` (seq above all pending); return buffered files no longer referenced."""
        freed: list[BufferedFile] = []
        self._ops[op.seq] = op
        if op.kind == "write":
            self._ref(op.file)
            self._set(op.path, op.seq, op.file, freed)
        elif op.kind == "rm":
            self._set(op.path, op.seq, DELETED, freed)
        else:
            moved = self.lookup(op.path)
            if moved is None:
                moved = Redirect(op.path)
            self._set(op.dst, op.seq, moved, freed)
            self._set(op.path, op.seq, DELETED, freed)
        return freed

    def complete(self, seq: int) -> list[BufferedFile]:
        """``seq`` is applied to the target; return buffered files no longer referenced."""
        op = self._ops.pop(seq)
        freed: list[BufferedFile] = []
        if op.file is not None:
            self._unref(op.file, freed)
        for path in op.paths():
            current = self._overlay.get(path)
            if current is not None and current[0] == seq:
                del self._overlay[path]
                self._unref(current[1], freed)
        return freed

    def next_runnable(self, now: float) -> Op | None:
        """The first durable, idle op whose paths no earlier pending op touches and whose
        wait (``not_before``, monotonic) is over at ``now``; now running."""
        busy: set[str] = set()
        for op in self._ops.values():
            if op.seq > self.durable_seq:
                return None
            paths = op.paths()
            if not op.in_flight and op.not_before <= now and busy.isdisjoint(paths):
                op.in_flight = True
                return op
            busy.update(paths)
        return None

    def next_wait_over(self, now: float) -> float | None:
        """The earliest ``not_before`` still ahead of ``now`` (when to look again)."""
        return min((op.not_before for op in self._ops.values() if op.not_before > now),
                   default=None)

    def replaceable_write(self, path: str) -> Op | None:
        """The pending write of ``path`` that a new write or delete of it makes pointless.

        Only if it is the last op touching ``path`` and has not started: its bytes would be
        overwritten or deleted in the target right after, so it need not be uploaded.
        """
        current = self._overlay.get(path)
        op = None if current is None else self._ops.get(current[0])
        if op is None or op.kind != "write" or op.path != path or op.in_flight:
            return None
        return op

    def touches(self, path: str) -> bool:
        """Whether a pending op still has to be applied to ``path``."""
        return any(path in op.paths() for op in self._ops.values())

    def oldest_seq(self) -> int | None:
        return next(iter(self._ops), None)

    def lookup(self, path: str) -> OverlayEntry | None:
        current = self._overlay.get(path)
        return None if current is None else current[1]

    def under(self, prefix: str) -> dict[str, OverlayEntry]:
        """Overlay entries at ``prefix`` or below it (all of them for an empty prefix)."""
        directory = prefix.rstrip("/") + "/"
        return {
            path: entry
            for path, (_, entry) in self._overlay.items()
            if not prefix or path == prefix or path.startswith(directory)
        }

    def queued(self) -> tuple[int, int]:
        """Files and bytes waiting to be uploaded."""
        writes = [op.file.size for op in self._ops.values() if op.file is not None]
        return len(writes), sum(writes)

    def referenced(self) -> set[BufferedFile]:
        return set(self._refs)

    def _set(self, path: str, seq: int, entry: OverlayEntry, freed: list[BufferedFile]) -> None:
        previous = self._overlay.get(path)
        self._ref(entry)
        self._overlay[path] = (seq, entry)
        if previous is not None:
            self._unref(previous[1], freed)

    def _ref(self, entry: OverlayEntry) -> None:
        if isinstance(entry, BufferedFile):
            self._refs[entry] += 1

    def _unref(self, entry: OverlayEntry, freed: list[BufferedFile]) -> None:
        if isinstance(entry, BufferedFile):
            self._refs[entry] -= 1
            if self._refs[entry] == 0:
                del self._refs[entry]
                freed.append(entry)
