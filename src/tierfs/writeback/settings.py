"""Settings of a write-back buffer: defaults in one table, validated into one frozen value.

Every check raises ``ValueError`` naming the setting as the user spells it, so a bad
configuration fails at construction, never later inside an upload thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from tierfs.sizes import parse_size

WHEN_FULL = {
    "wait": "writers block until uploads free room",
    "through": "a file that does not fit is written straight to the target",
    "fail": "a write that does not fit raises BufferFullError (OSError ENOSPC)",
}

DEFAULTS = {
    "when_full": "wait",
    "upload_workers": 4,
    "retry_initial": 0.2,  # seconds before the first retry while the target fails
    "retry_max": 10.0,  # ceiling of the exponential backoff
    # after a process died with uploads running, its last requests may still be landing in
    # the target; uploads start this many seconds later so those land before anything newer
    "recovery_settle": 2.0,
}


@dataclass(frozen=True)
class WriteBackSettings:
    capacity: int | None  # None: no limit (flushing a buffer, where nothing is written)
    when_full: str = DEFAULTS["when_full"]
    upload_workers: int = DEFAULTS["upload_workers"]
    retry_initial: float = DEFAULTS["retry_initial"]
    retry_max: float = DEFAULTS["retry_max"]
    recovery_settle: float = DEFAULTS["recovery_settle"]

    @classmethod
    def validated(
        cls,
        capacity: int | str | None,
        when_full: str = DEFAULTS["when_full"],
        upload_workers: int = DEFAULTS["upload_workers"],
        retry_initial: float = DEFAULTS["retry_initial"],
        retry_max: float = DEFAULTS["retry_max"],
        recovery_settle: float = DEFAULTS["recovery_settle"],
    ) -> WriteBackSettings:
        size = None if capacity is None else parse_size(capacity, "buffer_capacity")
        if size == 0:
            raise ValueError("buffer_capacity: must be above zero, e.g. '4GiB'")
        if when_full not in WHEN_FULL:
            choices = ", ".join(f"{name!r} ({meaning})" for name, meaning in WHEN_FULL.items())
            raise ValueError(f"when_full: got {when_full!r}; choose one of {choices}")
        if isinstance(upload_workers, bool) or not isinstance(upload_workers, int) or (
            upload_workers < 1
        ):
            raise ValueError(f"upload_workers: expected an integer >= 1, got {upload_workers!r}")
        for name, value in (("retry_initial", retry_initial), ("retry_max", retry_max)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name}: expected a number of seconds above zero, got {value!r}")
        if isinstance(recovery_settle, bool) or not isinstance(recovery_settle, int | float) or (
            recovery_settle < 0
        ):
            raise ValueError(
                f"recovery_settle: expected a number of seconds >= 0, got {recovery_settle!r}"
            )
        if retry_max < retry_initial:
            raise ValueError(
                f"retry_max: {retry_max!r} is below retry_initial {retry_initial!r}"
            )
        return cls(
            size, when_full, upload_workers, float(retry_initial), float(retry_max),
            float(recovery_settle),
        )
