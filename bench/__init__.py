"""Benchmarks: dockyard side by side with the reference tools, medians and ratios."""
