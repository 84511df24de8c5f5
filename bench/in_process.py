"""The app in process for the benchmarks that time requests one by one (``bench.review``, ``bench.mix_cpu``)."""

from __future__ import annotations

import argparse
import os
from typing import Any


def repeat_from(description: str, argv: list[str] | None) -> int:
    """The ``--repeat`` option of such a benchmark: how many times each request is asked."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=20)
    return int(parser.parse_args(argv).repeat)


def demo_client() -> Any:
    """Litestar's test client on the app over ``TALENTS_DATABASE_URL``: demo sign-in on, no scheduler in it, quiet
    logs (use it as a context manager)."""
    os.environ["TALENTS_DEMO"] = "1"
    os.environ["TALENTS_SCHEDULER_IN_APP"] = "0"
    os.environ.setdefault("TALENTS_LOG_LEVEL", "WARNING")
    # imported here: the app reads its settings from the environment set above
    from litestar.testing import TestClient

    from talents.app import create_app

    return TestClient(create_app())
