"""A real ``talents serve`` process on 127.0.0.1 for the scale tests: started, waited for, stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """``talents serve`` over ``database_url``; its log goes to a file that a failing test prints."""

    def __init__(self, database_url: str, tmp: Path, *, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"serve-{self.port}.log"
        full_env = {
            **os.environ,
            "TALENTS_DATABASE_URL": database_url,
            "TALENTS_ENV": "test",
            "TALENTS_WRITE_RATE_PER_MINUTE": "1000000",
            "TALENTS_ALLOCATION_EXACT": "false",
            # what a server killed by a test leaves behind (its metrics folder) stays in the test's own folder
            "TMPDIR": str(tmp),
            **(env or {}),
        }
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", "talents.cli", "serve", "--port", str(self.port), "--workers", str(workers)],
            cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited ({self.proc.returncode}):\n{self.log()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the server was not ready within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:  # still readable once the server is stopped
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> float:
        """Send ``sig`` and wait for the exit; the seconds it took (the process is killed past ``timeout``)."""
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._dump_stacks()
                self.proc.kill()
                self.proc.wait(10)
                self._log.close()
                return float("inf")
        self._log.close()
        return time.monotonic() - start

    def _dump_stacks(self) -> None:
        # Every process of the server writes its threads' stacks to the log: what the failing test shows.
        with contextlib.suppress(psutil.Error):
            for proc in [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]:
                proc.send_signal(signal.SIGUSR1)
        time.sleep(1)


def add_python_agent(session: Any, external_id: str, level: int, **fields: Any) -> int:
    """An agent who knows Python at ``level`` and is free all 2027 at 100 %, as the real-process tests seed them."""
    from profiles.models import Agent, AgentSkill, Availability

    agent = Agent(external_id=external_id, email=f"{external_id}@agents.gouv.fr", ministry="Intérieur",
                  **{"name": f"Agent {external_id}", **fields})
    session.add(agent)
    session.flush()
    session.add(AgentSkill(agent_id=agent.id, skill_id="python", level=level, typed="python"))
    session.add(Availability(agent_id=agent.id, start=date(2027, 1, 1), end=date(2027, 12, 31), share=1.0))
    return int(agent.id)
