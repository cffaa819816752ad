"""Errors of the erasure-coded store: all are ``OSError`` subclasses, as fsspec callers expect.

They name the file and the fragments involved, so an operator can tell a lost node from
a corrupt disk without reading logs.
"""

from __future__ import annotations


class ECError(OSError):
    """Base class of the erasure-coded store's failures."""


def _joined(problems: dict, label: str = "{}") -> str:
    """'label(key): problem' pairs in key order, for messages that list every failure."""
    return "; ".join(f"{label.format(key)}: {why}" for key, why in sorted(problems.items()))


class FragmentsUnavailableError(ECError):
    """More fragments of a stripe are lost or corrupt than the code can rebuild (more than m)."""

    def __init__(self, path: str, stripe: int, missing: dict[int, str], needed: int):
        self.path = path
        self.stripe = stripe
        self.missing = dict(sorted(missing.items()))
        super().__init__(
            f"ecfs: cannot read {path!r}: stripe {stripe} needs {needed} good fragments but "
            f"{len(self.missing)} are unavailable: {_joined(missing, 'fragment {}')}; restore "
            "the targets and run 'tierfs ec repair'"
        )


class ECWriteError(ECError):
    """A write could not place enough fragments or manifest copies; nothing was published,
    unless manifest copies could not be taken back (``left_on``): the file, whole, may then
    appear once those targets answer."""

    def __init__(self, path: str, failures: dict[str, str], allowed: int,
                 left_on: tuple[str, ...] = ()):
        self.path = path
        self.failures = dict(sorted(failures.items()))
        self.left_on = left_on
        outcome = (f"manifest copies on {', '.join(left_on)} could not be removed, so the "
                   "whole file may appear" if left_on else "the file was not published")
        super().__init__(
            f"ecfs: writing {path!r} failed on {len(self.failures)} targets (at most {allowed} "
            f"may fail); {outcome}: {_joined(failures)}"
        )


class ManifestUnavailableError(ECError):
    """No manifest copy of a file could be read and too many of its targets were unreachable."""

    def __init__(self, path: str, unreachable: dict[str, str]):
        self.path = path
        self.unreachable = unreachable
        super().__init__(
            f"ecfs: cannot tell whether {path!r} exists: {len(unreachable)} of its manifest "
            f"targets are unreachable: {_joined(unreachable)}"
        )
