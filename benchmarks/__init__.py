"""Benchmarks for `make bench`, never run in CI: ratios cvtool / baseline from one run."""
