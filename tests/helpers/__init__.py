"""Shared test code: tiny models, hand-made results, scripted lm-eval models, suite texts, paths.

Test modules import from here, never from one another; pytest fixtures shared by several
directories live in ``tests/conftest.py``.
"""
