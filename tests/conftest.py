"""Test settings shared by the suite."""

from __future__ import annotations

import os

from hypothesis import settings

# On CI the property tests use a fixed sequence of examples, so a run is reproducible; on a
# developer's machine they explore new examples each run.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
