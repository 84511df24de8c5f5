"""The ranking tests share the workflow tests' factories and fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "workflow"))

from wfhelpers import events  # noqa: E402,F401
