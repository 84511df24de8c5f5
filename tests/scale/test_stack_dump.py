"""An operator's look inside a running server: ``kill -USR1`` writes every thread's stack to its log."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest
import sqlalchemy as sa
from served import Served

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sigusr1_writes_every_threads_stack_to_the_log_of_each_worker_and_the_server_goes_on(
    engine: sa.Engine, tmp_path: Path
) -> None:
    server = Served(engine.url.render_as_string(hide_password=False), tmp_path, workers=2)
    try:
        server.wait_ready()
        supervisor = psutil.Process(server.proc.pid)
        # (the multiprocessing resource tracker is a child too: not a worker, and it has no such handler)
        workers = [p for p in supervisor.children() if "spawn_main" in " ".join(p.cmdline())]
        assert len(workers) == 2
        for proc in (supervisor, *workers):
            proc.send_signal(signal.SIGUSR1)

        def stacks() -> str:
            return server.log_path.read_text(errors="replace")

        deadline = time.monotonic() + 30
        while stacks().count("(most recent call first)") < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        log = stacks()
        assert log.count("(most recent call first)") >= 3, log[-3000:]  # the supervisor and both workers
        assert "uvicorn" in log
        assert httpx.get(server.base + "/healthz", timeout=10).status_code == 200
    finally:
        server.stop()
