"""Deciding how an imported taxonomy meets the one in place (pure, no database)."""

import pytest

from matching.types import TaxonomySkill as S
from profiles.taxonomy_merge import merged_fields, plan_reconciliation

pytestmark = pytest.mark.unit

URI = "http://data.europa.eu/esco/skill/"
IN_PLACE = [
    S("python", "Python", "Python", ("py", "python3")),
    S("git", "Git", "Git", ("gestion de versions", "svn")),
    S("securite", "Sécurité informatique", "IT security", ("cybersécurité",)),
    S("cyber", "Cyberdéfense", "Cyber defence", ("sécurité offensive",)),
    S("devops", "DevOps", "DevOps", ()),
]


def decide(*incoming):
    return {d.skill.id: d for d in plan_reconciliation(IN_PLACE, list(incoming))}


def test_an_imported_skill_named_like_one_in_place_merges_into_it_by_label_then_by_alias():
    got = decide(
        S("esco:1", "", "DEVOPS", source=URI + "1"),
        S("esco:2", "", "Python (computer programming)", ("Python", "Py3K"), source=URI + "2"),
        S("esco:3", "Gestion de versions", "version control", (), source=URI + "3"),
    )
    assert (got["esco:1"].action, got["esco:1"].target, got["esco:1"].how) == ("merge", "devops", "label")
    assert (got["esco:2"].action, got["esco:2"].target, got["esco:2"].how) == ("merge", "python", "alias")
    assert (got["esco:3"].action, got["esco:3"].target) == ("merge", "git")


def test_a_name_that_points_to_several_skills_or_only_shares_an_alias_is_left_ambiguous():
    got = decide(
        S("esco:4", "", "security", ("IT security", "Cyber defence"), source=URI + "4"),
        S("esco:5", "", "Apache Subversion", ("SVN",), source=URI + "5"),
    )
    assert got["esco:4"].action == "ambiguous" and got["esco:4"].candidates == ("cyber", "securite")
    assert got["esco:5"].action == "ambiguous" and got["esco:5"].candidates == ("git",)


def test_a_new_concept_is_added_and_a_known_id_is_updated():
    got = decide(S("esco:6", "", "Haskell", source=URI + "6"), S("python", "Python", "Python", ("py",)))
    assert got["esco:6"].action == "add"
    assert got["python"].action == "update"


def test_two_imported_skills_never_merge_into_the_same_one():
    got = decide(S("a", "DevOps", ""), S("b", "", "devops"))
    assert got["a"].action == "merge" and got["b"].action == "ambiguous" and got["b"].candidates == ("devops",)


def test_a_concept_already_in_place_twice_is_folded_into_the_first_and_found_again_by_its_uri():
    esco_git = S("esco:git", "", "Git (version control)", ("Git",), source=URI + "git")
    got = plan_reconciliation([*IN_PLACE, esco_git], [esco_git])[0]
    assert (got.action, got.target, got.replaces) == ("merge", "git", "esco:git")
    # once merged, the skill in place carries the URI: the next import finds it by URI
    git_after = S("git", "Git", "Git", ("Git (version control)",), source=URI + "git")
    again = plan_reconciliation([*IN_PLACE[:1], git_after], [esco_git])[0]
    assert (again.action, again.target, again.how) == ("merge", "git", "uri")


def test_merging_keeps_every_name_fills_what_is_empty_and_adds_relations():
    target = S("git", "Git", "", ("svn",), "Dév", ("ci",), None, "")
    incoming = S("esco:9", "", "Git (version control)", ("git", "GIT tool"), "skill", (), URI + "9", "Track changes")
    out = merged_fields(target, incoming, ["review", "git"])
    assert out["label_fr"] == "Git" and out["label_en"] == "Git (version control)"
    assert out["aliases"] == ["svn", "GIT tool"]
    assert out["related"] == ["ci", "review"]
    assert out["source"] == URI + "9" and out["description"] == "Track changes" and out["category"] == "Dév"
