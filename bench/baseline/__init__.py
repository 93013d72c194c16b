"""The naive webhook receiver `make bench-ingest` measures ours against (CT_BENCH_BASELINE=1)."""
