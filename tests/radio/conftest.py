"""Shared settings for the radio tests: small, fast hypothesis runs."""

from hypothesis import settings

settings.register_profile("radio", max_examples=40, deadline=None, derandomize=True)
settings.load_profile("radio")
