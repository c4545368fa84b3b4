"""The Textual monitor. Nothing outside this package imports it (tests/test_boundary.py)."""
