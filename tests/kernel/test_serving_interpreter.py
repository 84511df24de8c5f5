"""While the app serves, the interpreter is set for serving (the collector's thresholds, the switch interval, what
start-up made frozen); once it stops, the process has them back as they were."""

from __future__ import annotations

import gc
import sys

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine

from talents.app import SERVING_GC_THRESHOLD, SERVING_SWITCH_INTERVAL_S, create_app


def test_the_app_serves_with_its_collector_and_switch_interval_and_gives_them_back(sqlite_engine: Engine):
    before = gc.get_threshold(), sys.getswitchinterval()
    assert before[0] != SERVING_GC_THRESHOLD and before[1] != SERVING_SWITCH_INTERVAL_S
    with TestClient(create_app()) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold() == SERVING_GC_THRESHOLD
        assert sys.getswitchinterval() == pytest.approx(SERVING_SWITCH_INTERVAL_S)
        assert gc.get_freeze_count() > 0  # start-up's objects are out of the collector's passes
    assert (gc.get_threshold(), sys.getswitchinterval()) == before
