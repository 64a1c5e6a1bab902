"""Benchmarks: `make bench` (`python -m bench`); not part of `make test`.

See docs/performance.md."""
