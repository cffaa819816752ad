"""Repair: rebuild damaged fragments from k good ones, in place or onto a replacement target.

A fragment whose target is configured and reachable is rewritten where it was; one whose
target is gone (down, or no longer in the target list) is rebuilt on a target that holds
no fragment of the file, chosen by rendezvous hashing, and the manifest is republished
pointing there. Every rebuilt cell must match the checksum recorded at write time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tierfs.ec.errors import ECError
from tierfs.ec.filesystem import ECFileSystem
from tierfs.ec.manifest import Manifest, cell_checksum
from tierfs.ec.placement import rank_targets
from tierfs.ec.scrub import FileHealth, stripe_batches
from tierfs.ec.targets import Target
from tierfs.ec.writer import FragmentSink, finish_all


@dataclass
class RepairOutcome:
    path: str
    rebuilt: dict[int, str]  # fragment index -> target url it was written to
    manifest_republished: bool


def _destinations(fs: ECFileSystem, manifest: Manifest, damaged: list[int]) -> dict[int, Target]:
    """Where each damaged fragment goes: its own target if usable, else an unused one."""
    in_use = set(manifest.targets)
    spare = [fs.catalog.by_url[url] for url in rank_targets(list(fs.catalog.by_url), manifest.path)
             if url not in in_use and not fs.catalog.by_url[url].is_down]
    destinations = {}
    for index in damaged:
        target = fs.catalog.by_url.get(manifest.targets[index])
        if target is None or target.is_down:
            if not spare:
                raise ECError(
                    f"ecfs: cannot repair {manifest.path!r}: fragment {index}'s target "
                    f"{manifest.targets[index]} is unavailable and no spare target is configured"
                )
            target = spare.pop(0)
        destinations[index] = target
    return destinations


def rebuild_fragments(fs: ECFileSystem, manifest: Manifest, damaged: list[int]) -> dict[int, str]:
    """Rewrite the ``damaged`` fragments of one file; returns index -> target url."""
    destinations = _destinations(fs, manifest, damaged)
    sinks = {index: FragmentSink(target, target.data_path(manifest.fragment_name(index)))
             for index, target in destinations.items()}
    reader = fs.reader(manifest)
    codec = fs.codec_for(manifest)
    excluded = dict.fromkeys(damaged, "being rebuilt")
    sources = [i for i in reader.preference() if i not in excluded][: manifest.k]
    try:
        for stripes in stripe_batches(manifest):
            good, _ = reader.gather({stripe: set(sources) for stripe in stripes}, excluded)
            for stripe in stripes:
                cells = dict(sorted(good[stripe].items())[: manifest.k])
                rebuilt = codec.reconstruct({i: bytes(c) for i, c in cells.items()}, damaged)
                for index, cell in rebuilt.items():
                    if cell_checksum(cell) != manifest.checksums[index][stripe]:
                        raise ECError(f"ecfs: rebuilt cell {stripe} of fragment {index} of "
                                      f"{manifest.path!r} does not match its checksum")
                    sinks[index].put(cell)
    except BaseException:
        finish_all(list(sinks.values()), commit=False)
        raise
    finish_all(list(sinks.values()), commit=True)
    failed = {i: str(sink.error) for i, sink in sinks.items() if sink.error is not None}
    if failed:
        raise ECError(f"ecfs: could not write rebuilt fragments of {manifest.path!r}: {failed}")
    return {index: target.url for index, target in destinations.items()}


def repair_file(fs: ECFileSystem, health: FileHealth) -> RepairOutcome:
    """Fix what ``check_file`` found: rebuild fragments, then republish the manifest."""
    manifest = fs.manifest(health.path)
    damaged = sorted(health.damaged)
    rebuilt = rebuild_fragments(fs, manifest, damaged) if damaged else {}
    targets = list(manifest.targets)
    for index, url in rebuilt.items():
        targets[index] = url
    republish = bool(health.manifest_problems) or targets != list(manifest.targets)
    if republish:
        fs.catalog.publish(manifest.relocated(targets, max(manifest.version + 1, time.time_ns())))
    return RepairOutcome(health.path, rebuilt, republish)
