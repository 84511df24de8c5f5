"""The ranking tests share the workflow tests' factories and fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from matching.ranking import CandidateIndex

sys.path.insert(0, str(Path(__file__).parent.parent / "workflow"))

from wfhelpers import events  # noqa: E402,F401


@pytest.fixture
def ranks(monkeypatch):
    """The roles the engine ranked, in order."""
    calls: list[str] = []
    rank = CandidateIndex.rank

    def counted(self, role, *args, **kwargs):
        calls.append(role.role_id)
        return rank(self, role, *args, **kwargs)

    monkeypatch.setattr(CandidateIndex, "rank", counted)
    return calls
