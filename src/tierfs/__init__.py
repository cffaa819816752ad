"""tierfs: a data-access layer between compute nodes and remote storage.

The fsspec backends (``tierfs``, ``ecfs``) are registered through entry points, so
``fsspec.filesystem("tierfs", ...)`` works without importing this package first.
"""

__version__ = "0.1.0"
