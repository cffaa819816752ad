"""Reed–Solomon encode/decode of one stripe, through pyeclib (ISA-L Cauchy by default).

A stripe's fragment is pyeclib's own format (a small header, then the payload). The data
fragments' payloads are the stripe's bytes split in order, so healthy reads need no decode.
This module knows nothing about files, targets or checksums.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

from pyeclib.ec_iface import (
    ECBackendInitializationError,
    ECBackendInstanceNotAvailable,
    ECDriver,
)

logger = logging.getLogger(__name__)

# Cauchy generator matrices make every k x k submatrix invertible, so any m losses decode
# for every (k, m); ISA-L's Vandermonde construction does not promise that for all (k, m).
DEFAULT_BACKEND = "isa_l_rs_cauchy"
FALLBACK_BACKEND = "liberasurecode_rs_vand"
MAX_FRAGMENTS = 32  # ISA-L and liberasurecode limit k + m
CELL_ALIGNMENT = 4096


@dataclass(frozen=True)
class ECPolicy:
    """The code of a file: k data cells and m parity cells of ``cell_size`` bytes per stripe."""

    k: int
    m: int
    cell_size: int

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(
                f"k: the number of data fragments must be an integer >= 1, got {self.k!r}"
            )
        if isinstance(self.m, bool) or not isinstance(self.m, int) or self.m < 1:
            raise ValueError(
                f"m: the number of parity fragments must be an integer >= 1, got {self.m!r} "
                "(m = 0 would store no redundancy; use a plain filesystem instead)"
            )
        if self.k + self.m > MAX_FRAGMENTS:
            raise ValueError(f"k + m: at most {MAX_FRAGMENTS} fragments, got {self.k + self.m}")
        if self.cell_size <= 0 or self.cell_size % CELL_ALIGNMENT:
            raise ValueError(
                f"cell_size: must be a positive multiple of {CELL_ALIGNMENT} bytes, "
                f"got {self.cell_size!r}"
            )

    @property
    def width(self) -> int:
        return self.k + self.m

    @property
    def stripe_size(self) -> int:
        """Logical bytes in one full stripe."""
        return self.k * self.cell_size


def _driver(k: int, m: int, backend: str) -> ECDriver:
    return ECDriver(k=k, m=m, ec_type=backend)


def choose_backend(k: int, m: int) -> str:
    """The default backend if this pyeclib build has ISA-L, else the portable one (logged)."""
    try:
        _driver(k, m, DEFAULT_BACKEND)
    except (ECBackendInstanceNotAvailable, ECBackendInitializationError) as error:
        logger.warning(
            "ecfs: %s is not available (%s); falling back to %s, which encodes about 10x slower",
            DEFAULT_BACKEND, error, FALLBACK_BACKEND,
        )
        return FALLBACK_BACKEND
    return DEFAULT_BACKEND


class StripeCodec:
    """Encodes a stripe into k + m fragments and rebuilds it from any k of them.

    pyeclib's C code does the arithmetic; its fragments carry their own header, whose size
    is measured once here so the layout can address payloads directly.
    """

    def __init__(self, policy: ECPolicy, backend: str | None = None):
        self.policy = policy
        self.backend = backend or choose_backend(policy.k, policy.m)
        self._driver = _driver(policy.k, policy.m, self.backend)
        if self.fragment_payload(policy.stripe_size) != policy.cell_size:
            raise ValueError(
                f"cell_size: {policy.cell_size} does not align with backend {self.backend}"
            )

    @cached_property
    def header_size(self) -> int:
        fragment = self._driver.encode(bytes(self.policy.k))[0]
        return len(fragment) - self._driver.get_metadata(fragment, formatted=True)["size"]

    def fragment_payload(self, stripe_bytes: int) -> int:
        """Payload bytes per fragment of a stripe holding ``stripe_bytes`` logical bytes."""
        fragment = self._driver.encode(bytes(stripe_bytes))[0]
        return len(fragment) - self.header_size

    def encode(self, stripe: bytes | memoryview) -> list[bytes]:
        """k data fragments (payloads: the stripe's bytes in order) then m parity fragments."""
        return self._driver.encode(bytes(stripe))

    def decode(self, fragments: dict[int, bytes]) -> bytes:
        """The stripe's logical bytes from any k fragments (index -> fragment)."""
        return self._driver.decode([fragments[i] for i in sorted(fragments)])

    def reconstruct(self, fragments: dict[int, bytes], missing: list[int]) -> dict[int, bytes]:
        """Rebuild the ``missing`` fragments byte-exact from any k others."""
        rebuilt = self._driver.reconstruct([fragments[i] for i in sorted(fragments)], missing)
        return dict(zip(missing, rebuilt, strict=True))
