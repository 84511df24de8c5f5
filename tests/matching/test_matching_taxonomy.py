from __future__ import annotations

import pytest

from matching.taxonomy import Taxonomy
from matching.types import TaxonomySkill as T

pytestmark = pytest.mark.unit


def test_relations_are_symmetric_even_when_recorded_on_one_side(small_taxonomy):
    tax = small_taxonomy
    assert "ts" in tax.related("js")
    assert "js" in tax.related("ts")


def test_relations_to_unknown_ids_are_ignored():
    tax = Taxonomy([T("a", "A", related=("ghost",))])
    assert tax.related("a") == ()


def test_container_protocol_and_labels(small_taxonomy):
    tax = small_taxonomy
    assert "py" in tax and "nope" not in tax
    assert len(tax) == len(list(tax))
    assert tax.get("nope") is None
    assert tax.label("front") == "Développement front-end"
    assert tax.label("front", lang="en") == "Front-end development"
    assert tax.label("unknown") == "unknown"


def test_categories_are_distinct_and_sorted(small_taxonomy):
    assert small_taxonomy.categories() == ("data", "dev", "ops", "pm", "secu", "ux")


def test_records_with_newline_separated_aliases_are_accepted():
    tax = Taxonomy.from_records([{"id": "x", "label_fr": "X", "aliases": "x1\nx2", "related": []}])
    assert tax["x"].aliases == ("x1", "x2")
