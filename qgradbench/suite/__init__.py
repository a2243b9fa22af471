"""Suites: configurations, grid expansion, executors and the result store."""
