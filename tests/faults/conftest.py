"""Fault tests: real processes on PostgreSQL, killed, cut off or stopped in the middle of their work.

PostgreSQL only: the ``backend`` fixture of the root conftest is narrowed to it here, so ``engine`` is a clean
PostgreSQL database (skipped without TALENTS_TEST_POSTGRES_URL; with it, an unreachable server fails).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
# The real-process helpers of the other suites: ``talents serve`` (scale) and aiosmtpd (notifications).
sys.path.insert(0, str(HERE.parent / "scale"))
sys.path.insert(0, str(HERE.parent / "notifications"))
sys.path.insert(0, str(HERE))

_SKIP = [] if os.environ.get("TALENTS_TEST_POSTGRES_URL", "").strip() else [
    pytest.mark.skip(reason="TALENTS_TEST_POSTGRES_URL is not set")
]


@pytest.fixture(params=[pytest.param("postgres", marks=_SKIP)])
def backend(request: pytest.FixtureRequest) -> str:
    """PostgreSQL only: the faults tested here (backends killed, connections cut) are the server's."""
    return str(request.param)
