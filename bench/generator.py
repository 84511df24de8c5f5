"""Generator of realistic matching cases with known answers, for the quality benchmark.

* **Occupations** (developers, data scientists, UX designers, product owners, SRE, security,
  architects, project managers, accessibility experts, buyers…) each hold a set of skills of the
  taxonomy. With the small built-in taxonomy they are written by hand; with any other taxonomy (a JSON
  list of :class:`~matching.types.TaxonomySkill` fields, or ESCO) they are *derived*: a seed skill plus
  its related skills, same-category skills and skills with similar labels. Each occupation has a
  *related* occupation sharing about a third of its skills.
* **Agents** declare only part of their occupation's skills (plus a few stray ones), in their own words:
  French or English labels, aliases, abbreviations, acronyms, typos, other word orders; they write a
  short bio that mentions some skills they did not declare.
* **Needs** ask for a few skills of one occupation in their own words, with a title and a description.
* **Relevance**: an agent of the need's occupation has grade 2, of a related occupation grade 1.

Everything is drawn from one ``numpy`` random generator: a seed gives the same cases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matching.normalise import fold
from matching.taxonomy import Taxonomy
from matching.types import TaxonomySkill

__all__ = [
    "Agent",
    "Case",
    "Need",
    "Occupation",
    "builtin_taxonomy",
    "default_taxonomy_path",
    "generate",
    "load_taxonomy",
]

# id, label_fr, label_en, aliases, category, related
_SKILLS: list[tuple[str, str, str, tuple[str, ...], str, tuple[str, ...]]] = [
    ("python", "Python", "Python", ("py", "python3"), "dev", ("django",)),
    ("java", "Java", "Java", ("jvm",), "dev", ("spring",)),
    ("spring", "Spring Boot", "Spring Boot", ("spring",), "dev", ()),
    ("django", "Django", "Django", (), "dev", ()),
    ("js", "JavaScript", "JavaScript", ("JS", "ECMAScript"), "dev", ("ts", "react", "vue")),
    ("ts", "TypeScript", "TypeScript", ("TS",), "dev", ()),
    ("react", "React", "React", ("ReactJS", "React.js"), "dev", ()),
    ("vue", "Vue.js", "Vue.js", ("VueJS", "vue"), "dev", ()),
    ("html", "HTML et CSS", "HTML and CSS", ("HTML5", "CSS3"), "dev", ("dsfr",)),
    ("dsfr", "Système de design de l'État", "French government design system", ("DSFR",), "ux", ()),
    ("api", "Conception d'API REST", "REST API design", ("API", "REST", "OpenAPI"), "dev", ()),
    ("sql", "SQL", "SQL", ("requêtes SQL",), "data", ("postgres",)),
    ("postgres", "PostgreSQL", "PostgreSQL", ("postgres", "psql"), "data", ()),
    ("tests", "Tests automatisés", "Automated testing", ("TDD", "tests unitaires"), "dev", ()),
    ("git", "Git", "Git", ("GitLab", "GitHub"), "dev", ()),
    ("cicd", "Intégration et déploiement continus", "Continuous integration and delivery", ("CI/CD",), "ops", ()),
    ("docker", "Conteneurs Docker", "Docker containers", ("docker",), "ops", ("k8s",)),
    ("k8s", "Kubernetes", "Kubernetes", ("k8s",), "ops", ()),
    ("linux", "Administration Linux", "Linux administration", ("sysadmin linux",), "ops", ()),
    ("cloud", "Cloud public", "Public cloud", ("AWS", "Azure", "cloud"), "ops", ()),
    ("terraform", "Infrastructure as code", "Infrastructure as code", ("IaC", "Terraform"), "ops", ()),
    (
        "monitoring",
        "Supervision et observabilité",
        "Monitoring and observability",
        ("Prometheus", "Grafana"),
        "ops",
        (),
    ),
    ("network", "Réseaux", "Networking", ("TCP/IP", "réseau"), "ops", ()),
    ("ml", "Apprentissage automatique", "Machine learning", ("ML", "machine learning"), "data", ("dl",)),
    ("dl", "Apprentissage profond", "Deep learning", ("DL", "réseaux de neurones"), "data", ()),
    ("stats", "Statistiques", "Statistics", ("stat",), "data", ()),
    ("pandas", "Pandas", "Pandas", (), "data", ()),
    ("nlp", "Traitement automatique du langage", "Natural language processing", ("NLP", "TAL"), "data", ()),
    ("dataviz", "Visualisation de données", "Data visualisation", ("dataviz",), "data", ()),
    ("etl", "Pipelines de données", "Data pipelines", ("ETL", "ELT"), "data", ("spark",)),
    ("spark", "Apache Spark", "Apache Spark", ("spark", "pyspark"), "data", ()),
    ("dwh", "Entrepôt de données", "Data warehouse", ("DWH", "datawarehouse"), "data", ()),
    ("ux_research", "Recherche utilisateur", "User research", ("UX research", "entretiens utilisateurs"), "ux", ()),
    ("ui", "Conception d'interfaces", "Interface design", ("UI design", "UI"), "ux", ()),
    ("figma", "Figma", "Figma", (), "ux", ()),
    ("proto", "Prototypage", "Prototyping", ("maquettage", "wireframes"), "ux", ()),
    ("usability", "Tests d'utilisabilité", "Usability testing", ("tests utilisateurs",), "ux", ()),
    ("a11y", "Accessibilité numérique", "Digital accessibility", ("a11y", "accessibilité"), "a11y", ("rgaa",)),
    ("rgaa", "Audit RGAA", "RGAA audit", ("RGAA",), "a11y", ()),
    ("wcag", "WCAG", "WCAG", ("WCAG 2.1",), "a11y", ()),
    ("aria", "ARIA", "ARIA", ("WAI-ARIA",), "a11y", ()),
    ("screenreader", "Lecteurs d'écran", "Screen readers", ("NVDA", "JAWS"), "a11y", ()),
    ("po", "Product ownership", "Product ownership", ("PO", "product owner"), "product", ("backlog",)),
    ("backlog", "Gestion du backlog", "Backlog management", ("backlog",), "product", ()),
    ("agile", "Méthodes agiles", "Agile methods", ("agilité", "Scrum"), "product", ()),
    ("okr", "Mesure d'impact", "Impact measurement", ("OKR", "indicateurs d'impact"), "product", ()),
    ("roadmap", "Feuille de route produit", "Product roadmap", ("roadmap",), "product", ()),
    ("pm", "Gestion de projet", "Project management", ("chefferie de projet", "PMP"), "pm", ()),
    ("planning", "Planification", "Planning", ("rétroplanning",), "pm", ()),
    ("budget", "Suivi budgétaire", "Budget monitoring", ("budget",), "pm", ()),
    ("risk", "Gestion des risques", "Risk management", ("risques",), "pm", ()),
    ("change", "Conduite du changement", "Change management", ("accompagnement au changement",), "pm", ()),
    ("secops", "Sécurité opérationnelle", "Security operations", ("SOC", "SecOps"), "security", ()),
    ("iso27001", "ISO 27001", "ISO 27001", ("ISO27001", "SMSI"), "security", ()),
    ("ebios", "Analyse de risques EBIOS", "EBIOS risk analysis", ("EBIOS RM",), "security", ()),
    ("pentest", "Tests d'intrusion", "Penetration testing", ("pentest",), "security", ()),
    ("iam", "Gestion des identités", "Identity and access management", ("IAM", "SSO"), "security", ()),
    (
        "rssi",
        "Pilotage de la sécurité des systèmes d'information",
        "Information security management",
        ("RSSI", "CISO"),
        "security",
        ("iso27001",),
    ),
    ("archi", "Architecture logicielle", "Software architecture", ("archi logicielle",), "archi", ()),
    ("urbanisation", "Urbanisation des SI", "Enterprise architecture", ("TOGAF", "urbanisme SI"), "archi", ()),
    ("microservices", "Microservices", "Microservices", ("micro-services",), "archi", ()),
    ("procurement", "Achat public", "Public procurement", ("marchés publics", "commande publique"), "buy", ()),
    ("sourcing", "Sourcing fournisseurs", "Supplier sourcing", ("sourcing",), "buy", ()),
    (
        "contracts",
        "Rédaction de cahiers des charges",
        "Writing specifications",
        ("CCTP", "cahier des charges"),
        "buy",
        (),
    ),
    ("negotiation", "Négociation", "Negotiation", (), "buy", ()),
    ("licences", "Gestion des licences logicielles", "Software licence management", ("licences",), "buy", ()),
]

# title, skill ids, related occupation titles
_OCCUPATIONS: list[tuple[str, tuple[str, ...]]] = [
    (
        "Développeur back-end",
        ("python", "java", "spring", "django", "api", "sql", "postgres", "tests", "git", "docker", "cicd"),
    ),
    ("Développeur front-end", ("js", "ts", "react", "vue", "html", "dsfr", "tests", "git", "api", "a11y")),
    ("Data scientist", ("python", "ml", "dl", "stats", "pandas", "nlp", "dataviz", "sql", "git")),
    ("Data engineer", ("python", "sql", "etl", "spark", "dwh", "postgres", "docker", "cloud", "pandas")),
    ("Designer UX", ("ux_research", "ui", "figma", "proto", "usability", "dsfr", "a11y", "html")),
    ("Product owner", ("po", "backlog", "agile", "okr", "roadmap", "ux_research", "planning")),
    ("SRE / ops", ("linux", "docker", "k8s", "cloud", "terraform", "monitoring", "cicd", "network", "git")),
    ("Expert sécurité", ("secops", "iso27001", "ebios", "pentest", "iam", "rssi", "network", "linux", "risk")),
    ("Architecte", ("archi", "urbanisation", "microservices", "api", "cloud", "k8s", "iam", "java")),
    ("Chef de projet", ("pm", "planning", "budget", "risk", "change", "agile", "contracts")),
    ("Expert accessibilité", ("a11y", "rgaa", "wcag", "aria", "screenreader", "html", "usability", "dsfr")),
    ("Acheteur numérique", ("procurement", "sourcing", "contracts", "negotiation", "licences", "budget", "risk")),
]
_RELATED_OCCUPATIONS = [
    ("Développeur back-end", "Développeur front-end"),
    ("Développeur back-end", "Architecte"),
    ("Data scientist", "Data engineer"),
    ("SRE / ops", "Architecte"),
    ("SRE / ops", "Expert sécurité"),
    ("Designer UX", "Expert accessibilité"),
    ("Designer UX", "Product owner"),
    ("Product owner", "Chef de projet"),
    ("Chef de projet", "Acheteur numérique"),
    ("Développeur front-end", "Expert accessibilité"),
]


def builtin_taxonomy() -> Taxonomy:
    """The small built-in taxonomy (65 skills, 10 categories) the hand-written occupations use."""
    return Taxonomy(TaxonomySkill(i, fr, en, al, cat, rel) for i, fr, en, al, cat, rel in _SKILLS)


def default_taxonomy_path() -> Path | None:
    """``profiles/data/default_taxonomy.json`` of the project when present."""
    path = Path(__file__).resolve().parent.parent / "profiles" / "data" / "default_taxonomy.json"
    return path if path.exists() else None


def load_taxonomy(path: str | Path) -> Taxonomy:
    """A taxonomy from a JSON list of objects with the fields of :class:`TaxonomySkill`."""
    return Taxonomy.from_records(json.loads(Path(path).read_text(encoding="utf-8")))


@dataclass(frozen=True, slots=True)
class Occupation:
    """A job family: a title and its skills; ``related`` lists related occupation indices."""

    title: str
    skills: tuple[str, ...]
    related: tuple[int, ...] = ()


@dataclass(slots=True)
class Agent:
    """A synthetic agent: typed skill names with levels, a bio, and its (hidden) occupation."""

    agent_id: str
    occupation: int
    skills: list[tuple[str, int]]  # (typed name, level)
    true_skills: list[str]
    bio: str


@dataclass(slots=True)
class Need:
    """A synthetic need: typed skill names with levels and weights, a title and a description."""

    need_id: str
    occupation: int
    title: str
    description: str
    skills: list[tuple[str, int, float]]  # (typed name, level, weight)
    true_skills: list[str]


@dataclass(slots=True)
class Case:
    """A whole benchmark case: taxonomy, occupations, agents and needs."""

    taxonomy: Taxonomy
    occupations: list[Occupation]
    agents: list[Agent]
    needs: list[Need]
    notes: dict[str, object] = field(default_factory=dict)

    def relevance(self, need: Need, agent: Agent) -> int:
        """2 same occupation, 1 related occupation, 0 otherwise."""
        if agent.occupation == need.occupation:
            return 2
        if agent.occupation in self.occupations[need.occupation].related:
            return 1
        return 0


# ---------------------------------------------------------------------- occupations
def builtin_occupations(tax: Taxonomy) -> list[Occupation]:
    titles = [t for t, _ in _OCCUPATIONS]
    rel: dict[int, set[int]] = {i: set() for i in range(len(titles))}
    for a, b in _RELATED_OCCUPATIONS:
        rel[titles.index(a)].add(titles.index(b))
        rel[titles.index(b)].add(titles.index(a))
    return [
        Occupation(t, tuple(s for s in sk if s in tax), tuple(sorted(rel[i]))) for i, (t, sk) in enumerate(_OCCUPATIONS)
    ]


def _words(text: str) -> set[str]:
    return {w for w in fold(text).split() if len(w) > 2}


def _derived_occupations(tax: Taxonomy, rng: np.random.Generator, families: int, size: int) -> list[Occupation]:
    """Occupations for any taxonomy: a seed skill grown through relations, category and label words.

    Each family is a parent occupation and a child sharing about a third of its skills (related).
    """
    skills = [s for s in tax if s.label_fr or s.label_en]
    ids = [s.id for s in skills]
    by_cat: dict[str, list[str]] = {}
    for s in skills:
        by_cat.setdefault(s.category, []).append(s.id)
    words = {s.id: _words(f"{s.label_fr} {s.label_en}") for s in skills}
    by_word: dict[str, list[str]] = {}
    for sid, ws in words.items():
        for w in ws:
            by_word.setdefault(w, []).append(sid)

    def neighbourhood(seed: str, exclude: set[str], want: int) -> list[str]:
        out: list[str] = [seed]
        frontier = [seed]
        for _ in range(3):  # relations, up to three hops
            nxt = []
            for s in frontier:
                for r in tax.related(s):
                    if r not in out and r not in exclude:
                        out.append(r)
                        nxt.append(r)
            frontier = nxt
        if len(out) < want:  # skills sharing label words with the seed or its neighbours
            pool: dict[str, int] = {}
            for s in out:
                for w in words.get(s, ()):
                    if len(by_word.get(w, ())) <= 200:  # skip words that are everywhere
                        for o in by_word[w]:
                            if o not in out and o not in exclude:
                                pool[o] = pool.get(o, 0) + 1
            ranked = sorted(pool, key=lambda o: (-pool[o], o))
            out.extend(ranked[: want - len(out)])
        if len(out) < want:  # then the seed's category
            cat = [c for c in by_cat.get(tax[seed].category, []) if c not in out and c not in exclude]
            rng.shuffle(cat)
            out.extend(cat[: want - len(out)])
        if len(out) > want:
            rest = out[1:]
            keep = rng.choice(len(rest), size=want - 1, replace=False)
            out = [seed] + [rest[i] for i in sorted(keep)]
        return out

    occupations: list[Occupation] = []
    used: set[str] = set()
    tries = 0
    while len(occupations) < 2 * families and tries < 50 * families:
        tries += 1
        seed = ids[int(rng.integers(len(ids)))]
        if seed in used:
            continue
        parent = neighbourhood(seed, used, size)
        if len(parent) < max(6, size // 2):
            continue
        keep = [parent[i] for i in sorted(rng.choice(len(parent), size=max(2, size // 3), replace=False))]
        seeds2 = [s for s in parent if s not in keep]
        child_seed = seeds2[int(rng.integers(len(seeds2)))] if seeds2 else parent[-1]
        grown = neighbourhood(child_seed, used | set(parent), size - len(keep))
        child = keep + [s for s in grown if s not in keep]
        if len(child) < max(6, size // 2):
            continue
        used |= set(parent) | set(child)
        i = len(occupations)
        occupations.append(Occupation(f"Spécialiste {tax.label(seed)}", tuple(parent), (i + 1,)))
        occupations.append(Occupation(f"Expert {tax.label(child_seed)}", tuple(child), (i,)))
    return occupations


# ---------------------------------------------------------------------- own words
_VOWELS = "aeiou"


def _typo(text: str, rng: np.random.Generator) -> str:
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) >= 5]
    if not long:
        return text
    i = long[int(rng.integers(len(long)))]
    w = words[i]
    j = int(rng.integers(1, len(w) - 1))
    kind = int(rng.integers(3))
    if kind == 0:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]  # swap
    elif kind == 1:
        w = w[:j] + w[j + 1 :]  # drop
    else:
        w = w[:j] + w[j] + w[j:]  # double
    words[i] = w
    return " ".join(words)


def _strip(text: str) -> str:
    return re.sub(r"\s+", " ", fold(text))


def surface(skill: TaxonomySkill, rng: np.random.Generator) -> str:
    """How a person may write a skill: a label in either language, an alias, an acronym, a typo,
    another word order or case, or a shortened first word."""
    labels = [x for x in (skill.label_fr, skill.label_en) if x]
    r = rng.random()
    if r < 0.25 or (r < 0.55 and not skill.aliases):
        base = labels[0]
    elif r < 0.45:
        base = labels[-1]
    elif r < 0.6 and skill.aliases:
        return skill.aliases[int(rng.integers(len(skill.aliases)))]
    else:
        base = labels[int(rng.integers(len(labels)))]
    r = rng.random()
    if r < 0.25:
        return _typo(base, rng)
    if r < 0.35:
        return _strip(base).upper() if len(base) < 8 else _strip(base)
    if r < 0.45 and len(base.split()) >= 2:
        ws = base.split()
        return " ".join(ws[1:] + ws[:1]).lower()
    if r < 0.5 and len(base.split()) >= 2 and len(base.split()[0]) > 6:
        ws = base.split()
        return " ".join([ws[0][:4].lower(), *ws[1:]])
    return base


_BIO_FR = [
    "J'ai travaillé sur {a} et {b}.",
    "Expérience en {a}, {b} et {c}.",
    "Mission récente : {a} ; intérêt pour {b}.",
]
_BIO_EN = ["Worked on {a} and {b}.", "Experience with {a}, {b} and {c}.", "Recent project: {a}; keen on {b}."]
_DESC = [
    "Nous cherchons une personne à l'aise avec {a} et {b}.",
    "Mission : {a}, avec un peu de {b}.",
    "Looking for someone with {a} and {b}.",
    "Projet critique : {a}.",
]


def generate(
    taxonomy: Taxonomy | None = None,
    *,
    seed: int = 0,
    agents_per_occupation: int = 30,
    needs_per_occupation: int = 8,
    stray_agents: int = 120,
    families: int = 8,
    occupation_size: int = 12,
) -> Case:
    """Generate a case. Without ``taxonomy``: the built-in one with hand-written occupations."""
    rng = np.random.default_rng(seed)
    if taxonomy is None:
        taxonomy = builtin_taxonomy()
        occupations = builtin_occupations(taxonomy)
    else:
        occupations = _derived_occupations(taxonomy, rng, families, occupation_size)
    all_ids = list(taxonomy.ids())
    agents: list[Agent] = []
    for o, occ in enumerate(occupations):
        sk = list(occ.skills)
        for _ in range(agents_per_occupation):
            k = int(rng.integers(max(2, int(0.35 * len(sk))), max(3, int(0.7 * len(sk))) + 1))
            declared = [sk[i] for i in rng.choice(len(sk), size=min(k, len(sk)), replace=False)]
            for _ in range(int(rng.integers(0, 3))):  # stray skills from anywhere
                declared.append(all_ids[int(rng.integers(len(all_ids)))])
            if occ.related and rng.random() < 0.5:  # a skill of a related occupation
                rel = occupations[occ.related[int(rng.integers(len(occ.related)))]]
                declared.append(rel.skills[int(rng.integers(len(rel.skills)))])
            declared = list(dict.fromkeys(declared))
            agents.append(_agent(f"a{len(agents)}", o, declared, sk, taxonomy, rng))
    for _ in range(stray_agents):  # agents of no occupation of the case
        declared = list(
            dict.fromkeys(all_ids[int(i)] for i in rng.integers(len(all_ids), size=int(rng.integers(3, 8))))
        )
        agents.append(_agent(f"a{len(agents)}", -1, declared, declared[:1], taxonomy, rng))
    needs: list[Need] = []
    for o, occ in enumerate(occupations):
        sk = list(occ.skills)
        for _ in range(needs_per_occupation):
            k = int(rng.integers(3, 6))
            asked = [sk[i] for i in rng.choice(len(sk), size=min(k, len(sk)), replace=False)]
            others = [s for s in sk if s not in asked] or sk
            extra = [taxonomy[others[int(i)]] for i in rng.integers(len(others), size=2)]
            desc = _DESC[int(rng.integers(len(_DESC)))].format(a=surface(extra[0], rng), b=surface(extra[1], rng))
            title = occ.title if rng.random() < 0.5 else f"Renfort {surface(taxonomy[asked[0]], rng)}"
            needs.append(
                Need(
                    f"n{len(needs)}",
                    o,
                    title,
                    desc,
                    [
                        (surface(taxonomy[s], rng), int(rng.integers(2, 5)), float(rng.choice([1.0, 1.0, 2.0])))
                        for s in asked
                    ],
                    asked,
                )
            )
    # Ids carry no hint of the occupation (ties broken by id must not favour one occupation).
    order = rng.permutation(len(agents))
    agents = [agents[i] for i in order]
    for new_id, agent in enumerate(agents):
        agent.agent_id = f"a{new_id:05d}"
    return Case(taxonomy, occupations, agents, needs)


def _agent(
    agent_id: str,
    occupation: int,
    declared: Sequence[str],
    pool: Sequence[str],
    tax: Taxonomy,
    rng: np.random.Generator,
) -> Agent:
    # People are better at their job's skills (levels 3–5) than at stray ones (1–3).
    skills = [
        (surface(tax[s], rng), int(rng.integers(3, 6)) if s in pool else int(rng.integers(1, 4))) for s in declared
    ]
    undeclared = [s for s in pool if s not in declared] or list(declared)
    picks = [tax[undeclared[int(i)]] for i in rng.integers(len(undeclared), size=2)] + [tax[declared[0]]]
    templates = _BIO_FR if rng.random() < 0.6 else _BIO_EN
    bio = templates[int(rng.integers(len(templates)))].format(
        a=surface(picks[0], rng), b=surface(picks[1], rng), c=surface(picks[2], rng)
    )
    return Agent(agent_id, occupation, skills, list(declared), bio)
