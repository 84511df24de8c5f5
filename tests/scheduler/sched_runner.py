"""A scheduler process for the tests: one ``tick`` job every second that appends its slot to a file.

    python sched_runner.py DATABASE_URL SIDE_EFFECT_FILE DURATION_S ELECT(1|0) LEASE_S STATS_FILE [START_FILE]

With START_FILE, the process says it is ready (START_FILE.<pid>) and waits for START_FILE to exist before it
schedules: processes that start at different speeds on a loaded machine still run side by side.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import talents.scheduler as sched
from talents.kernel.db import get_engine


def main() -> None:
    url, side, duration, elect, lease, stats_file = sys.argv[1:7]
    counts = {"ran": 0, "skipped": 0, "failed": 0}
    original = sched.run_job

    def counting(engine, job, now, runner):  # type: ignore[no-untyped-def]
        outcome = original(engine, job, now, runner)
        counts[outcome] += 1
        return outcome

    sched.run_job = counting  # the runner looks the function up at call time

    def tick(_engine, now):  # type: ignore[no-untyped-def]
        slot = sched.slot_of(job, now).isoformat()
        fd = os.open(side, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{slot} {os.getpid()}\n".encode())
        finally:
            os.close(fd)
        return slot

    job = sched.Job("tick", tick, period_s=1)
    runner = sched.SchedulerRunner(get_engine(url), [job], lease_s=float(lease), elect=elect == "1")
    if len(sys.argv) > 7:
        start = Path(sys.argv[7])
        Path(f"{start}.{os.getpid()}").touch()
        while not start.exists():
            time.sleep(0.02)
    try:
        runner.run_forever(float(duration))
    finally:
        with open(stats_file, "w") as f:
            json.dump({"pid": os.getpid(), "holder": runner.holder, **counts}, f)


if __name__ == "__main__":
    main()
