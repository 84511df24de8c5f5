"""An explanation as the pages show it: its three groups and the availability, every label escaped."""

from __future__ import annotations

import pytest

from talents.kernel.french import percent_fr
from talents.web.explanations import explanation_html

pytestmark = pytest.mark.unit


def test_an_explanation_lists_found_below_and_missing_skills_and_the_availability():
    exp = {
        "matched": [{"label": "Python", "agent_level": 4, "required_level": 3},
                    {"label": "SQL", "agent_level": 2, "required_level": 3}],
        "related": [{"label": "Django", "via_label": "Python"}],
        "missing": [{"label": "Kubernetes", "required": True}, {"label": "Go"}],
        "availability": {"eligible": True, "share": 0.6, "min_free": 0.8},
    }
    html = str(explanation_html(exp))
    assert "<strong>Compétences trouvées :</strong> Python (niveau 4 pour 3 demandé), Django par « Python »" in html
    assert "<strong>Sous le niveau demandé :</strong> SQL (niveau 2 pour 3)</li>" in html
    assert "<strong>Manquantes :</strong> Kubernetes (requise), Go</li>" in html
    assert (f"disponible à {percent_fr(0.6)} ou plus sur toute la période "
            f"(au plus juste : {percent_fr(0.8)} libre)") in html
    short = str(explanation_html({"availability": {"eligible": False}}))
    assert "pas assez de temps libre" in short and "Compétences" not in short and "Manquantes" not in short


def test_labels_are_escaped_and_the_same_explanation_is_laid_out_once():
    exp = {"missing": [{"label": "<script>alert(1)</script>"}]}
    first = explanation_html(exp)
    assert "&lt;script&gt;" in first and "<script>" not in first
    assert explanation_html(exp) is first, "kept with the dict itself"
    assert explanation_html(dict(exp)) == first and explanation_html(dict(exp)) is not first, "another dict: laid out"
