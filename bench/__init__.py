"""Benchmarks: one module per area, each with a ``main(argv)`` that prints its table. ``python -m bench`` runs all."""
