"""Benchmarks: `make bench-<name>` runs a script here (see README.md)."""
