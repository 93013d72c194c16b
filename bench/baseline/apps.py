from __future__ import annotations

from django.apps import AppConfig


class BenchBaselineConfig(AppConfig):
    name = "bench.baseline"
    label = "bench_baseline"
    verbose_name = "Benchmark baseline"
