"""Speed benchmark of :class:`matching.ranking.CandidateIndex`, and of a repeat ``talents match``.

For each size: build the index over synthetic agents, rank a set of roles (median and p95 latency of
``rank(top=50)``, and of the same ranking with every explanation read: their dictionaries are laid
out when first read), and compare in the same run with

* the lower bound: one sparse matrix–vector product over the same agent×feature matrix (the index keeps
  it as two blocks of columns; the bound multiplies it whole, as one CSR matrix), timed
  alternately with the rankings so that both find the matrix in the same cache state (back to back,
  mat-vecs find it hot in the cache, which no ranking does: at 10 000 agents that halves the figure);
  the ratio is given in wall time and in CPU time of the process (steadier on a shared machine). The ranking
  itself no longer multiplies the whole matrix (it reads only the entries of the role vector's nonzero
  columns), so the mat-vec is the reference the figures are read against rather than a bound of the ranking;
* a naive per-agent Python loop (exact eligibility + dictionary skill score), timed on a subsample
  and extrapolated (labelled so);

each ranking timed cold: the product over the merged matrices, which a compiled role keeps until the next merge,
is dropped before it (a role asked for the first time). ``again ms``: the same role ranked again with that product
kept, as on a later state of the index whose changes are still pending (a profile edit between two rankings);

plus the time of one upsert (overlay write) and of the periodic merge; the CPU time of one refresh of a
ranking worker's published state after one changed profile (both indexes forked, the profile upserted into
each, the previous state let go) beside its lower bound, those two upserts into a private index; and memory
(index arrays, peak RSS of the process).

    python -m bench.speed [--sizes 10000,100000,1000000] [--roles 20] [--seed 0]
    python -m bench.speed --cli [--agents 3000] [--runs 7]

``--cli`` seeds a SQLite database the way a user would (``talents demo --agents N``), runs ``talents
match`` once (it builds and keeps the index), then times further runs as new processes (wall time,
median) beside ``python -c pass``, the floor of starting a process.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess  # nosec B404 - the benchmark runs the project's own command line
import sys
import tempfile
import time
from datetime import date, timedelta

import numpy as np
import psutil
import scipy.sparse as sp

from matching.availability import eligibility
from matching.ranking import CandidateIndex
from matching.scoring import level_credit
from matching.taxonomy import Taxonomy
from matching.types import (
    AgentSkill,
    AvailabilityWindow,
    CandidateProfile,
    Commitment,
    RoleRequirement,
    SkillRequirement,
    TaxonomySkill,
)
from talents.ranking_index import IndexState

__all__ = ["main", "synthetic_profiles", "synthetic_roles", "synthetic_taxonomy"]

BASE = date(2027, 1, 1)


def synthetic_taxonomy(n_skills: int = 1000) -> Taxonomy:
    """``n_skills`` skills ``s0…``, each related to its neighbour (a chain)."""
    return Taxonomy(
        TaxonomySkill(f"s{i}", f"compétence {i}", f"skill {i}", related=(f"s{i + 1}",) if i % 7 == 0 else ())
        for i in range(n_skills)
    )


def _popularity(n_skills: int) -> np.ndarray:
    p = 1.0 / (np.arange(n_skills) + 10.0)  # Zipf-like: a few skills are everywhere
    return p / p.sum()


def synthetic_profiles(n: int, n_skills: int = 1000, seed: int = 0) -> list[CandidateProfile]:
    """Agents with 5–12 skills (Zipf popularity), one or two availability windows, some commitments."""
    rng = np.random.default_rng(seed)
    pop = _popularity(n_skills)
    k = rng.integers(5, 13, size=n)
    skills = rng.choice(n_skills, size=(n, 12), p=pop)
    levels = rng.integers(1, 6, size=(n, 12))
    used = rng.integers(0, 3650, size=(n, 12))
    known = rng.random((n, 12)) < 0.5
    interest = rng.integers(1, 6, size=(n, 12))
    start = rng.integers(0, 180, size=n)
    length = rng.integers(60, 400, size=n)
    share = rng.choice([0.5, 0.6, 0.8, 1.0], size=n, p=[0.1, 0.3, 0.3, 0.3])
    split = rng.random(n) < 0.3
    commit = rng.random(n) < 0.2
    words = rng.integers(0, 3000, size=(n, 6))
    days = [BASE - timedelta(days=int(d)) for d in range(3650)]
    out: list[CandidateProfile] = []
    for i in range(n):
        sk = tuple(
            AgentSkill(
                f"s{skills[i, j]}",
                int(levels[i, j]),
                last_used=days[used[i, j]] if known[i, j] else None,
                interest=int(interest[i, j]) if known[i, j] else None,
            )
            for j in range(k[i])
        )
        s0 = BASE + timedelta(days=int(start[i]))
        e0 = s0 + timedelta(days=int(length[i]))
        if split[i]:
            mid = s0 + timedelta(days=int(length[i]) // 2)
            av = (
                AvailabilityWindow(s0, mid, float(share[i])),
                AvailabilityWindow(mid + timedelta(days=1), e0, 1.0),
            )
        else:
            av = (AvailabilityWindow(s0, e0, float(share[i])),)
        cm = (Commitment(s0 + timedelta(days=30), s0 + timedelta(days=60), 0.3),) if commit[i] else ()
        text = " ".join(f"mot{w}" for w in words[i])
        out.append(CandidateProfile(f"a{i}", sk, av, cm, text=text, open_proposals=int(i % 4 == 0)))
    return out


def synthetic_roles(n_roles: int, n_skills: int = 1000, seed: int = 1) -> list[RoleRequirement]:
    """Roles asking 4–6 skills at level 3 (one required in half of them), 0.6 of time over ~3 months."""
    rng = np.random.default_rng(seed)
    pop = _popularity(n_skills)
    roles = []
    for r in range(n_roles):
        ks = rng.choice(n_skills, size=int(rng.integers(4, 7)), replace=False, p=pop)
        req = tuple(
            SkillRequirement(f"s{k}", 3, required=(j == 0 and r % 2 == 0)) for j, k in enumerate(ks)
        )
        start = BASE + timedelta(days=int(rng.integers(30, 150)))
        roles.append(
            RoleRequirement(
                f"r{r}", f"mot{rng.integers(3000)} mot{rng.integers(3000)}", 0.6, start, start + timedelta(90), req
            )
        )
    return roles


def naive_rank(profiles: list[CandidateProfile], role: RoleRequirement, top: int = 50) -> list[str]:
    """Reference: one Python loop over agents, exact eligibility then a dictionary skill score."""
    scored = []
    for p in profiles:
        if not eligibility(p.availability, p.commitments, role.start, role.end, role.share).eligible:
            continue
        held = {s.skill_id: s.level for s in p.skills}
        score = sum(level_credit(held[r.skill_id], r.level) for r in role.skills if r.skill_id in held)
        if score > 0:
            scored.append((score, p.agent_id))
    scored.sort(reverse=True)
    return [a for _, a in scored[:top]]


def _ms(xs: list[float]) -> tuple[float, float]:
    a = np.array(xs) * 1000
    return float(np.median(a)), float(np.percentile(a, 95))


def _index_bytes(index: CandidateIndex) -> int:
    arrays = [m.data for m in (index.text_, index.skills_)] + [m.indices for m in (index.text_, index.skills_)]
    arrays += [index.text_.indptr, index.skills_.indptr, index.last_used_, index.interest_]
    arrays += [index.seg_indptr_, index.seg_start_, index.seg_end_, index.seg_free_]
    arrays += [*index.text_by_column_[:3], *index.skills_by_column_[:3]]  # both blocks again, by column
    return sum(a.nbytes for a in arrays)


def run(size: int, n_roles: int, seed: int) -> dict[str, float]:
    """Benchmark one size; returns the figures."""
    proc = psutil.Process()
    tax = synthetic_taxonomy()
    t0 = time.perf_counter()
    profiles = synthetic_profiles(size, seed=seed)
    gen_s = time.perf_counter() - t0
    gc.collect()
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    index = CandidateIndex().fit(tax, profiles)
    build_s = time.perf_counter() - t0
    rss1 = proc.memory_info().rss
    roles = synthetic_roles(n_roles)
    matrix = sp.hstack([index.text_, index.skills_], format="csr")  # the agent×feature matrix, whole
    lat: list[float] = []
    lat_cpu: list[float] = []
    again: list[float] = []
    full: list[float] = []
    lower: list[float] = []
    lower_cpu: list[float] = []
    found = []
    wall, cpu = time.perf_counter, time.process_time
    for role in roles:
        index.rank(role)  # warm-up
        compiled = index._compile(role)  # noqa: SLF001 - the same matrix and vector
        vec = compiled.vector[: matrix.shape[1]]
        for _ in range(3):
            compiled.merged_products = None  # cold: the product over the merged matrices computed again
            t0, c0 = wall(), cpu()
            r = index.rank(role, top=50)
            lat.append(wall() - t0)
            lat_cpu.append(cpu() - c0)
            t0 = wall()
            index.rank(role, top=50)
            again.append(wall() - t0)
            t0, c0 = wall(), cpu()
            _ = matrix @ vec
            lower.append(wall() - t0)
            lower_cpu.append(cpu() - c0)
            compiled.merged_products = None
            t0 = wall()
            r = index.rank(role, top=50)
            _ = [c.explanation for c in (*r.candidates, *r.near_misses)]
            full.append(wall() - t0)
        found.append(len(r.candidates))
    sub = min(size, 5000)
    t0 = time.perf_counter()
    for role in roles[:3]:
        naive_rank(profiles[:sub], role)
    naive_s = (time.perf_counter() - t0) / 3 * (size / sub)
    rng = np.random.default_rng(seed + 7)
    ups: list[float] = []
    for i in rng.integers(0, size, size=200).tolist():
        p = profiles[i]
        changed = CandidateProfile(p.agent_id, p.skills[:-1], p.availability, p.commitments, p.text)
        t0 = time.perf_counter()
        index.upsert(changed)
        ups.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    index.merge()
    merge_s = time.perf_counter() - t0
    refresh = _refresh_us(index, profiles, rng)
    med, p95 = _ms(lat)
    lb, _ = _ms(lower)
    return {
        "size": size,
        "gen_s": gen_s,
        "build_s": build_s,
        "median_ms": med,
        "p95_ms": p95,
        "full_ms": _ms(full)[0],
        "again_ms": _ms(again)[0],
        "lower_ms": lb,
        "cpu_ratio": _ms(lat_cpu)[0] / _ms(lower_cpu)[0],
        "naive_ms": naive_s * 1000,
        "naive_extrapolated": sub < size,
        "upsert_us": float(np.median(ups) * 1e6),
        "merge_s": merge_s,
        **refresh,
        "index_mb": _index_bytes(index) / 2**20,
        "rss_build_mb": (rss1 - rss0) / 2**20,
        "min_found": min(found),
        "nnz": index.text_.nnz + index.skills_.nnz,
    }


def _refresh_us(index: CandidateIndex, profiles: list[CandidateProfile], rng: np.random.Generator) -> dict[str, float]:
    """CPU time of one refresh after one changed profile: the published state forked (its two indexes, both this
    one here), the profile upserted into each, the previous state let go, as a ranking worker does it; beside its
    lower bound, the same two upserts into a private index (no copy). ``merge_every`` changes in a row from a
    merged index: the medians leave out the periodic merge, the means count the one each index makes."""
    state = IndexState(index, index, (), None)
    private = index  # changed in place: its forks share nothing that a change writes into
    refresh: list[float] = []
    bound: list[float] = []
    cpu = time.process_time
    for i in rng.integers(0, len(profiles), size=index.merge_every).tolist():
        p = profiles[i]
        changed = CandidateProfile(p.agent_id, p.skills[1:], p.availability, p.commitments, p.text)
        c0 = cpu()
        nxt = state.fork()
        nxt.allocation.upsert(changed)
        nxt.interactive.upsert(changed)
        state = nxt  # the only reference to the previous state: freed here, as when its last ranking ends
        c1 = cpu()
        private.upsert(changed)
        private.upsert(changed)
        c2 = cpu()
        refresh.append(c1 - c0)
        bound.append(c2 - c1)
    return {
        "refresh_us": float(np.median(refresh) * 1e6),
        "refresh_ratio": float(np.median(refresh) / np.median(bound)),
        "refresh_mean_us": float(np.mean(refresh) * 1e6),
        "refresh_mean_ratio": float(np.mean(refresh) / np.mean(bound)),
    }


def cli_repeat(agents: int, runs: int) -> None:
    """Wall time of a repeat ``talents match`` on a database of ``agents`` seeded by ``talents demo``."""
    with tempfile.TemporaryDirectory(prefix="talents-speed-") as tmp:
        # Without PYTHONDONTWRITEBYTECODE: the first calls leave the project's bytecode behind, as an installed
        # package has it; with it, every repeat call would compile the project's modules again.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["TALENTS_DATABASE_URL"] = f"sqlite:///{tmp}/talents.db"
        talents = [sys.executable, "-m", "talents.cli"]

        cpu: list[float] = []

        def timed(cmd: list[str]) -> float:
            # CPU time (user + system) of the child too: steadier than wall time on a shared machine
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)  # nosec B603 - fixed arguments
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            return wall

        timed([*talents, "demo", "--agents", str(agents)])
        first = timed([*talents, "match", "1", "--json"])  # builds the index and keeps it beside the database
        cpu.clear()
        repeat = [timed([*talents, "match", "1", "--json"]) for _ in range(runs)]
        repeat_cpu, cpu[:] = list(cpu), []
        floor = [timed([sys.executable, "-c", "pass"]) for _ in range(runs)]
    med, lo = float(np.median(repeat)), float(np.median(floor))
    med_cpu, lo_cpu = float(np.median(repeat_cpu)), float(np.median(cpu))
    print(f"talents match on {agents:,} agents (SQLite, seeded by talents demo), {runs} runs, new process each:")
    print(f"  first call {first:.2f} s; repeat median {med:.2f} s (min {min(repeat):.2f}, max {max(repeat):.2f})")
    print(f"  repeat CPU (user + system) median {med_cpu:.2f} s (min {min(repeat_cpu):.2f})")
    ratios = f"ratio {med / lo:.1f} wall, {med_cpu / lo_cpu:.1f} CPU"
    print(f"  python -c pass median {lo:.3f} s wall, {lo_cpu:.3f} s CPU; {ratios}")
    print(f"  load average {os.getloadavg()[0]:.1f}")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--roles", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cli", action="store_true", help="time a repeat `talents match` instead")
    ap.add_argument("--agents", type=int, default=3000, help="with --cli: agents in the database")
    ap.add_argument("--runs", type=int, default=7, help="with --cli: timed runs")
    args = ap.parse_args(argv)
    if args.cli:
        cli_repeat(args.agents, args.runs)
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    head = (
        f"{'agents':>9} {'nnz':>10} {'build s':>8} {'rank med ms':>11} {'p95 ms':>7} {'again ms':>8} {'+expl ms':>8} "
        f"{'lower ms':>8} {'ratio':>6} {'+expl':>6} {'cpu':>5} {'naive ms':>10} {'speed-up':>9} "
        f"{'upsert µs':>9} {'merge s':>7} {'refresh µs':>10} {'×':>5} {'mean µs':>8} {'×':>5} "
        f"{'index MB':>8} {'RSS+ MB':>8} {'load':>5}"
    )
    print(head)
    print("-" * len(head))
    for size in sizes:
        f = run(size, args.roles, args.seed)
        naive = f"{f['naive_ms']:.0f}{'*' if f['naive_extrapolated'] else ''}"
        print(
            f"{f['size']:>9,} {f['nnz']:>10,} {f['build_s']:>8.1f} {f['median_ms']:>11.2f} {f['p95_ms']:>7.2f} "
            f"{f['again_ms']:>8.2f} {f['full_ms']:>8.2f} {f['lower_ms']:>8.2f} {f['median_ms'] / f['lower_ms']:>6.1f} "
            f"{f['full_ms'] / f['lower_ms']:>6.1f} {f['cpu_ratio']:>5.1f} {naive:>10} "
            f"{f['naive_ms'] / f['median_ms']:>8.0f}x {f['upsert_us']:>9.0f} {f['merge_s']:>7.2f} "
            f"{f['refresh_us']:>10.0f} {f['refresh_ratio']:>5.1f} "
            f"{f['refresh_mean_us']:>8.0f} {f['refresh_mean_ratio']:>5.1f} "
            f"{f['index_mb']:>8.1f} {f['rss_build_mb']:>8.0f} {os.getloadavg()[0]:>5.1f}",
            flush=True,
        )
        gc.collect()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        "\nratio = rank median (cold) / lower bound (one sparse mat-vec over the same matrix, timed alternately with "
        "the rankings); again: the same role ranked again, its product kept; +expl: with every explanation read; "
        f"cpu: the same ratio in process CPU time; top=50, {args.roles} roles × 3"
    )
    print("naive: per-agent Python loop; * = timed on 5,000 agents and extrapolated linearly")
    print(
        "refresh: CPU time of a ranking worker's published state (two indexes) forked after one changed profile, "
        "upserted into each, the previous state let go (median of merge_every = 512 in a row); × = refresh / its "
        "lower bound, the two upserts into a private index; mean: of the same, the periodic merges included"
    )
    print(f"peak RSS of the process: {peak:.0f} MB (includes the synthetic profiles themselves)")


if __name__ == "__main__":
    main()
