"""Fixtures of the workflow tests: principals, an event recorder, data factories (see wfhelpers)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from wfhelpers import events  # noqa: E402,F401
