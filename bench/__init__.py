"""Benchmarks; run them as scripts (see docs/performance.md)."""
