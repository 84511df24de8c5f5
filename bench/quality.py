"""Quality benchmark: the engine against simple references on generated cases with known answers.

    python -m bench.quality [--seed N] [--taxonomy PATH] [--seeds K] [--no-ablations]

Datasets: the small built-in taxonomy with hand-written occupations, and a larger taxonomy with
derived occupations — ``--taxonomy PATH`` (a JSON list of TaxonomySkill objects) or, when present,
the project's ``profiles/data/default_taxonomy.json``. See :mod:`bench.generator`.

Methods, all run in the same process on the same typed texts:

* ``exact names``: number of the need's typed skill names that the agent typed identically (case-blind);
* ``tfidf names``: cosine of TF-IDF vectors of the typed skill names;
* ``tfidf all text``: the same over skill names, bio, need title and description;
* ``fuzzy+coverage``: :class:`~matching.normalise.SkillNormaliser` then weighted share of asked skills held;
* ``engine``: normaliser then :class:`~matching.ranking.CandidateIndex` (levels, rarity, related and
  co-occurring skills, profile similarity), with ablations of its parts and other values of its
  constants (the figures that justify each default, recorded in ``docs/matching.md``).

Metrics: NDCG@10 (gain 2^grade − 1; grade 2 same occupation, 1 related occupation) and precision@3
(share of the first three of the same occupation), averaged over needs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from bench.generator import Case, default_taxonomy_path, generate, load_taxonomy
from matching.normalise import SkillNormaliser
from matching.ranking import CandidateIndex
from matching.taxonomy import Taxonomy
from matching.types import AgentSkill, AvailabilityWindow, CandidateProfile, RoleRequirement, SkillRequirement

__all__ = ["evaluate", "main", "ndcg_at", "precision_at"]

START, END = date(2027, 3, 1), date(2027, 6, 30)
Ranker = Callable[[Case], dict[str, list[str]]]


def ndcg_at(ranked: list[int], all_grades: list[int], k: int = 10) -> float:
    """NDCG@k of a ranked list of grades, the ideal taken over every agent's grade."""
    gains = (2.0 ** np.array(ranked[:k], dtype=float)) - 1.0
    dcg = float((gains / np.log2(np.arange(2, gains.size + 2))).sum()) if gains.size else 0.0
    ideal = (2.0 ** np.sort(np.array(all_grades, dtype=float))[::-1][:k]) - 1.0
    idcg = float((ideal / np.log2(np.arange(2, ideal.size + 2))).sum())
    return dcg / idcg if idcg > 0 else 0.0


def precision_at(ranked: list[int], k: int = 3) -> float:
    """Share of the first ``k`` with grade 2 (missing entries count as misses)."""
    return sum(1 for g in ranked[:k] if g == 2) / k


def _top(scores: np.ndarray, ids: list[str], k: int = 10) -> list[str]:
    # ties broken by agent id, which the generator made uninformative
    order = np.lexsort((np.array(ids), -scores))
    return [ids[i] for i in order[:k] if scores[i] > 0]


# ---------------------------------------------------------------------- references
def exact_names(case: Case) -> dict[str, list[str]]:
    ids = [a.agent_id for a in case.agents]
    sets = [{n.lower().strip() for n, _ in a.skills} for a in case.agents]
    out = {}
    for need in case.needs:
        asked = {n.lower().strip() for n, _, _ in need.skills}
        out[need.need_id] = _top(np.array([len(asked & s) for s in sets], dtype=float), ids)
    return out


def _tfidf(case: Case, with_text: bool) -> dict[str, list[str]]:
    ids = [a.agent_id for a in case.agents]
    docs = [" ; ".join(n for n, _ in a.skills) + (f" ; {a.bio}" if with_text else "") for a in case.agents]
    queries = [
        " ; ".join(n for n, _, _ in q.skills) + (f" ; {q.title} ; {q.description}" if with_text else "")
        for q in case.needs
    ]
    vec = TfidfVectorizer(strip_accents="unicode", sublinear_tf=True).fit(docs + queries)
    a, q = vec.transform(docs), vec.transform(queries)
    sims = (q @ a.T).toarray()
    return {need.need_id: _top(sims[i], ids) for i, need in enumerate(case.needs)}


def tfidf_names(case: Case) -> dict[str, list[str]]:
    return _tfidf(case, with_text=False)


def tfidf_all(case: Case) -> dict[str, list[str]]:
    return _tfidf(case, with_text=True)


def _resolve(case: Case, norm: SkillNormaliser) -> tuple[list[list], list[list]]:
    agent_res = norm.resolve_many([n for a in case.agents for n, _ in a.skills])
    need_res = norm.resolve_many([n for q in case.needs for n, _, _ in q.skills])
    ai = iter(agent_res)
    qi = iter(need_res)
    return (
        [[next(ai) for _ in a.skills] for a in case.agents],
        [[next(qi) for _ in q.skills] for q in case.needs],
    )


def fuzzy_coverage(case: Case) -> dict[str, list[str]]:
    norm = SkillNormaliser(case.taxonomy)
    agent_res, need_res = _resolve(case, norm)
    ids = [a.agent_id for a in case.agents]
    held = [{r.skill_id for r in rs if r.skill_id} for rs in agent_res]
    out = {}
    for need, rs in zip(case.needs, need_res, strict=True):
        asked = [(r.skill_id, w) for r, (_, _, w) in zip(rs, need.skills, strict=True) if r.skill_id]
        total = sum(w for _, w in asked) or 1.0
        scores = np.array([sum(w for s, w in asked if s in h) / total for h in held])
        out[need.need_id] = _top(scores, ids)
    return out


# ---------------------------------------------------------------------- engine
def engine(**params: object) -> Ranker:
    """The engine with ``CandidateIndex(**params)``."""

    def run(case: Case) -> dict[str, list[str]]:
        norm = SkillNormaliser(case.taxonomy)
        agent_res, need_res = _resolve(case, norm)
        window = (AvailabilityWindow(date(2027, 1, 1), date(2027, 12, 31), 1.0),)
        profiles = []
        for a, rs in zip(case.agents, agent_res, strict=True):
            skills = tuple(AgentSkill(r.skill_id, lvl) for r, (_, lvl) in zip(rs, a.skills, strict=True) if r.skill_id)
            pending = " ".join(r.text for r in rs if not r.skill_id)  # kept as free text, never dropped
            profiles.append(CandidateProfile(a.agent_id, skills, window, text=f"{a.bio} {pending}".strip()))
        index = CandidateIndex(**params).fit(case.taxonomy, profiles)  # type: ignore[arg-type]
        out = {}
        for need, rs in zip(case.needs, need_res, strict=True):
            reqs = tuple(
                SkillRequirement(r.skill_id, lvl, weight=w)
                for r, (_, lvl, w) in zip(rs, need.skills, strict=True)
                if r.skill_id
            )
            pending = " ".join(r.text for r in rs if not r.skill_id)
            role = RoleRequirement(
                need.need_id, need.title, 0.6, START, END, reqs, description=f"{need.description} {pending}"
            )
            out[need.need_id] = [c.agent_id for c in index.rank(role, top=10, near_misses=0).candidates]
        return out

    return run


def with_occupations(ranker: Ranker) -> Ranker:
    """``ranker`` on the case's taxonomy with the occupations' skill lists on each skill (as ESCO's
    occupation–skill relations give them to a deployment). Never an agent's occupation."""

    def run(case: Case) -> dict[str, list[str]]:
        listed: dict[str, list[str]] = {}
        for i, occ in enumerate(case.occupations):
            for sid in occ.skills:
                listed.setdefault(sid, []).append(f"occupation-{i}")
        tax = Taxonomy(replace(s, occupations=tuple(listed.get(s.id, ()))) for s in case.taxonomy)
        return ranker(replace(case, taxonomy=tax))

    return run


def evaluate(case: Case, ranker: Ranker) -> tuple[float, float, float]:
    """(NDCG@10, precision@3, seconds) of one method on one case."""
    t0 = time.perf_counter()
    ranked = ranker(case)
    elapsed = time.perf_counter() - t0
    by_id = {a.agent_id: a for a in case.agents}
    ndcg, p3 = [], []
    for need in case.needs:
        grades = [case.relevance(need, by_id[a]) for a in ranked[need.need_id]]
        all_grades = [case.relevance(need, a) for a in case.agents]
        ndcg.append(ndcg_at(grades, all_grades))
        p3.append(precision_at(grades))
    return float(np.mean(ndcg)), float(np.mean(p3)), elapsed


REFERENCES: dict[str, Ranker] = {
    "exact names": exact_names,
    "tfidf names": tfidf_names,
    "tfidf all text": tfidf_all,
    "fuzzy+coverage": fuzzy_coverage,
}
ABLATIONS: dict[str, dict[str, object]] = {
    "engine w/o co-occurrence": {"cooccurrence_credit": 0.0},
    "engine w/o taxonomy relations": {"related_credit": 0.0},
    "engine w/o profile similarity": {"text_weight": 0.0},
    "engine w/o skills in profile": {"context_weight": 0.0},
    "engine w/o rarity": {"use_rarity": False},
    "engine text_weight=0.3": {"text_weight": 0.3},
    "engine text_weight=0.7": {"text_weight": 0.7},
    "engine cooccurrence_credit=0.3": {"cooccurrence_credit": 0.3},
    "engine cooccurrence_credit=0.9": {"cooccurrence_credit": 0.9},
    "engine related_credit=0.8": {"related_credit": 0.8},
}


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: prints one table per dataset."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=1, help="average over this many seeds from --seed")
    ap.add_argument("--taxonomy", help="JSON list of TaxonomySkill objects (default: the project's, if present)")
    ap.add_argument("--no-ablations", action="store_true")
    args = ap.parse_args(argv)
    datasets: list[tuple[str, Taxonomy | None]] = [("built-in taxonomy, hand-written occupations", None)]
    path = args.taxonomy or default_taxonomy_path()
    if path:
        tax = load_taxonomy(path)
        datasets.append((f"{path} ({len(tax)} skills), derived occupations", tax))
    methods: dict[str, Ranker] = dict(REFERENCES)
    methods["ENGINE"] = engine()
    methods["engine + taxonomy occupations"] = with_occupations(engine())
    if not args.no_ablations:
        methods |= {name: engine(**params) for name, params in ABLATIONS.items()}
    for title, tax in datasets:
        results: dict[str, list[tuple[float, float, float]]] = {m: [] for m in methods}
        for seed in range(args.seed, args.seed + args.seeds):
            case = generate(tax, seed=seed)
            for name, ranker in methods.items():
                results[name].append(evaluate(case, ranker))
        print(
            f"\n== {title}: {len(case.agents)} agents, {len(case.needs)} needs, "
            f"{len(case.occupations)} occupations, seeds {args.seed}..{args.seed + args.seeds - 1}"
        )
        print(f"{'method':<32} {'NDCG@10':>8} {'P@3':>6} {'time s':>7}")
        best_ref = max(float(np.mean([r[0] for r in results[m]])) for m in REFERENCES)
        for name, rs in results.items():
            nd, p3, t = (float(np.mean([r[i] for r in rs])) for i in range(3))
            print(f"{name:<32} {nd:>8.3f} {p3:>6.3f} {t:>7.2f}")
        eng = float(np.mean([r[0] for r in results["ENGINE"]]))
        print(f"engine NDCG@10 vs best reference: {eng:.3f} vs {best_ref:.3f} ({(eng / best_ref - 1) * 100:+.1f} %)")


if __name__ == "__main__":
    main()
