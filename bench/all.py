"""Every benchmark, one after the other, as documented in the README: ``python -m bench.all``.

Each prints its own table with a baseline and a lower bound from the same run; compare ratios.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    ("Matching quality (NDCG@10, precision@3) against reference methods", ["bench.quality"]),
    ("Matching quality on real data (ESCO ICT, State digital jobs), per kind of need", ["bench.quality_esco"]),
    ("Allocation over the ESCO case: seats filled against the right-occupation bound", ["bench.allocation_esco"]),
    ("Matching speed at 10 000, 100 000 and 1 000 000 agents", ["bench.speed"]),
    ("Allocation by priority: solver against greedy, gap to the LP bound, churn", ["bench.allocation"]),
    ("Bulk import of 100 000 agents into SQLite", ["bench.import_agents"]),
)


def main() -> int:
    failed = 0
    for title, module in BENCHMARKS:
        print(f"\n=== {title}  (python -m {' '.join(module)})", flush=True)
        failed += subprocess.run([sys.executable, "-m", *module], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
