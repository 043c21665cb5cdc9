"""Loaded by pytest before Django's settings (see addopts in pyproject.toml): tests run with
the test profile unless the caller chose another."""

import os

os.environ.setdefault("DJANGO_ENV", "test")
