"""Metrics: every number on the dashboard, defined once (see docs/metrics.md)."""
