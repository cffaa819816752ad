"""Write-back buffer: writes are acknowledged once durable on local disk, then uploaded.

Public surface (``from tierfs.writeback import ...``)::

    WriteBackBuffer(buffer_dir, capacity, target_fs, *, when_full="wait", on_uploaded=None,
                    upload_workers=4, retry_initial=0.2, retry_max=10.0, recovery_settle=2.0)

``buffer_dir`` is created if missing and locked for this process (``BufferLockedError`` if
another holds it); pending work found there is recovered and uploaded. A forked child
may read through its parent's buffer (its overlay is re-read from the parent's journal) but
not write (``RuntimeError``: it needs its own ``buffer_dir``); whatever it does with the
inherited buffer and writers, the parent's lock, journal and buffered files stay untouched.
``target_fs.to_dict()`` is kept in ``buffer_dir/target.json`` (mode 0600: it may hold
credentials) so that ``tierfs writeback flush DIR`` can finish the work without the app.

``capacity`` is a size (``4096``, ``"4GiB"``) or None for no limit. ``when_full`` is
``"wait"`` (writers block until uploads free room), ``"through"`` (a file that does not fit
goes straight to the target, after earlier buffered operations on its path) or ``"fail"``
(``BufferFullError``, an ``OSError`` with errno ENOSPC). Bad settings raise ``ValueError``
naming the setting (``buffer_capacity``, ``when_full``, ``upload_workers``, ``buffer_dir``,
``target_fs``, ...). Paths are target paths as ``target_fs`` spells them
(``"bucket/dir/file"``), normalised with ``target_fs._strip_protocol``.

Writing (each returns only once the operation is durable in ``buffer_dir``):

- ``open_write(path) -> BufferWriter``: a binary file; ``close()`` is the acknowledgement.
  Leaving its ``with`` block by an exception, or ``discard()``, drops it: never uploaded.
- ``pipe(path, data)``: the same in one call.
- ``rm(path)``, ``mv(src, dst)``: one file each (expand directories in the caller), applied
  to the target after every earlier operation on the same paths. They raise
  FileNotFoundError only when the buffer knows the path is deleted; whether the target has
  it is the caller's check.

A pending write that has not started uploading, and that a later write or ``rm`` of the
same path makes pointless, is dropped instead of uploaded: the target ends the same.

Reading (the read-your-writes overlay; ``None`` means "ask the target")::

    entry = buffer.lookup(path)
    BufferedFile(local_path, size, mtime)  # read the local file; if opening it raises
                                           # FileNotFoundError, the upload finished and the
                                           # file was freed: look up again
    DELETED                                # removed or renamed away: FileNotFoundError
    Redirect(target_path)                  # renamed from target_path, not yet applied:
                                           # read target_path from the target instead
    None                                   # the buffer has nothing pending: the target

``pending(prefix="") -> {path: entry}`` gives every entry at or below ``prefix`` (all depths)
for ``ls`` and ``find``: add BufferedFile/Redirect paths (and the directories they imply),
hide DELETED ones.

Progress and life cycle: ``wait_flushed(timeout=None) -> bool`` (every operation
acknowledged before the call is in the target); ``stats() -> dict`` (pending_ops,
queued_files, queued_bytes, used_bytes, capacity, uploaded_files, uploaded_bytes,
replaced_unuploaded, retries, paused_for_s, last_error); ``close()`` (stops the uploader
after running requests; pending work stays journaled for the next process).
``on_uploaded(path, local_path)`` runs in an upload thread after each operation lands: for
a file while ``local_path`` still exists, so the caller can copy it into its read cache; for
a removed path, and both paths of a rename, with ``local_path`` None (forget what is cached).

Failures of the target are retried forever with exponential backoff (``retry_initial`` up
to ``retry_max`` seconds); ``stats()["last_error"]`` says why uploads are not progressing.
If the previous process died while uploading, its last requests may still land in the
target after it is gone. Each upload's start is journaled, so a successor knows which
operations were in flight: only those wait, until ``recovery_settle`` seconds after their
start, so that a stale write cannot land after a newer delete, rename or overwrite of the
same path; every other path uploads at once, and a local target (where nothing lands after
its process died) waits for nothing. This bounds, but cannot exclude, that race: object
stores offer no fencing of a dead client.
"""

from tierfs.writeback.buffer import WriteBackBuffer
from tierfs.writeback.journal import JournalCorruptError
from tierfs.writeback.lock import BufferLockedError
from tierfs.writeback.overlay import DELETED, BufferedFile, OverlayEntry, Redirect
from tierfs.writeback.writer import BufferFullError, BufferWriter

__all__ = [
    "DELETED",
    "BufferFullError",
    "BufferLockedError",
    "BufferWriter",
    "BufferedFile",
    "JournalCorruptError",
    "OverlayEntry",
    "Redirect",
    "WriteBackBuffer",
]
