"""What a shuffle raises: each error names the shuffle, map, attempt or partition at fault."""

from __future__ import annotations


class ShuffleError(Exception):
    """Base class: the shuffle cannot return a correct result."""


class ShuffleNotFoundError(ShuffleError, FileNotFoundError):
    """No shuffle of that id exists in the service."""


class MissingMapOutputError(ShuffleError, LookupError):
    """Maps a reader must find have no committed output (or lost some of it)."""

    def __init__(self, shuffle_id: str, partition: int, map_ids: list[int], why: str = ""):
        self.shuffle_id, self.partition, self.map_ids = shuffle_id, partition, map_ids
        shown = ", ".join(map(str, map_ids[:20])) + (" ..." if len(map_ids) > 20 else "")
        super().__init__(f"shuffle {shuffle_id!r} partition {partition}: no committed output "
                         f"of map(s) {shown}{': ' + why if why else ''}")


class CorruptShuffleBlockError(ShuffleError):
    """A block failed its checksum, or is torn, misplaced, repeated or out of order."""


class ShuffleCommitError(ShuffleError):
    """A map writer was used after commit or abort, or its commit could not be recorded."""
