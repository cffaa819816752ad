"""tierfs benchmarks: scenarios that measure tierfs side by side with its anchors."""
