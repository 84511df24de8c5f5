"""Quality on real taxonomy data: the engine against references on the ESCO ICT subset and on the
built-in taxonomy's State digital jobs (see :mod:`bench.esco` for how cases are made).

    python -m bench.quality_esco [--seed N] [--agents 3000] [--quick]

Every method ranks the same agents for the same needs, with the same eligibility (available over the
need's period at the role's share) and the same must-have rule (each must-have, resolved against the
taxonomy, held at its level); they differ only in how they score what is left:

* ``exact names``: how many of the need's typed names the agent typed identically (case-blind);
* ``tfidf names``: cosine of TF-IDF vectors of the typed names;
* ``fuzzy+coverage``: rapidfuzz normalisation to the taxonomy, then the weighted share of asked skills held;
* ``fuzzy+idf coverage``: the same with each asked skill also weighted by its rarity (IDF);
* ``ENGINE``: normalisation then :class:`~matching.ranking.CandidateIndex` with its defaults; it also
  gets what a deployment importing ESCO has and the references do not use: the occupation–skill
  relations of the taxonomy (never an agent's occupation);
* ``IDF coverage of the true asked skills`` (not a competitor): the ``fuzzy+idf coverage`` score on the
  agents' *true* skills, no typing at all — the best any score of the *asked* skills alone can do.

``--select`` learns the engine's parameters instead of taking its defaults: scikit-learn's
``ParameterGrid`` over the parts of the score (profile similarity weight, occupations' weight in it
and their sharpness, co-occurrence credit, rarity), chosen on half of the needs (``train_test_split``,
stratified by kind) and reported on the other half only.

Metrics, per kind of need (with two must-haves / without): NDCG@10 (gain 2^grade − 1, the ideal over
every agent), P@3 (share of the first three of the need's occupation, over what the ideal allows:
``min(3, relevant)``), and the number of agents ranked in a top 10 who are not truly eligible.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import ParameterGrid, train_test_split

from bench.esco import END, ROLE_SHARE, START, EscoCase, EscoNeed, builtin_case, esco_case
from bench.quality import ndcg_at
from matching.availability import eligibility
from matching.normalise import SkillNormaliser
from matching.ranking import CandidateIndex
from matching.scoring import idf
from matching.types import AgentSkill, CandidateProfile, RoleRequirement, SkillRequirement

__all__ = ["Prepared", "engine", "evaluate", "main", "prepare"]

TOP = 10


@dataclass(slots=True)
class Prepared:
    """A case with what every method shares: resolved skills, availability, the eligibility filter."""

    case: EscoCase
    ids: list[str]
    agent_skills: list[dict[str, int]]  # resolved skill id → best level
    agent_text: list[str]  # typed names that did not resolve, kept as text
    need_reqs: list[list[tuple[str, int, float, bool]]]  # resolved (id, level, weight, must-have)
    need_text: list[str]
    available: np.ndarray
    df: dict[str, int]

    def allowed(self, q: int) -> np.ndarray:
        """Agents every method may rank for need ``q``: available and holding each must-have."""
        ok = self.available.copy()
        for sid, lvl, _, req in self.need_reqs[q]:
            if req:
                ok &= np.fromiter((s.get(sid, 0) >= lvl for s in self.agent_skills), bool, len(self.ids))
        return ok


def prepare(case: EscoCase) -> Prepared:
    norm = SkillNormaliser(case.taxonomy)
    a_res = norm.resolve_many([n for a in case.agents for n, _ in a.typed])
    q_res = norm.resolve_many([n for q in case.needs for n, _, _, _ in q.typed])
    ai, qi = iter(a_res), iter(q_res)
    agent_skills, agent_text = [], []
    for a in case.agents:
        held: dict[str, int] = {}
        pending = []
        for _, lvl in a.typed:
            r = next(ai)
            if r.skill_id:
                held[r.skill_id] = max(lvl, held.get(r.skill_id, 0))
            else:
                pending.append(r.text)
        agent_skills.append(held)
        agent_text.append(" ".join(pending))
    need_reqs, need_text = [], []
    for q in case.needs:
        reqs: dict[str, tuple[str, int, float, bool]] = {}
        pending = []
        for _, lvl, w, req in q.typed:
            r = next(qi)
            if r.skill_id:
                old = reqs.get(r.skill_id)  # one skill asked twice: one requirement, the strictest
                reqs[r.skill_id] = (
                    (r.skill_id, max(lvl, old[1]), max(w, old[2]), req or old[3]) if old else (r.skill_id, lvl, w, req)
                )
            else:
                pending.append(r.text)
        need_reqs.append(list(reqs.values()))
        need_text.append(" ".join(pending))
    available = np.array(
        [eligibility(a.availability, (), START, END, ROLE_SHARE).eligible for a in case.agents], dtype=bool
    )
    df: dict[str, int] = {}
    for held in agent_skills:
        for sid in held:
            df[sid] = df.get(sid, 0) + 1
    return Prepared(
        case, [a.agent_id for a in case.agents], agent_skills, agent_text, need_reqs, need_text, available, df
    )


Method = Callable[[Prepared], list[list[str]]]


def _top(p: Prepared, q: int, scores: np.ndarray) -> list[str]:
    ok = p.allowed(q) & (scores > 0)
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((np.array(p.ids)[idx], -scores[idx]))] if idx.size else idx
    return [p.ids[i] for i in order[:TOP]]


# ---------------------------------------------------------------------- references
def exact_names(p: Prepared) -> list[list[str]]:
    sets = [{n.lower().strip() for n, _ in a.typed} for a in p.case.agents]
    out = []
    for q, need in enumerate(p.case.needs):
        asked = {n.lower().strip() for n, _, _, _ in need.typed}
        out.append(_top(p, q, np.array([len(asked & s) for s in sets], dtype=float)))
    return out


def tfidf_names(p: Prepared) -> list[list[str]]:
    docs = [" ; ".join(n for n, _ in a.typed) for a in p.case.agents]
    queries = [" ; ".join(n for n, _, _, _ in q.typed) for q in p.case.needs]
    vec = TfidfVectorizer(strip_accents="unicode", sublinear_tf=True).fit(docs + queries)
    sims = (vec.transform(queries) @ vec.transform(docs).T).toarray()
    return [_top(p, q, sims[q]) for q in range(len(p.case.needs))]


def _coverage(p: Prepared, rarity: bool) -> list[list[str]]:
    n = len(p.ids)
    out = []
    for q in range(len(p.case.needs)):
        asked = [(sid, w * (float(idf(p.df.get(sid, 0), n)) if rarity else 1.0)) for sid, _, w, _ in p.need_reqs[q]]
        total = sum(w for _, w in asked) or 1.0
        scores = np.array([sum(w for sid, w in asked if sid in held) / total for held in p.agent_skills])
        out.append(_top(p, q, scores))
    return out


def fuzzy_coverage(p: Prepared) -> list[list[str]]:
    return _coverage(p, rarity=False)


def fuzzy_idf_coverage(p: Prepared) -> list[list[str]]:
    return _coverage(p, rarity=True)


def true_skills_coverage(p: Prepared) -> list[list[str]]:
    """IDF coverage on the true skills: the best a score of the asked skills alone can do."""
    case = p.case
    truth = replace(
        p,
        agent_skills=[dict(a.true) for a in case.agents],
        need_reqs=[[(s, lvl, w, req) for s, (_, lvl, w, req) in zip(q.true, q.typed, strict=True)] for q in case.needs],
    )
    truth.df = {}
    for held in truth.agent_skills:
        for sid in held:
            truth.df[sid] = truth.df.get(sid, 0) + 1
    return _coverage(truth, rarity=True)


# ---------------------------------------------------------------------- engine
def profiles(p: Prepared) -> list[CandidateProfile]:
    """The agents as the app gives them to the engine."""
    return [
        CandidateProfile(aid, tuple(AgentSkill(s, lvl) for s, lvl in held.items()), a.availability, text=text)
        for aid, held, a, text in zip(p.ids, p.agent_skills, p.case.agents, p.agent_text, strict=True)
    ]


def role(p: Prepared, q: int) -> RoleRequirement:
    need: EscoNeed = p.case.needs[q]
    reqs = tuple(SkillRequirement(s, lvl, weight=w, required=req) for s, lvl, w, req in p.need_reqs[q])
    return RoleRequirement(need.need_id, need.title, ROLE_SHARE, START, END, reqs, description=p.need_text[q])


def engine(**params: object) -> Method:
    """The engine with ``CandidateIndex(**params)``."""

    def run(p: Prepared) -> list[list[str]]:
        index = CandidateIndex(**params).fit(p.case.taxonomy, profiles(p))  # type: ignore[arg-type]
        return [
            [c.agent_id for c in index.rank(role(p, q), top=TOP, near_misses=0).candidates]
            for q in range(len(p.case.needs))
        ]

    return run


# ---------------------------------------------------------------------- metrics
def evaluate(p: Prepared, ranked: list[list[str]], needs: list[int] | None = None) -> dict[str, dict[str, float]]:
    """NDCG@10, P@3 and ineligible agents ranked, by kind of need ("must-haves", "none", "all")."""
    case = p.case
    by_id = {a.agent_id: a for a in case.agents}
    rows: dict[str, list[tuple[float, float | None, int]]] = {"must-haves": [], "none": [], "all": []}
    for q in needs if needs is not None else range(len(case.needs)):
        need = case.needs[q]
        grades = [case.relevance(need, by_id[a]) for a in ranked[q]]
        every = [case.relevance(need, a) for a in case.agents]
        n2 = sum(1 for g in every if g == 2)
        p3 = sum(1 for g in grades[:3] if g == 2) / min(3, n2) if n2 else None
        bad = sum(1 for a in ranked[q] if not case.eligible(need, by_id[a]))
        row = (ndcg_at(grades, every, TOP), p3, bad)
        rows["must-haves" if need.must_have else "none"].append(row)
        rows["all"].append(row)
    out = {}
    for kind, rs in rows.items():
        p3s = [r[1] for r in rs if r[1] is not None]
        out[kind] = {
            "ndcg": float(np.mean([r[0] for r in rs])) if rs else 0.0,
            "p3": float(np.mean(p3s)) if p3s else 0.0,
            "ineligible": float(sum(r[2] for r in rs)),
            "needs": float(len(rs)),
        }
    return out


REFERENCES: dict[str, Method] = {
    "exact names": exact_names,
    "tfidf names": tfidf_names,
    "fuzzy+coverage": fuzzy_coverage,
    "fuzzy+idf coverage": fuzzy_idf_coverage,
}


GRID: dict[str, list[object]] = {
    "text_weight": [0.3, 0.5, 0.7],
    "occupation_weight": [0.0, 1.0, 2.0, 4.0],
    "occupation_sharpness": [2.3, 4.6],
    "cooccurrence_credit": [0.0, 0.6],
    "use_rarity": [True, False],
}


def select(p: Prepared, grid: dict[str, list[object]], seed: int = 0) -> tuple[dict[str, object], list[int]]:
    """The engine's parameters with the best NDCG@10 on a training half of the needs; the other half."""
    kinds = [n.must_have for n in p.case.needs]
    train, test = train_test_split(list(range(len(kinds))), test_size=0.5, random_state=seed, stratify=kinds)
    best: tuple[float, dict[str, object]] = (-1.0, {})
    for params in ParameterGrid(grid):
        score = evaluate(p, engine(**params)(p), list(train))["all"]["ndcg"]
        print(f"   train NDCG@10 {score:.3f}  {params}", flush=True)
        if score > best[0]:
            best = (score, params)
    return best[1], sorted(test)


def _table(title: str, p: Prepared, methods: dict[str, Method], needs: list[int] | None = None) -> None:
    shown = len(p.case.needs) if needs is None else len(needs)
    print(f"\n== {title}: {len(p.ids)} agents, {shown} needs, {len(p.case.jobs)} occupations")
    print(f"{'method':<24} {'kind':<11} {'NDCG@10':>8} {'P@3':>6} {'inelig.':>8} {'time s':>7}")
    for name, method in methods.items():
        t0 = time.perf_counter()
        ranked = method(p)
        elapsed = time.perf_counter() - t0
        res = evaluate(p, ranked, needs)
        for kind in ("must-haves", "none", "all"):
            r = res[kind]
            t = f"{elapsed:>7.2f}" if kind == "all" else ""
            print(f"{name:<24} {kind:<11} {r['ndcg']:>8.3f} {r['p3']:>6.3f} {int(r['ineligible']):>8} {t}")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: one table per dataset."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--agents", type=int, default=3000)
    ap.add_argument("--select", action="store_true", help="learn the engine's parameters on half of the needs")
    args = ap.parse_args(argv)
    for case in (esco_case(args.seed, agents=args.agents), builtin_case(args.seed)):
        t0 = time.perf_counter()
        p = prepare(case)
        print(f"\n(normalisation of every typed name: {time.perf_counter() - t0:.1f} s)")
        methods: dict[str, Method] = dict(REFERENCES)
        methods["ENGINE"] = engine()
        methods["ENGINE w/o occupations"] = engine(occupation_weight=0.0)
        needs = None
        if args.select:
            params, needs = select(p, GRID, args.seed)
            methods["ENGINE selected"] = engine(**params)
            print(f"   selected on the training half: {params}; the table below is the held-out half")
        methods["IDF cov. true skills"] = true_skills_coverage
        _table(case.name, p, methods, needs)


if __name__ == "__main__":
    main()
