"""The deterministic operation sequence of the crash test, shared by the writer and the checker.

Operations are ``("write", path, size, content_seed)``, ``("rm", path)`` and
``("mv", src, dst)``; ``expected_state`` replays a prefix of them into {path: bytes}.
"""

from __future__ import annotations

import random


def plan(seed: int, prefix: str, count: int) -> list[tuple]:
    rng = random.Random(seed)
    existing: list[str] = []
    ops: list[tuple] = []
    for index in range(count):
        draw = rng.random()
        if not existing or draw < 0.55:
            path = f"{prefix}/f{index:04d}"
            existing.append(path)
            ops.append(("write", path, _size(rng), seed * 100_000 + index))
        elif draw < 0.75:
            ops.append(("write", rng.choice(existing), _size(rng), seed * 100_000 + index))
        elif draw < 0.87:
            path = existing.pop(rng.randrange(len(existing)))
            ops.append(("rm", path))
        else:
            src = existing.pop(rng.randrange(len(existing)))
            dst = f"{prefix}/m{index:04d}"
            existing.append(dst)
            ops.append(("mv", src, dst))
    return ops


def _size(rng: random.Random) -> int:
    if rng.random() < 0.1:
        return rng.randrange(1 << 20, 4 << 20)  # large enough to be killed mid-write
    return rng.randrange(0, 200 << 10)


def content(size: int, content_seed: int) -> bytes:
    return random.Random(content_seed).randbytes(size)


def expected_state(ops: list[tuple]) -> dict[str, bytes]:
    state: dict[str, bytes] = {}
    for op in ops:
        if op[0] == "write":
            state[op[1]] = content(op[2], op[3])
        elif op[0] == "rm":
            del state[op[1]]
        else:
            state[op[2]] = state.pop(op[1])
    return state
