"""Benchmarks run by hand (not by CI): see bench/README.md."""
