"""Copies of blocks in anonymous memory the kernel may back with 2 MiB pages.

Copying a small range out of a block walks fewer TLB entries from huge pages
(docs/performance.md). Blocks are placed on a 2 MiB boundary and only whole huge pages
are advised, so resident memory stays the block's length; without ``MADV_HUGEPAGE`` (or
for a block under one huge page) the copy is plain ``bytes``.
"""

from __future__ import annotations

import ctypes
import mmap

HUGE_PAGE = 2 * 2**20
_ADVISE = getattr(mmap, "MADV_HUGEPAGE", None)


def _address(region: mmap.mmap) -> int:
    anchor = ctypes.c_char.from_buffer(region)
    try:
        return ctypes.addressof(anchor)
    finally:
        del anchor  # the export would keep the region from ever being unmapped


def huge_page_copy(data) -> memoryview:
    """A read-only view of a copy of ``data``; its memory is freed with the last view."""
    size = len(data)
    whole_pages = size - size % HUGE_PAGE
    if _ADVISE is None or whole_pages == 0:
        return memoryview(bytes(data))
    region = mmap.mmap(-1, size + HUGE_PAGE - mmap.PAGESIZE,
                       flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # shared would be shmem
    offset = -_address(region) % HUGE_PAGE
    try:
        region.madvise(_ADVISE, offset, whole_pages)
    except OSError:  # transparent huge pages disabled: small pages still work
        pass
    view = memoryview(region)[offset:offset + size]
    view[:] = data
    return view.toreadonly()


def worth_moving(view: memoryview) -> bool:
    """Whether ``huge_page_copy`` of ``view`` would give it huge pages it lacks."""
    return _ADVISE is not None and len(view) >= HUGE_PAGE and not isinstance(view.obj, mmap.mmap)
