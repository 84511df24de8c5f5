"""The shipped default taxonomy and the taxonomy file readers (project CSV/JSON, ESCO)."""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from matching import normalise
from matching.types import TaxonomySkill
from profiles.taxonomy_files import (
    DEFAULT_TAXONOMY_PATH,
    ESCO_SKILL_COLUMNS,
    ParseResult,
    RowError,
    TaxonomyFileError,
    check_taxonomy,
    detect_and_read,
    esco_id,
    load_default_taxonomy,
    read_esco,
    read_project_taxonomy,
    slugify,
    write_project_taxonomy,
)

pytestmark = pytest.mark.unit

CATEGORIES = {
    "Développement logiciel": 40,
    "Données et IA": 30,
    "Design et UX": 15,
    "Produit et agilité": 15,
    "Infrastructure, cloud et exploitation": 30,
    "Sécurité": 25,
    "Architecture": 15,
    "Gestion de projet et conduite du changement": 15,
    "Accessibilité": 8,
    "Achat public": 10,
}


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w#+]+", " ", text).split())


@pytest.fixture(scope="module")
def taxonomy() -> list[TaxonomySkill]:
    return load_default_taxonomy()


@pytest.fixture(scope="module")
def by_term(taxonomy: list[TaxonomySkill]) -> dict[str, str]:
    terms: dict[str, str] = {}
    for s in taxonomy:
        for t in (s.id, s.label_fr, s.label_en, *s.aliases):
            terms[fold(t)] = s.id
    return terms


# ----------------------------------------------------------------------------------------- default taxonomy


def test_default_taxonomy_is_large_and_well_formed(taxonomy: list[TaxonomySkill]) -> None:
    assert len(taxonomy) >= 300
    assert all(isinstance(s, TaxonomySkill) for s in taxonomy)
    ids = [s.id for s in taxonomy]
    assert len(set(ids)) == len(ids)
    for s in taxonomy:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", s.id), s.id
        assert s.label_fr.strip() and s.label_en.strip(), s.id
        assert s.description.strip(), s.id
        assert s.source is None or s.source.startswith("http://data.europa.eu/esco/"), s.id


def test_every_category_is_well_represented(taxonomy: list[TaxonomySkill]) -> None:
    counts = Counter(s.category for s in taxonomy)
    for category, minimum in CATEGORIES.items():
        assert counts[category] >= minimum, (category, counts[category])
    assert set(counts) <= set(CATEGORIES) | {"Pilotage et gouvernance du numérique"}


def test_related_ids_exist_and_are_few(taxonomy: list[TaxonomySkill]) -> None:
    ids = {s.id for s in taxonomy}
    for s in taxonomy:
        assert 1 <= len(s.related) <= 6, s.id
        assert s.id not in s.related
        assert set(s.related) <= ids, (s.id, set(s.related) - ids)


def test_aliases_and_labels_are_unambiguous(taxonomy: list[TaxonomySkill]) -> None:
    owners: dict[str, set[str]] = {}
    for s in taxonomy:
        for term in {fold(t) for t in (s.label_fr, s.label_en, *s.aliases)}:
            assert term, s.id
            owners.setdefault(term, set()).add(s.id)
    shared = {t: who for t, who in owners.items() if len(who) > 1}
    assert not shared
    assert check_taxonomy(taxonomy) == []


def test_common_abbreviations_are_aliases(taxonomy: list[TaxonomySkill]) -> None:
    aliases = {fold(a) for s in taxonomy for a in s.aliases}
    for typed in ["JS", "k8s", "dev front", "front-end", "RSSI", "ML", "IA", "BI", "PO", "UX", "a11y",
                  "CI/CD", "GCP", "MOA", "AMOA", "LLM", "DBA", "SSO", "TAL", "NLP", "SIG", "FALC", "DSFR"]:
        assert fold(typed) in aliases, typed


def test_terms_stay_unambiguous_under_the_matcher_folding(taxonomy: list[TaxonomySkill]) -> None:
    """The engine folds punctuation away ("CI/CD" → "ci cd"): no two skills may meet there either."""
    owners: dict[str, set[str]] = {}
    for s in taxonomy:
        for term in (s.label_fr, s.label_en, *s.aliases):
            folded = normalise.fold(term)
            assert folded, (s.id, term)
            owners.setdefault(folded, set()).add(s.id)
    assert {t: who for t, who in owners.items() if len(who) > 1} == {}


@pytest.mark.parametrize(
    ("typed", "skill_id"),
    [
        ("JS", "javascript"),
        ("k8s", "kubernetes"),
        ("dev front", "developpement-front-end"),
        ("front-end", "developpement-front-end"),
        ("RSSI", "rssi"),
        ("ML", "machine-learning"),
        ("IA", "intelligence-artificielle"),
        ("BI", "business-intelligence"),
        ("PO", "product-owner"),
        ("UX", "ux-design"),
        ("a11y", "accessibilite-numerique"),
        ("CI/CD", "ci-cd"),
        ("GCP", "gcp"),
        ("MOA", "moa"),
        ("AMOA", "amoa"),
        ("Postgres", "postgresql"),
        ("golang", "go"),
        ("C#", "csharp"),
        ("C++", "cpp"),
        ("RGAA", "rgaa"),
        ("WCAG", "wcag"),
        ("EBIOS RM", "ebios-rm"),
        ("SecNumCloud", "secnumcloud"),
        ("DSFR", "dsfr"),
        ("marchés publics", "marches-publics"),
        ("CCTP", "redaction-cctp"),
        ("UGAP", "ugap"),
        ("CCAG-TIC", "ccag-tic"),
        ("FranceConnect", "franceconnect"),
        ("AgentConnect", "proconnect"),
        ("API Particulier", "api-particulier"),
        ("Tchap", "tchap"),
        ("beta.gouv", "startup-d-etat"),
        ("TOGAF", "togaf"),
        ("RGPD", "rgpd"),
        ("Scrum", "scrum"),
        ("SAFe", "safe"),
        ("Terraform", "terraform"),
        ("pentest", "pentest"),
        ("ISO 27001", "iso-27001"),
    ],
)
def test_common_typed_terms_reach_the_right_skill(by_term: dict[str, str], typed: str, skill_id: str) -> None:
    assert by_term.get(fold(typed)) == skill_id


def test_french_labels_carry_accents(taxonomy: list[TaxonomySkill]) -> None:
    labels = {s.id: s.label_fr for s in taxonomy}
    assert labels["marches-publics"] == "Marchés publics"
    assert labels["accessibilite-numerique"] == "Accessibilité numérique"
    assert labels["startup-d-etat"].startswith("Startup d'État")
    assert labels["homologation-securite"] == "Homologation de sécurité"


def test_default_file_is_plain_project_json() -> None:
    data = json.loads(DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    keys = {"id", "label_fr", "label_en", "aliases", "category", "related", "source", "description"}
    assert all(set(item) == keys for item in data)


def test_load_default_returns_a_fresh_list(taxonomy: list[TaxonomySkill]) -> None:
    again = load_default_taxonomy()
    again.clear()
    assert len(load_default_taxonomy()) == len(taxonomy)


# --------------------------------------------------------------------------------------------- project format


def _sample() -> list[TaxonomySkill]:
    return [
        TaxonomySkill("python", "Python", "Python", ("py", "python3"), "Développement logiciel", ("django",),
                      None, "Programmer en Python."),
        TaxonomySkill("django", "Django", "Django", (), "Développement logiciel", ("python",), None,
                      "Développer avec Django, le « framework » web."),
        TaxonomySkill("esco:ddc3119d", "Gérer des équipes; encadrer", "Manage teams", ("manager, équipe",),
                      "skill/competence", (), "http://data.europa.eu/esco/skill/ddc3119d",
                      "Texte sur\ndeux lignes, avec \"guillemets\"."),
    ]


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_project_round_trip(tmp_path: Path, suffix: str) -> None:
    skills = _sample()
    # ";" inside a label is fine; it is only a separator in the aliases/related cells.
    path = tmp_path / f"taxonomy{suffix}"
    write_project_taxonomy(path, skills)
    result = read_project_taxonomy(path)
    assert isinstance(result, ParseResult)
    assert result.errors == []
    assert result.skills == skills
    assert detect_and_read(path).skills == skills


def test_project_csv_separators_and_derived_ids(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(
        "id;label_fr;label_en;aliases;category;related;source;description\n"
        "rgaa;RGAA;RGAA;a11y fr|référentiel;Accessibilité;wcag;;Appliquer le RGAA.\n"
        ";Marchés publics;Public procurement;\"achat public;commande publique\";Achat public;;;\n",
        encoding="utf-8",
    )
    skills, errors = read_project_taxonomy(path)
    assert errors == []
    assert [s.id for s in skills] == ["rgaa", "marches-publics"]
    assert skills[0].aliases == ("a11y fr", "référentiel")
    assert skills[0].related == ("wcag",)
    assert skills[1].aliases == ("achat public", "commande publique")
    assert skills[1].source is None


def test_project_csv_bad_rows_are_reported_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(
        "id,label_fr,label_en,aliases,category,related,source,description\n"
        "python,Python,Python,py,Dev,,,\"Sur\ndeux lignes\"\n"  # lines 2-3
        "Bad Id,Mauvais,,,,,,\n"  # line 4
        "java,,Java,,,,,\n"  # line 5: no label_fr
        "python,Python encore,,,,,,\n"  # line 6: duplicate
        "go,Go,Go,golang,Dev,,,\n",  # line 7
        encoding="utf-8",
    )
    skills, errors = read_project_taxonomy(path)
    assert [s.id for s in skills] == ["python", "go"]
    assert skills[0].description == "Sur\ndeux lignes"
    assert [e.line for e in errors] == [4, 5, 6]
    assert all(isinstance(e, RowError) for e in errors)
    assert "slug" in errors[0].reason
    assert "label_fr" in errors[1].reason
    assert "duplicate" in errors[2].reason and "line 2" in errors[2].reason
    with pytest.raises(TaxonomyFileError) as info:
        read_project_taxonomy(path, strict=True)
    assert [e.line for e in info.value.errors] == [4, 5, 6]


def test_project_json_bad_elements_keep_their_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(
        '[\n'
        '  {"id": "python", "label_fr": "Python", "aliases": ["py"]},\n'  # line 2
        '  {"id": "x", "label_fr": "X", "aliases": "a|b"},\n'  # line 3: string aliases are split
        '  {"id": "y",\n   "label_fr": ""},\n'  # line 4: empty label
        '  {"id": "z", "label_fr": "Z", "related": [1]},\n'  # line 6: not strings
        '  42\n'  # line 7
        ']\n',
        encoding="utf-8",
    )
    skills, errors = read_project_taxonomy(path)
    assert [s.id for s in skills] == ["python", "x"]
    assert skills[1].aliases == ("a", "b")
    assert [e.line for e in errors] == [4, 6, 7]


def test_project_json_lines_and_invalid_documents(tmp_path: Path) -> None:
    lines = tmp_path / "skills.jsonl"
    lines.write_text('{"id": "a", "label_fr": "A"}\nnot json\n\n{"id": "b", "label_fr": "B"}\n',
                     encoding="utf-8")
    skills, errors = detect_and_read(lines)
    assert [s.id for s in skills] == ["a", "b"]
    assert errors == [(2, errors[0].reason)] and "invalid JSON" in errors[0].reason

    broken = tmp_path / "broken.json"
    broken.write_text('[\n {"id": "a", "label_fr": "A"},\n {"id": \n', encoding="utf-8")
    with pytest.raises(TaxonomyFileError) as info:
        read_project_taxonomy(broken)
    assert info.value.errors and info.value.errors[0].line >= 3

    no_label = tmp_path / "other.csv"
    no_label.write_text("name,level\nPython,3\n", encoding="utf-8")
    with pytest.raises(TaxonomyFileError, match="label_fr"):
        detect_and_read(no_label)


def test_slugify_and_esco_id() -> None:
    assert slugify("Marchés publics") == "marches-publics"
    assert slugify("Startup d'État") == "startup-d-etat"
    assert slugify("C#") == "c-sharp"
    assert esco_id("http://data.europa.eu/esco/skill/CCD0A1D9-AFDA-43D9-B901-96344886E14D") == (
        "esco:ccd0a1d9-afda-43d9-b901-96344886e14d"
    )


# --------------------------------------------------------------------------------------------- ESCO

PY = "http://data.europa.eu/esco/skill/ccd0a1d9-afda-43d9-b901-96344886e14d"
TEAM = "http://data.europa.eu/esco/skill/0d3f7f8e-0a2b-4c59-9d2e-6f1b1c2d3e4f"
SQL = "http://data.europa.eu/esco/skill/598de5b0-5b58-4ea7-8058-a4bc4d18c742"
ONLY_EN = "http://data.europa.eu/esco/skill/11111111-2222-3333-4444-555555555555"


def _esco_row(uri: str, skill_type: str, label: str, alt: list[str], description: str,
              concept_type: str = "KnowledgeSkillCompetence", hidden: list[str] | None = None) -> list[str]:
    return [concept_type, uri, skill_type, "cross-sector", label, "\n".join(alt), "\n".join(hidden or []),
            "released", "2023-06-01T10:00:00Z", "", "", "http://data.europa.eu/esco/concept-scheme/skills",
            description]


def _write_esco(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(ESCO_SKILL_COLUMNS)
        writer.writerows(rows)


@pytest.fixture
def esco_files(tmp_path: Path) -> tuple[Path, Path]:
    fr = tmp_path / "skills_fr.csv"
    en = tmp_path / "skills_en.csv"
    _write_esco(fr, [
        _esco_row(PY, "knowledge", "Python (programmation informatique)", ["Python", "langage Python"],
                  "Techniques de développement logiciel en Python.", hidden=["pyhton"]),
        _esco_row(TEAM, "skill/competence", "travailler en équipe", ["collaborer", "coopérer"],
                  "Collaborer avec d'autres personnes."),
        _esco_row(SQL, "knowledge", "SQL", ["langage de requête structuré"], ""),
    ])
    _write_esco(en, [
        _esco_row(PY, "knowledge", "Python (computer programming)", ["Python", "Python 3"],
                  "Software development techniques in Python."),
        _esco_row(TEAM, "skill/competence", "work in teams", ["collaborate", "team work"],
                  "Work with others."),
        _esco_row(SQL, "knowledge", "SQL", ["structured query language"], "A query language."),
        _esco_row(ONLY_EN, "", "use Tchap", [], ""),
    ])
    return fr, en


def test_esco_fixture_really_has_multiline_quoted_fields(esco_files: tuple[Path, Path]) -> None:
    text = esco_files[0].read_text(encoding="utf-8")
    assert '"Python\nlangage Python"' in text
    assert len(text.splitlines()) > 4


def test_esco_merge_by_concept_uri(esco_files: tuple[Path, Path]) -> None:
    skills, errors = read_esco(list(esco_files))
    assert errors == []
    by_id = {s.id: s for s in skills}
    assert list(by_id) == [esco_id(PY), esco_id(TEAM), esco_id(SQL), esco_id(ONLY_EN)]
    py = by_id["esco:ccd0a1d9-afda-43d9-b901-96344886e14d"]
    assert py.label_fr == "Python (programmation informatique)"
    assert py.label_en == "Python (computer programming)"
    assert py.aliases == ("Python", "langage Python", "Python 3")
    assert py.source == PY
    assert py.category == "knowledge"
    assert py.description == "Techniques de développement logiciel en Python."
    team = by_id[esco_id(TEAM)]
    assert team.label_fr == "travailler en équipe" and team.label_en == "work in teams"
    assert set(team.aliases) == {"collaborer", "coopérer", "collaborate", "team work"}
    sql = by_id[esco_id(SQL)]
    assert sql.aliases == ("langage de requête structuré", "structured query language")
    assert sql.description == "A query language."  # French description empty: English one
    only_en = by_id[esco_id(ONLY_EN)]
    assert only_en.label_fr == only_en.label_en == "use Tchap"  # no French row: English label
    assert only_en.category == "ESCO"


def test_esco_single_language_and_hidden_labels(esco_files: tuple[Path, Path]) -> None:
    fr_only, errors = read_esco(esco_files[0], include_hidden=True)
    assert errors == []
    assert len(fr_only) == 3
    assert fr_only[0].label_fr == fr_only[0].label_en == "Python (programmation informatique)"
    assert "pyhton" in fr_only[0].aliases


def test_esco_language_from_argument(tmp_path: Path, esco_files: tuple[Path, Path]) -> None:
    plain = tmp_path / "export.csv"
    plain.write_bytes(esco_files[0].read_bytes())
    skills, _ = read_esco([plain, esco_files[1]], lang="fr")
    assert skills[0].label_fr == "Python (programmation informatique)"
    assert skills[0].label_en == "Python (computer programming)"


def test_esco_bad_rows_reported_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "skills_fr.csv"
    _write_esco(path, [
        _esco_row(PY, "knowledge", "Python", ["py", "python3"], "Python."),  # lines 2-3
        _esco_row("", "knowledge", "Sans URI", [], ""),  # line 4
        _esco_row(SQL, "knowledge", "", ["a", "b", "c"], ""),  # lines 5-7
        _esco_row(TEAM, "", "groupe", [], "", concept_type="SkillGroup"),  # line 8
        _esco_row(PY, "knowledge", "Python encore", [], ""),  # line 9: duplicate
        _esco_row(ONLY_EN, "skill/competence", "utiliser Tchap", ["Tchap"], "Messagerie."),  # line 10
    ])
    skills, errors = read_esco(path)
    assert [s.id for s in skills] == [esco_id(PY), esco_id(ONLY_EN)]
    assert [e.line for e in errors] == [4, 5, 8, 9]
    assert "conceptUri" in errors[0].reason
    assert "preferredLabel" in errors[1].reason
    assert "SkillGroup" in errors[2].reason
    assert "duplicate" in errors[3].reason
    with pytest.raises(TaxonomyFileError):
        read_esco(path, strict=True)
    # Through detection, in a batch of files, each reason names its file.
    other = tmp_path / "mine.json"
    write_project_taxonomy(other, _sample()[:1])
    skills, errors = detect_and_read([path, other])
    assert len(skills) == 3
    assert errors[0] == (4, "skills_fr.csv: conceptUri is empty")


def test_skills_essential_together_to_several_occupations_become_related(
    tmp_path: Path, esco_files: tuple[Path, Path]
) -> None:
    occ = "http://data.europa.eu/esco/occupation/"
    rel = tmp_path / "occupationSkillRelations_en.csv"
    rel.write_text(
        "occupationUri,relationType,skillType,skillUri\n"
        f"{occ}dev,essential,knowledge,{PY}\n{occ}dev,essential,knowledge,{SQL}\n{occ}dev,optional,skill,{TEAM}\n"
        f"{occ}data,essential,knowledge,{PY}\n{occ}data,essential,knowledge,{SQL}\n"
        f"{occ}data,essential,skill,{TEAM}\n{occ}pm,essential,skill,{ONLY_EN}\n{occ}pm,essential,skill,{TEAM}\n"
        f"{occ}bad,essential,skill,\n",
        encoding="utf-8",
    )
    skills, errors = detect_and_read([*esco_files, rel])
    assert [e.line for e in errors] == [10]
    by_id = {s.id: s for s in skills}
    assert by_id[esco_id(PY)].related == (esco_id(SQL),)  # essential together to two occupations
    assert by_id[esco_id(SQL)].related == (esco_id(PY),)
    assert by_id[esco_id(TEAM)].related == ()  # essential with PY once only, optional once: not enough
    assert esco_id(TEAM) not in by_id[esco_id(ONLY_EN)].related
    # each skill keeps the occupations listing it, essential or optional, for ranking
    assert by_id[esco_id(PY)].occupations == ("esco:dev", "esco:data")
    assert by_id[esco_id(TEAM)].occupations == ("esco:dev", "esco:data", "esco:pm")
    out = tmp_path / "round.json"
    write_project_taxonomy(out, skills)
    again = {s.id: s for s in read_project_taxonomy(out, strict=True).skills}
    assert again[esco_id(TEAM)].occupations == ("esco:dev", "esco:data", "esco:pm")


def test_esco_relation_files(tmp_path: Path, esco_files: tuple[Path, Path]) -> None:
    rel = tmp_path / "skillSkillRelations_en.csv"
    rel.write_text(
        "originalSkillUri,originalSkillType,relationType,relatedSkillUri,relatedSkillType\n"
        f"{PY},knowledge,optional,{SQL},knowledge\n"
        f"{PY},knowledge,optional,http://data.europa.eu/esco/skill/unknown,knowledge\n",
        encoding="utf-8",
    )
    broader = tmp_path / "broaderRelationsSkillPillar_en.csv"
    broader.write_text(
        "conceptType,conceptUri,conceptLabel,broaderType,broaderUri,broaderLabel\n"
        f"KnowledgeSkillCompetence,{ONLY_EN},use Tchap,KnowledgeSkillCompetence,{TEAM},work in teams\n",
        encoding="utf-8",
    )
    skills, errors = detect_and_read([*esco_files, rel, broader])
    assert errors == []
    by_id = {s.id: s for s in skills}
    assert by_id[esco_id(PY)].related == (esco_id(SQL),)
    assert by_id[esco_id(SQL)].related == (esco_id(PY),)
    assert by_id[esco_id(ONLY_EN)].related == (esco_id(TEAM),)
    # An unzipped ESCO directory works too.
    assert {s.id for s in detect_and_read(tmp_path).skills} == set(by_id)


def test_detect_picks_esco_by_header_whatever_the_name(tmp_path: Path, esco_files: tuple[Path, Path]) -> None:
    renamed = tmp_path / "upload_fr.csv"
    renamed.write_bytes(esco_files[0].read_bytes())
    skills, errors = detect_and_read([renamed])
    assert errors == [] and skills[0].source == PY
    project = tmp_path / "skills_fr.csv"  # the project's CSV under an ESCO-like name
    write_project_taxonomy(project, _sample())
    assert detect_and_read([project]).skills == _sample()


def test_a_whole_esco_sized_download_is_read(tmp_path: Path) -> None:
    n = 14_000
    fr, en = tmp_path / "skills_fr.csv", tmp_path / "skills_en.csv"
    uris = [f"http://data.europa.eu/esco/skill/{i:08x}-0000-4000-8000-000000000000" for i in range(n)]
    _write_esco(fr, [_esco_row(u, "skill/competence", f"compétence {i}", [f"alias {i}", f"autre {i}"],
                               "Une description assez longue pour ressembler à ESCO. " * 3)
                     for i, u in enumerate(uris)])
    _write_esco(en, [_esco_row(u, "skill/competence", f"skill {i}", [f"alt {i}"], "A description.")
                     for i, u in enumerate(uris)])
    skills, errors = detect_and_read([fr, en])
    assert len(skills) == n and not errors
    assert skills[-1].label_fr == f"compétence {n - 1}" and skills[-1].label_en == f"skill {n - 1}"
