"""Many writers at once, while uploads run: every acknowledged file arrives intact."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tierfs.writeback import WriteBackBuffer


def test_concurrent_writers_and_uploads_lose_nothing(target, buffer_dir):
    target.put_delay = 0.001
    paths = [f"{target.root}/w{writer}/f{index:03d}" for writer in range(8) for index in range(40)]
    with WriteBackBuffer(buffer_dir, "8MiB", target, upload_workers=4) as buffer:

        def write(path: str) -> None:
            with buffer.open_write(path) as file:
                file.write(path.encode() * 50)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(write, paths))
        assert buffer.wait_flushed(30)
        assert buffer.stats()["used_bytes"] == 0
    for path in paths:
        assert target.cat_file(path) == path.encode() * 50
