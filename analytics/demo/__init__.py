"""Realistic, deterministic demo data for developing and benchmarking every analysis.

>>> from analytics.demo import generate, load_demo
>>> data = generate(days=90, sessions=50_000, seed=7)   # doctest: +SKIP
>>> load_demo()                                          # doctest: +SKIP
"""

from analytics.demo._config import DemoConfig, Job, Source
from analytics.demo._load import LoadResult, analyze, insert_demo, load_demo
from analytics.demo._simulate import DemoData, generate

__all__ = ["DemoConfig", "DemoData", "Job", "LoadResult", "Source", "analyze", "generate", "insert_demo", "load_demo"]
