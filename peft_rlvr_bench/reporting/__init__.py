"""Reporting: run results (JSON), statistics and leaderboards."""
