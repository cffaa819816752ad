"""Write-through files: the under store's own writer, plus invalidation when it closes.

Cached blocks need no invalidation (their keys carry the object version); only the
metadata answers about the path do, so this process reads its own writes at once.
"""

from __future__ import annotations

from collections.abc import Callable


class InvalidatingWriter:
    def __init__(self, target_file, on_close: Callable[[], None]):
        self._file = target_file
        self._on_close = on_close

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._on_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __getattr__(self, name):
        return getattr(self._file, name)
