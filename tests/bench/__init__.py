"""Benchmarks: `python -m tests.bench [--quick] [--soak SECONDS]` (see __main__.py)."""
