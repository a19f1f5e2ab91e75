"""Plotly figure builders for the notebooks and reports, one module per area."""
