"""A ``bytes`` result filled in place: one copy from cached blocks into what ``read`` returns.

A result assembled from several blocks would otherwise cost two copies (into a buffer, then
into immutable ``bytes``). CPython lets a producer allocate ``bytes`` uninitialised and fill
it before anyone else sees it (``PyBytes_FromStringAndSize(NULL, n)``, as ``os.read``
does); elsewhere a ``bytearray`` is filled and copied.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

_IN_PLACE_FROM = 64 * 2**10  # below this the second copy costs less than the call
_CPYTHON = sys.implementation.name == "cpython"
if _CPYTHON:
    _allocate = ctypes.pythonapi.PyBytes_FromStringAndSize
    _allocate.restype = ctypes.py_object
    _allocate.argtypes = (ctypes.c_char_p, ctypes.c_ssize_t)
    _DATA_OFFSET = bytes.__basicsize__ - 1  # ob_sval; the basic size counts its final NUL


def filled_bytes(size: int, fill: Callable[[memoryview], object]) -> bytes:
    """New ``bytes`` of ``size`` whose contents ``fill`` writes into the view it is given.
    ``fill`` must write every byte and keep no reference to the view."""
    if not _CPYTHON or size < _IN_PLACE_FROM:
        buffer = bytearray(size)
        fill(memoryview(buffer))
        return bytes(buffer)
    result = _allocate(None, size)  # refcount 1: no one else can see it yet
    storage = (ctypes.c_char * size).from_address(id(result) + _DATA_OFFSET)
    with memoryview(storage) as raw, raw.cast("B") as view:
        fill(view)
    return result
