"""The app for the benchmarks that time requests one by one (``bench.review``, ``bench.mix_cpu``): in process, or
served by ``talents serve`` on 127.0.0.1 (``bench.mix_cpu --http``)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def repeat_from(description: str, argv: list[str] | None) -> int:
    """The ``--repeat`` option of such a benchmark: how many times each request is asked."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=20)
    return int(parser.parse_args(argv).repeat)


# A benchmark signs in and edits as fast as it can, round after round: no user's rate limits for it.
_AS_FAST_AS_IT_CAN = {"TALENTS_SIGNIN_RATE_PER_MINUTE": "1000000", "TALENTS_WRITE_RATE_PER_MINUTE": "1000000"}


def demo_client() -> Any:
    """Litestar's test client on the app over ``TALENTS_DATABASE_URL``: demo sign-in on, no scheduler in it, quiet
    logs (use it as a context manager)."""
    os.environ["TALENTS_DEMO"] = "1"
    os.environ["TALENTS_SCHEDULER_IN_APP"] = "0"
    os.environ.update(_AS_FAST_AS_IT_CAN)
    os.environ.setdefault("TALENTS_LOG_LEVEL", "WARNING")
    # imported here: the app reads its settings from the environment set above
    from litestar.testing import TestClient

    from talents.app import create_app

    return TestClient(create_app())


@contextmanager
def served_client() -> Iterator[tuple[Any, Callable[[], float]]]:
    """``talents serve --demo`` (one worker, no scheduler in it, quiet logs) over ``TALENTS_DATABASE_URL`` on a free
    port of 127.0.0.1, an HTTP client on it, and the server process's CPU seconds so far (what the kernel counts
    for it: in steps of its clock tick, 10 ms here, so that only means over many requests are figures)."""
    import httpx

    from bench.load import Server, free_port

    if not os.environ.get("TALENTS_DATABASE_URL"):
        raise SystemExit("TALENTS_DATABASE_URL: the database to serve (filled by `talents demo --agents 100000`)")
    env = {**os.environ, "TALENTS_ENV": "development", "TALENTS_SCHEDULER_IN_APP": "0",
           **_AS_FAST_AS_IT_CAN, "TALENTS_LOG_LEVEL": os.environ.get("TALENTS_LOG_LEVEL", "WARNING")}
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="talents-bench-") as tmp:
        server = Server([sys.executable, "-m", "talents.cli", "serve", "--demo", "--port", str(port)], env,
                        Path(tmp) / "serve.log", port, "/readyz")
        try:
            server.wait_ready()
            with httpx.Client(base_url=server.base, timeout=60) as client:
                yield client, server.cpu_seconds
        finally:
            server.stop()
