"""Demo data: agents of several ministries and the projects of the TECH.GOUV 2020–2021 programme.

Deterministic for a given seed, so a demo shows the same people every time.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from sqlmodel import func, select

from needs.models import Need, NeedCreate, ProjectCreate
from needs.service import NeedService, ProjectService
from profiles.importer import AgentImporter
from profiles.models import Agent
from profiles.taxonomy import SkillResolver
from talents.kernel.db import get_engine, session_scope

__all__ = ["MINISTRIES", "OCCUPATIONS", "PROJECTS", "seed_demo"]

MINISTRIES = (
    "DINUM",
    "Ministère de l'Intérieur",
    "Ministère des Armées",
    "Ministère de l'Économie et des Finances",
    "Ministère de la Transition écologique",
    "Ministère des Solidarités et de la Santé",
    "Ministère de l'Éducation nationale",
    "Ministère de la Justice",
    "Ministère de l'Agriculture et de l'Alimentation",
    "Ministère du Travail",
    "Ministère de la Culture",
    "Services du Premier ministre",
)
DOMAINS = dict(
    zip(
        MINISTRIES,
        (
            "numerique.gouv.fr",
            "interieur.gouv.fr",
            "intradef.gouv.fr",
            "finances.gouv.fr",
            "developpement-durable.gouv.fr",
            "sante.gouv.fr",
            "education.gouv.fr",
            "justice.gouv.fr",
            "agriculture.gouv.fr",
            "travail.gouv.fr",
            "culture.gouv.fr",
            "pm.gouv.fr",
        ),
        strict=True,
    )
)
CITIES = (
    "Paris",
    "Lyon",
    "Marseille",
    "Toulouse",
    "Lille",
    "Bordeaux",
    "Nantes",
    "Rennes",
    "Strasbourg",
    "Montpellier",
    "Metz",
    "Orléans",
    "Rouen",
    "Dijon",
    "Clermont-Ferrand",
)
GRADES = (
    "Attaché·e d'administration",
    "Ingénieur·e des systèmes d'information",
    "Technicien·ne SIC",
    "Ingénieur·e des mines",
    "Administrateur·rice de l'État",
    "Contractuel·le catégorie A",
    "Ingénieur·e d'études",
    "Inspecteur·rice des finances publiques",
)
FIRST = (
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Inès",
    "Sarah",
    "Julie",
    "Emma",
    "Lucie",
    "Claire",
    "Nadia",
    "Amina",
    "Sophie",
    "Aurélie",
    "Hélène",
    "Thomas",
    "Nicolas",
    "Julien",
    "Maxime",
    "Antoine",
    "Karim",
    "Mehdi",
    "Hugo",
    "Louis",
    "Paul",
    "Romain",
    "Pierre",
    "Yann",
    "Olivier",
    "Samuel",
    "Théo",
    "Bastien",
)
LAST = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Benali",
    "Nguyen",
    "Haddad",
    "Le Gall",
    "Kerbrat",
    "Rousseau",
    "Blanc",
    "Guerin",
    "Muller",
    "Henry",
    "Roussel",
)

# Occupations: the skills people of each trade declare (core first), by taxonomy id.
OCCUPATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Développeur·se back-end": (
        ("python", "django", "postgresql", "api-rest", "git"),
        ("fastapi", "docker", "tests-automatises", "java", "spring", "nodejs", "ci-cd"),
    ),
    "Développeur·se front-end": (
        ("javascript", "typescript", "react", "html-css", "dsfr"),
        ("vuejs", "angular", "rgaa", "figma", "tests-end-to-end", "design-system"),
    ),
    "Développeur·se full-stack": (
        ("developpement-full-stack", "python", "javascript", "postgresql"),
        ("react", "django", "docker", "vuejs", "nodejs", "symfony", "php"),
    ),
    "Data scientist": (
        ("data-science", "python", "machine-learning", "pandas", "statistiques"),
        ("nlp", "deep-learning", "scikit-learn", "jupyter", "langage-r", "ia-generative"),
    ),
    "Data engineer": (
        ("data-engineering", "python", "sql", "airflow", "etl"),
        ("dbt", "spark", "postgresql", "entrepot-de-donnees", "kafka", "docker"),
    ),
    "Analyste de données": (
        ("analyse-de-donnees", "sql", "data-visualisation", "business-intelligence"),
        ("metabase", "power-bi", "excel-avance", "tableaux-de-bord-pilotage", "python"),
    ),
    "Designer UX/UI": (
        ("ux-design", "ui-design", "figma", "dsfr", "prototypage"),
        ("ux-research", "tests-utilisateurs", "design-system", "accessibilite-numerique"),
    ),
    "Chercheur·se UX": (
        ("ux-research", "entretiens-utilisateurs", "tests-utilisateurs", "parcours-usager"),
        ("personas", "design-de-service", "analyse-qualitative", "enquetes-questionnaires"),
    ),
    "Product owner": (
        ("product-owner", "agilite", "scrum", "gestion-du-backlog", "user-stories"),
        ("product-management", "startup-d-etat", "roadmap-produit", "indicateurs-d-impact"),
    ),
    "Coach agile": (
        ("coaching-agile", "agilite", "scrum", "kanban", "facilitation"),
        ("safe", "lean", "conduite-du-changement", "scrum-master"),
    ),
    "Ingénieur·e DevOps / SRE": (
        ("devops", "kubernetes", "docker", "ci-cd", "linux"),
        ("terraform", "ansible", "prometheus", "gitlab-ci", "sre", "cloud-interne-etat"),
    ),
    "Administrateur·rice systèmes": (
        ("administration-systeme", "linux", "virtualisation", "supervision"),
        ("windows-server", "active-directory", "sauvegarde", "reseaux", "ansible"),
    ),
    "Expert·e cybersécurité": (
        ("cybersecurite", "analyse-de-risques", "ebios-rm", "homologation-securite"),
        ("pentest", "iso-27001", "soc", "rssi", "gestion-des-vulnerabilites", "pki"),
    ),
    "Architecte SI": (
        ("urbanisation-si", "architecture-d-entreprise", "architecture-technique", "api-conception"),
        ("microservices", "togaf", "architecture-cloud", "interoperabilite", "architecture-de-donnees"),
    ),
    "Ingénieur·e poste de travail": (("poste-de-travail", "architecture-technique", "messagerie", "active-directory"),
                                     ("windows-server", "tchap", "virtualisation", "support-utilisateur")),
    "Expert·e numérique responsable": (("numerique-responsable", "eco-conception", "performance"),
                                       ("developpement-front-end", "mesure-d-audience", "finops")),
    "Chef·fe de projet numérique": (
        ("gestion-de-projet", "amoa", "planification", "conduite-du-changement"),
        ("pmo", "prince2", "expression-de-besoin", "recette", "gouvernance-de-projet"),
    ),
    "Expert·e accessibilité": (
        ("accessibilite-numerique", "rgaa", "audit-accessibilite", "wcag"),
        ("lecteurs-d-ecran", "aria", "developpement-accessible", "declaration-accessibilite"),
    ),
    "Acheteur·se public numérique": (
        ("marches-publics", "achat-informatique", "redaction-cctp", "sourcing"),
        ("ugap", "ccag-tic", "analyse-des-offres", "accords-cadres", "negociation"),
    ),
}

# The 2020–2021 TECH.GOUV projects short of FTE (ETP): needed, by DINUM, by the ministries.
PROJECTS: tuple[dict[str, Any], ...] = (
    {
        "external_id": "techgouv-poste-de-travail",
        "name": "Poste de travail du futur",
        "ministry": "DINUM",
        "fte_needed": 4,
        "description": "Transformation numérique de l'environnement de travail de l'agent public : des terminaux "
        "aux outils collaboratifs, mobilité, accès large aux applications, AVEC (BYOD).",
        "pledges": [
            {"ministry": "DINUM", "fte": 2},
            {"ministry": "Ministère de l'Intérieur", "fte": 1},
            {"ministry": "Ministère des Armées", "fte": 1},
        ],
    },
    {
        "external_id": "techgouv-pilotage-donnee",
        "name": "Pilotage par la donnée",
        "ministry": "DINUM",
        "fte_needed": 6,
        "description": "Aider les administrations à s'outiller, sur le plan technique, juridique et managérial, pour "
        "piloter les politiques publiques par la donnée : data sciences, data visualisation, "
        "traitement du langage naturel, mesure d'impact.",
        "pledges": [
            {"ministry": "DINUM", "fte": 2},
            {"ministry": "Ministère de l'Économie et des Finances", "fte": 2},
            {"ministry": "Ministère des Solidarités et de la Santé", "fte": 1},
            {"ministry": "Ministère de la Transition écologique", "fte": 1},
        ],
    },
    {
        "external_id": "techgouv-brigade",
        "name": "Brigade d'intervention numérique",
        "ministry": "DINUM",
        "fte_needed": 6,
        "description": "Une équipe noyau à la DINUM qui anime un réseau de brigades ministérielles agiles et "
        "constitue des équipes flash capables de mettre en œuvre des projets critiques en très peu "
        "de temps, en appui des DNUM ministérielles.",
        "pledges": [
            {"ministry": "DINUM", "fte": 2},
            {"ministry": "Ministère de l'Intérieur", "fte": 1},
            {"ministry": "Ministère de la Justice", "fte": 1},
            {"ministry": "Ministère de l'Éducation nationale", "fte": 1},
            {"ministry": "Ministère du Travail", "fte": 1},
        ],
    },
    {
        "external_id": "techgouv-numerique-responsable",
        "name": "Numérique responsable (GreenTech)",
        "ministry": "Ministère de la Transition écologique",
        "fte_needed": 2,
        "description": "Cadrage et déploiement de la stratégie GreenTech et de la feuille de route "
        "interministérielle sur le numérique responsable.",
        "pledges": [{"ministry": "Ministère de la Transition écologique", "fte": 1}, {"ministry": "DINUM", "fte": 1}],
    },
)


def _role(
    title: str, count: int, share: float, skills: list[tuple[str, int, float, bool]], description: str = ""
) -> dict[str, Any]:
    return {
        "title": title,
        "count": count,
        "share": share,
        "description": description,
        "skills": [{"name": n, "level": lv, "weight": w, "required": r} for n, lv, w, r in skills],
    }


def _needs(today: date) -> list[dict[str, Any]]:
    soon = today + timedelta(days=14)
    return [
        {
            "external_id": "brigade-teleservice-crise",
            "project": "techgouv-brigade",
            "priority": 1,
            "title": "Équipe flash — téléservice de crise pour les aides d'urgence",
            "description": "Concevoir et mettre en ligne en six semaines un téléservice accessible de demande "
            "d'aide d'urgence, relié à FranceConnect et aux API de l'État.",
            "ministry": "DINUM",
            "start": soon,
            "end": soon + timedelta(days=90),
            "roles": [
                _role(
                    "Développeur·se back-end Python",
                    2,
                    0.8,
                    [
                        ("Python", 4, 2, True),
                        ("Django", 3, 1.5, True),
                        ("PostgreSQL", 3, 1, False),
                        ("API REST", 3, 1, False),
                    ],
                    "API et back-office du téléservice",
                ),
                _role(
                    "Développeur·se front-end",
                    1,
                    0.8,
                    [("React", 3, 1.5, True), ("DSFR", 3, 1, True), ("RGAA", 3, 1, False)],
                ),
                _role(
                    "Product owner",
                    1,
                    0.6,
                    [("Product owner", 4, 2, True), ("Scrum", 3, 1, False), ("Startup d'État", 2, 1, False)],
                ),
                _role(
                    "Ingénieur·e DevOps",
                    1,
                    0.6,
                    [("Kubernetes", 3, 1.5, True), ("CI/CD", 3, 1, False), ("Terraform", 2, 1, False)],
                ),
            ],
        },
        {
            "external_id": "data-aides-tpe",
            "project": "techgouv-pilotage-donnee",
            "priority": 2,
            "title": "Tableaux de bord de pilotage des aides aux TPE/PME",
            "description": "Collecter, consolider et visualiser les données des mesures de soutien aux entreprises "
            "pour éclairer la décision ; détection d'anomalies et traitement de texte libre.",
            "ministry": "Ministère de l'Économie et des Finances",
            "start": soon + timedelta(days=14),
            "end": soon + timedelta(days=180),
            "roles": [
                _role(
                    "Data engineer",
                    1,
                    0.8,
                    [("Python", 3, 1, True), ("SQL", 4, 1.5, True), ("Airflow", 3, 1, False), ("dbt", 2, 1, False)],
                ),
                _role(
                    "Data scientist",
                    1,
                    0.6,
                    [("Machine learning", 3, 1.5, True), ("NLP", 3, 1, False), ("Python", 3, 1, True)],
                ),
                _role(
                    "Analyste data visualisation",
                    1,
                    0.6,
                    [("Data visualisation", 3, 1.5, True), ("Metabase", 2, 1, False), ("SQL", 3, 1, False)],
                ),
            ],
        },
        {
            "external_id": "poste-travail-etude",
            "project": "techgouv-poste-de-travail",
            "priority": 3,
            "title": "Étude de la position de travail numérique de l'agent",
            "description": "Réflexion large sur la position de travail : terminaux, outils collaboratifs (Tchap, "
            "webconférence), mobilité, usage des équipements personnels.",
            "ministry": "DINUM",
            "start": soon + timedelta(days=30),
            "end": soon + timedelta(days=210),
            "roles": [
                _role(
                    "Architecte poste de travail",
                    1,
                    0.6,
                    [
                        ("Architecture technique", 4, 1.5, True),
                        ("Poste de travail", 3, 1.5, True),
                        ("Cloud interne de l'État", 2, 1, False),
                    ],
                ),
                _role(
                    "Chercheur·se UX", 1, 0.6, [("UX research", 3, 1.5, True), ("Entretiens utilisateurs", 3, 1, False)]
                ),
                _role(
                    "Chef·fe de projet",
                    1,
                    0.8,
                    [("Gestion de projet", 4, 1.5, True), ("Conduite du changement", 3, 1, False)],
                ),
            ],
        },
        {
            "external_id": "green-mesure-empreinte",
            "project": "techgouv-numerique-responsable",
            "priority": 4,
            "title": "Mesure de l'empreinte environnementale des services numériques",
            "description": "Outiller la mesure de l'empreinte des services publics numériques et accompagner "
            "l'éco-conception.",
            "ministry": "Ministère de la Transition écologique",
            "start": soon + timedelta(days=45),
            "end": soon + timedelta(days=200),
            "roles": [
                _role(
                    "Expert·e éco-conception",
                    1,
                    0.6,
                    [("Éco-conception", 3, 1.5, True), ("Numérique responsable", 3, 1, False)],
                )
            ],
        },
        {
            "external_id": "brigade-accessibilite",
            "project": "techgouv-brigade",
            "priority": 2,
            "title": "Équipe flash — mise en conformité RGAA des démarches les plus utilisées",
            "description": "Auditer et corriger l'accessibilité des dix démarches en ligne les plus utilisées.",
            "ministry": "Services du Premier ministre",
            "start": soon,
            "end": soon + timedelta(days=75),
            "roles": [
                _role(
                    "Auditeur·rice accessibilité", 2, 0.6, [("RGAA", 4, 2, True), ("Audit accessibilité", 3, 1, True)]
                ),
                _role(
                    "Développeur·se front-end accessible",
                    1,
                    0.8,
                    [("JavaScript", 3, 1, True), ("ARIA", 3, 1, False), ("RGAA", 3, 1, True)],
                ),
            ],
        },
    ]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "-")


def _agents(count: int, rng: random.Random, today: date) -> Iterator[tuple[int, dict[str, Any], None]]:
    occupations = list(OCCUPATIONS.items())
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        ministry = rng.choices(MINISTRIES, weights=(3, 3, 2, 3, 2, 2, 2, 1, 1, 1, 1, 1))[0]
        occupation, (core, extra) = rng.choice(occupations)
        skills = [
            {
                "name": s,
                "level": rng.choices((2, 3, 4, 5), weights=(2, 4, 3, 1))[0],
                "years": rng.randint(1, 15),
                "interest": rng.randint(2, 5),
                "last_used": (today - timedelta(days=rng.choice((10, 60, 200, 500, 1200)))).isoformat(),
            }
            for s in rng.sample(core, k=max(2, len(core) - rng.randint(0, 2)))
        ]
        skills += [{"name": s, "level": rng.randint(1, 4)} for s in rng.sample(extra, k=rng.randint(0, 3))]
        availability = []
        if rng.random() < 0.8:
            start = today + timedelta(days=rng.randint(-60, 45))
            share = rng.choices((0.4, 0.6, 0.7, 0.8, 1.0), weights=(1, 3, 2, 4, 2))[0]
            length = rng.choice((120, 180, 270, 365, 365))
            availability.append(
                {"start": start.isoformat(), "end": (start + timedelta(days=length)).isoformat(), "share": share}
            )
        ext = f"agent-{i + 1:06d}"
        yield (
            i + 1,
            {
                "external_id": ext,
                "name": f"{first} {last}",
                "email": f"{_ascii(first)}.{_ascii(last)}.{i + 1}@{DOMAINS[ministry]}",
                "ministry": ministry,
                "service": "DNUM" if ministry != "DINUM" else "Pôle Talents",
                "grade": rng.choice(GRADES),
                "location": rng.choice(CITIES),
                "remote": rng.random() < 0.7,
                "languages": ["fr", "en"] if rng.random() < 0.6 else ["fr"],
                "manager_email": f"manager.{rng.randint(1, 60)}@{DOMAINS[ministry]}",
                "bio": f"{occupation} au {ministry}.",
                "skills": skills,
                "availability": availability,
            },
            None,
        )


def seed_demo(
    agents: int = 3000,
    seed: int = 2020,
    *,
    if_empty: bool = False,
    progress: Callable[[int], None] | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Seed agents, the TECH.GOUV projects with their pledges, and flash-team needs. Idempotent (upserts)."""
    today = today or date.today()
    with session_scope() as session:
        if if_empty and session.exec(select(func.count()).select_from(Agent)).one():
            return {"skipped": "the database already holds agents"}
    rng = random.Random(seed)
    report = AgentImporter(get_engine()).run(_agents(agents, rng, today), progress)
    projects = needs = 0
    with session_scope() as session:
        project_service = ProjectService(session)
        for p in PROJECTS:
            if project_service.get_by_external_id(p["external_id"]) is None:
                project_service.create(ProjectCreate.model_validate(p))
                projects += 1
        need_service = NeedService(session, SkillResolver(session))
        for n in _needs(today):
            if session.exec(select(Need).where(Need.external_id == n["external_id"])).first() is None:
                need_service.create(NeedCreate.model_validate(n))
                needs += 1
    return {"agents": report.imported, "rejected": len(report.errors), "projects": projects, "needs": needs}
