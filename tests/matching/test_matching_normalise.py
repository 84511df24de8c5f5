from __future__ import annotations

import pytest

from matching.normalise import SkillNormaliser, fold, strip_accents

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def norm(small_taxonomy) -> SkillNormaliser:
    return SkillNormaliser(small_taxonomy)


def test_accents_case_and_ligatures_fold_one_way():
    assert strip_accents("Œuvre Écrite à Noël, Straße") == "oeuvre ecrite a noel, strasse"
    assert fold("Éco-conception") == strip_accents("eco conception")


def test_fold_removes_accents_case_and_punctuation():
    assert fold("Développement  Front-End !") == "developpement front end"


def test_fold_keeps_cplusplus_apart_from_c():
    assert fold("C++") != fold("C")


@pytest.mark.parametrize(
    ("text", "skill"),
    [
        ("python", "py"),
        ("PYTHON", "py"),
        ("gestión de projet", "pm"),  # accents
        ("projet gestion", "pm"),  # word order
        ("machine-learning", "ml"),  # English label, punctuation
        ("C++", "cpp"),
    ],
)
def test_exact_names_resolve_with_full_or_near_full_confidence(norm, text, skill):
    r = norm.resolve(text)
    assert r.status == "matched" and r.skill_id == skill and r.confidence >= 0.95


@pytest.mark.parametrize(("text", "skill"), [("JS", "js"), ("k8s", "k8s"), ("ML", "ml"), ("postgres", "pg")])
def test_aliases_from_the_taxonomy_resolve(norm, text, skill):
    assert norm.resolve(text).skill_id == skill


def test_an_acronym_of_a_label_resolves(norm):
    r = norm.resolve("RSSI")
    assert r.skill_id == "rssi" and r.status == "matched"


def test_a_generic_abbreviation_is_expanded(norm):
    assert norm.resolve("dev front").skill_id == "front"


@pytest.mark.parametrize(
    ("text", "skill"), [("Pyhton", "py"), ("javascrpit", "js"), ("Machin lerning", "ml")]
)
def test_a_typo_still_resolves_with_lower_confidence(norm, text, skill):
    r = norm.resolve(text)
    assert r.skill_id == skill and r.status == "matched" and r.confidence < 0.97


@pytest.mark.parametrize("text", ["cuisine", "jardinage", "", "   "])
def test_unknown_text_is_pending_not_dropped(norm, text):
    r = norm.resolve(text)
    assert r.status == "pending" and r.skill_id is None and r.text == text
    assert 0.0 <= r.confidence < norm.threshold


def test_resolve_many_agrees_with_resolve(norm):
    texts = ["Pyhton", "cuisine", "JS", "javascrpit", "dev front", "RSSI"]
    batch = norm.resolve_many(texts)
    assert [r.text for r in batch] == texts
    assert [r.skill_id for r in batch] == [norm.resolve(t).skill_id for t in texts]


def test_confidence_is_in_unit_interval(norm):
    for t in ["python", "pyth", "zzz", "JS", "Front end dev"]:
        assert 0.0 <= norm.resolve(t).confidence <= 1.0


def test_suggest_is_prefix_friendly(norm):
    assert norm.suggest("jav")[0].skill_id == "js"
    assert norm.suggest("kub")[0].skill_id == "k8s"
    assert norm.suggest("gest")[0].skill_id == "pm"


def test_suggest_respects_the_limit_and_orders_by_score(norm):
    out = norm.suggest("p", limit=3)
    assert len(out) <= 3
    assert [s.score for s in out] == sorted((s.score for s in out), reverse=True)


def test_large_taxonomies_use_the_trigram_shortlist_and_still_find_typos():
    from matching.taxonomy import Taxonomy
    from matching.types import TaxonomySkill

    objs = ["budgets", "contracts", "networks", "databases", "machinery", "vehicles", "archives", "aircraft"]
    verbs = ["manage", "develop", "analyse", "maintain", "design", "operate", "monitor", "evaluate"]
    skills = [
        TaxonomySkill(f"s{i}-{j}-{k}", f"{v} {o} level {k}", category="x")
        for i, v in enumerate(verbs)
        for j, o in enumerate(objs)
        for k in range(6)
    ]
    norm = SkillNormaliser(Taxonomy(skills))
    assert len(norm.keys_) > 300  # beyond the shortlist size
    assert norm.resolve("mantain archivs level 3").skill_id == "s3-6-3"
    assert norm.suggest("opera")[0].skill_id.startswith("s5-")
