"""Fuzz EC manifests: any bytes are a manifest or raise ``ManifestCorruptError``, and a
damaged manifest decodes to the original or raises."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from mutations import damage

    from tierfs.ec.manifest import Manifest, ManifestCorruptError


def _manifest(fdp: atheris.FuzzedDataProvider) -> Manifest:
    k, m = fdp.ConsumeIntInRange(1, 8), fdp.ConsumeIntInRange(0, 4)
    stripes = fdp.ConsumeIntInRange(0, 3)
    return Manifest(
        path=fdp.ConsumeUnicodeNoSurrogates(20), size=fdp.ConsumeIntInRange(0, 2**63),
        k=k, m=m, cell_size=fdp.ConsumeIntInRange(1, 2**30), backend="isa_l_rs_vand",
        header_size=fdp.ConsumeIntInRange(0, 4096), tail_cell=fdp.ConsumeIntInRange(0, 2**30),
        file_id=fdp.ConsumeUnicodeNoSurrogates(16), created=fdp.ConsumeIntInRange(0, 2**63),
        version=fdp.ConsumeIntInRange(0, 2**63),
        targets=tuple(f"s3://t{i}" for i in range(k + m)),
        checksums=tuple(tuple(f"{fdp.ConsumeInt(8) & (2**64 - 1):016x}"
                              for _ in range(stripes)) for _ in range(k + m)))


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        try:
            Manifest.from_bytes(fdp.ConsumeBytes(fdp.remaining_bytes()))
        except ManifestCorruptError:
            pass
        return
    manifest = _manifest(fdp)
    try:
        decoded = Manifest.from_bytes(damage(fdp, manifest.to_bytes()))
    except ManifestCorruptError:
        return
    if decoded != manifest:
        raise AssertionError("a damaged manifest decoded to another manifest")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
