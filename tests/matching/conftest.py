"""Fixtures shared by the matching unit tests: a small hand-made taxonomy."""

from __future__ import annotations

import pytest

from matching.taxonomy import Taxonomy
from matching.types import TaxonomySkill as T


def _small_taxonomy() -> Taxonomy:
    return Taxonomy(
        [
            T("py", "Python", "Python", ("py",), "dev"),
            T("js", "JavaScript", "JavaScript", ("JS", "ECMAScript"), "dev", ("ts",)),
            T("ts", "TypeScript", "TypeScript", ("TS",), "dev"),
            T("k8s", "Kubernetes", "Kubernetes", ("k8s",), "ops"),
            T("front", "Développement front-end", "Front-end development", (), "dev"),
            T("rssi", "Responsable de la sécurité des systèmes d'information", "CISO", (), "secu"),
            T("ml", "Apprentissage automatique", "Machine learning", ("ML",), "data"),
            T("pm", "Gestion de projet", "Project management", (), "pm"),
            T("cpp", "C++", "C++", (), "dev"),
            T("c", "C", "C", (), "dev"),
            T("sql", "SQL", "SQL", (), "data", ("pg",)),
            T("pg", "PostgreSQL", "PostgreSQL", ("postgres",), "data"),
            T("rare", "COBOL", "COBOL", (), "dev"),
            T("a11y", "Accessibilité numérique", "Digital accessibility", ("RGAA",), "ux"),
        ]
    )


@pytest.fixture(scope="session")
def small_taxonomy() -> Taxonomy:
    """Fourteen skills with aliases, categories and one-sided relations (js–ts, sql–pg)."""
    return _small_taxonomy()
