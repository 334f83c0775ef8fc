"""Benchmark harness: tasks x tuning strategies x seeds, at an equal budget, reproducibly."""
