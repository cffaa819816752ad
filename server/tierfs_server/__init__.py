"""The tierfs cache daemon: one process per compute node that owns the cache tiers."""
