"""Test configuration: make the test directory importable and pin hypothesis for CI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

# CI runs a fixed, derandomized set of examples so that a green run is reproducible;
# locally hypothesis explores new examples each run.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
