"""A shop whose every blocking call is planted for tests/test_check.py."""
