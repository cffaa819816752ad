"""One process drives a buffer directory at a time; the second gets a clear error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tierfs.writeback import BufferLockedError, WriteBackBuffer


def test_a_second_buffer_on_the_same_directory_is_refused(target, buffer_dir):
    with WriteBackBuffer(buffer_dir, "1MiB", target):
        with pytest.raises(BufferLockedError, match="in use by process"):
            WriteBackBuffer(buffer_dir, "1MiB", target)
    with WriteBackBuffer(buffer_dir, "1MiB", target):
        pass  # released on close


def test_another_process_is_refused_and_told_who_holds_it(target, buffer_dir):
    with WriteBackBuffer(buffer_dir, "1MiB", target):
        script = (
            "import sys\n"
            "from fsspec.implementations.local import LocalFileSystem\n"
            "from tierfs.writeback import WriteBackBuffer, BufferLockedError\n"
            "try:\n"
            f"    WriteBackBuffer({str(buffer_dir)!r}, '1MiB', LocalFileSystem())\n"
            "except BufferLockedError as error:\n"
            "    print(error)\n"
            "    sys.exit(3)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 3, result.stderr
    assert f"in use by process {os.getpid()}" in result.stdout


def test_a_forked_child_cannot_use_its_parents_buffer(target, buffer_dir):
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # the child reports what happened through the pipe, then exits
            try:
                buffer.pipe(f"{target.root}/from-child", b"x")
                os.write(write_end, b"accepted")
            except RuntimeError as error:
                os.write(write_end, str(error).encode())
            os._exit(0)
        os.close(write_end)
        os.waitpid(child, 0)
        message = os.read(read_end, 1000).decode()
        os.close(read_end)
    assert "forked child must open its own WriteBackBuffer" in message
